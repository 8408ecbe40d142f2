"""Open at login: an XDG autostart entry on Linux, a LaunchAgent on macOS.

The file's presence is the setting (a person who deletes it has turned it off), so nothing is
kept in the database. Hearth starts from it with `--hidden`: into the tray, model loading,
where the desktop has a tray; otherwise as a normal window.
"""

from __future__ import annotations

import os
import plistlib
import sys
from pathlib import Path

from common.bundle import gui_command

ENTRY_NAME = "hearth.desktop"  # the same name as the launcher's entry (packaging/)
AGENT_LABEL = "org.hearth.Hearth"
HIDDEN = "--hidden"


def supported(platform: str = sys.platform) -> bool:
    return platform == "darwin" or platform.startswith(("linux", "freebsd"))


def entry_path(platform: str = sys.platform) -> Path:
    if platform == "darwin":
        return Path.home() / "Library" / "LaunchAgents" / f"{AGENT_LABEL}.plist"
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "autostart" / ENTRY_NAME


def is_enabled(platform: str = sys.platform) -> bool:
    return supported(platform) and entry_path(platform).is_file()


def set_enabled(on: bool, platform: str = sys.platform) -> Path | None:
    """Write or remove the entry; returns the file written. OSError if that fails."""
    if not supported(platform):
        return None
    path = entry_path(platform)
    if not on:
        path.unlink(missing_ok=True)
        return None
    command = gui_command(HIDDEN)
    path.parent.mkdir(parents=True, exist_ok=True)
    if platform == "darwin":
        content = plistlib.dumps(launch_agent(command))
    else:
        content = desktop_entry(command).encode("utf-8")
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(content)
    os.replace(temporary, path)
    return path


def launch_agent(command: list[str]) -> dict:
    """launchd starts it once at login in the person's graphical session, and never again
    (no KeepAlive: quitting Hearth is respected)."""
    return {"Label": AGENT_LABEL, "ProgramArguments": command, "RunAtLoad": True,
            "ProcessType": "Interactive", "LimitLoadToSessionType": "Aqua"}


def desktop_entry(command: list[str]) -> str:
    return "\n".join([
        "[Desktop Entry]", "Type=Application", "Name=Hearth",
        "Comment=Start Hearth in the tray at login, the model loading",
        f"Exec={exec_line(command)}", "Icon=hearth", "Terminal=false",
        "X-GNOME-Autostart-enabled=true", ""])


def exec_line(command: list[str]) -> str:
    """An Exec= value as the Desktop Entry spec quotes it: arguments with a reserved
    character go in double quotes with `"`, `` ` ``, `$` and `\\` escaped; `%` is doubled
    (field codes); then the key file's own escaping doubles each backslash."""
    reserved = set(" \t\n\"'\\><~|&;$*?#()`=%")
    out = []
    for arg in command:
        arg = arg.replace("%", "%%")
        if arg and not reserved & set(arg):
            out.append(arg)
        else:
            escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
            out.append(f'"{escaped}"')
    return " ".join(out).replace("\\", "\\\\")
