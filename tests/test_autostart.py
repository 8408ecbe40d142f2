"""Open at login: the XDG autostart entry (Linux) and the LaunchAgent (macOS) are written where
the desktop looks, start Hearth in the tray, and go away when turned off; Settings drives it."""

from __future__ import annotations

import configparser
import os
import plistlib
import subprocess
from pathlib import Path

from fixtures.desktop import stop, wait_answering

from app.core import autostart, preferences
from app.gui.settings_dialog import SettingsDialog
from common.bundle import gui_command
from storage import default_data_dir

ROOT = Path(__file__).resolve().parents[1]


def exec_argv(value: str) -> list[str]:
    """An Exec= value back to arguments, as the Desktop Entry spec reads it: the key file's
    backslash escapes first, then shell-like double quotes, then %% → %."""
    text = value.replace("\\\\", "\\")
    args, current, quoted, i, started = [], "", False, 0, False
    while i < len(text):
        c = text[i]
        if quoted and c == "\\" and i + 1 < len(text) and text[i + 1] in '"`$\\':
            current, i = current + text[i + 1], i + 2
            continue
        if c == '"':
            quoted, started = not quoted, True
        elif c == " " and not quoted:
            if started:
                args.append(current)
            current, started = "", False
        else:
            current, started = current + c, True
        i += 1
    if started:
        args.append(current)
    return [arg.replace("%%", "%") for arg in args]


def read_entry(path: Path) -> configparser.SectionProxy:
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(path, encoding="utf-8")
    return entry["Desktop Entry"]


def test_linux_entry_goes_to_xdg_autostart_and_starts_hearth_in_the_tray(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert not autostart.is_enabled("linux")
    path = autostart.set_enabled(True, "linux")
    assert path == tmp_path / "config" / "autostart" / "hearth.desktop"
    assert autostart.is_enabled("linux")
    entry = read_entry(path)
    assert entry["Type"] == "Application" and entry["Icon"] == "hearth"
    argv = exec_argv(entry["Exec"])
    assert argv == gui_command("--hidden")
    # The desktop runs it at login: a real Hearth starts (no tray offscreen: its window).
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    started = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        wait_answering(default_data_dir(), started)
    finally:
        stop(started)
    autostart.set_enabled(False, "linux")
    assert not path.exists() and not autostart.is_enabled("linux")
    autostart.set_enabled(False, "linux")  # turning off twice is fine


def test_exec_quoting_survives_awkward_install_paths():
    for command in (["/opt/My Apps/hearth-gui", "--hidden"], ['/home/o"brien/$HOME/a\\b', "x%y"],
                    ["/plain/hearth-gui"]):
        assert exec_argv(autostart.exec_line(command)) == command


def test_macos_launch_agent_runs_hearth_once_at_login():
    path = autostart.set_enabled(True, "darwin")
    assert path == Path.home() / "Library" / "LaunchAgents" / "org.hearth.Hearth.plist"
    with path.open("rb") as f:
        agent = plistlib.load(f)
    assert agent["Label"] == "org.hearth.Hearth" and agent["RunAtLoad"] is True
    assert agent["ProgramArguments"] == gui_command("--hidden")
    assert "KeepAlive" not in agent  # quitting Hearth is respected
    assert autostart.is_enabled("darwin")
    autostart.set_enabled(False, "darwin")
    assert not path.exists()


def test_settings_turns_open_at_login_on_and_off_and_keeps_the_tray_choice(
        qtbot, store, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    dialog = SettingsDialog(store)
    qtbot.addWidget(dialog)
    assert dialog.desktop.close_to_tray.isChecked()  # the default: stay in the tray
    assert not dialog.desktop.open_at_login.isChecked()
    dialog.desktop.open_at_login.setChecked(True)
    dialog.desktop.close_to_tray.setChecked(False)
    dialog.accept()
    assert autostart.is_enabled() and not preferences.load(store).close_to_tray
    dialog = SettingsDialog(store)
    qtbot.addWidget(dialog)
    assert dialog.desktop.open_at_login.isChecked() and not dialog.desktop.close_to_tray.isChecked()
    dialog.desktop.open_at_login.setChecked(False)
    dialog.accept()
    assert not autostart.is_enabled()


def test_a_login_entry_that_cannot_be_written_is_said_not_raised(qtbot, store, tmp_path, monkeypatch):
    blocked = tmp_path / "config"
    blocked.write_text("a file where the folder should be")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(blocked))
    dialog = SettingsDialog(store)
    qtbot.addWidget(dialog)
    dialog.desktop.open_at_login.setChecked(True)
    dialog.accept()
    assert "Could not change Open at login" in dialog.error.text()
    assert not autostart.is_enabled()
