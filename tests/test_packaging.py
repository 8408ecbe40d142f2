"""What can be checked of the packaged app without building it (the build itself:
tests/test_bundle.py, slow): the spec and its lists, the Linux desktop entry, the macOS
Info.plist, icon set and .icns, the DMG layout, `make install-desktop`, and how code finds its
files inside a bundle."""

from __future__ import annotations

import ast
import configparser
import os
import plistlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
sys.path.insert(0, str(PACKAGING))

import bundle_config as cfg  # noqa: E402
import file_types  # noqa: E402
import icons  # noqa: E402
import install_desktop  # noqa: E402
import macos  # noqa: E402

from common.bundle import CLI_EXECUTABLE, GUI_EXECUTABLE  # noqa: E402
from storage.documents.extract import EXTENSIONS  # noqa: E402


def test_the_spec_parses_and_builds_two_executables_into_one_folder():
    tree = ast.parse((PACKAGING / "hearth.spec").read_text(encoding="utf-8"))
    calls = [n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Name)]
    assert calls.count("Analysis") == 2 and calls.count("COLLECT") == 1
    assert {"EXE", "PYZ", "BUNDLE"} <= set(calls)
    for entry in ("hearth_gui.py", "hearth_cli.py"):
        ast.parse((PACKAGING / entry).read_text(encoding="utf-8"))
    # macOS folders ignore case: the two names must differ by more than that
    assert GUI_EXECUTABLE.lower() != CLI_EXECUTABLE.lower()


def test_the_bundle_carries_every_data_file_the_app_reads():
    carried = {(Path(src).name, dest) for src, dest in cfg.resources()}
    assert ("style.qss", "resources") in carried
    prompts = {p.name for p in (ROOT / "resources" / "prompts").glob("*.md")}
    assert prompts and {(p, "resources/prompts") for p in prompts} <= carried
    from resources import icon_files

    assert {(Path(p).name, "resources/icons") for p in icon_files().values()} <= carried
    assert all(Path(src).is_file() for src, _dest in cfg.resources())
    libraries = {Path(src).name for src, _dest in cfg.llama_libraries()}
    suffix = ".dylib" if sys.platform == "darwin" else ".so"
    assert f"libllama{suffix}" in libraries and f"libggml{suffix}" in libraries
    assert not any(name.startswith("libmtmd") for name in libraries)


def test_the_starter_model_goes_in(smollm2_path):
    [(src, dest)] = cfg.starter_model()
    assert Path(src) == smollm2_path and dest == "starter"


def test_what_is_never_imported_is_left_out():
    excluded = set(cfg.EXCLUDED_MODULES + cfg.QT_EXCLUDED)
    assert {"PySide6.QtWebEngineCore", "PySide6.QtWebEngineWidgets", "PySide6.QtQml",
            "PySide6.QtQuick", "tests", "pytest", "hypothesis", "openai"} <= excluded
    qt_imported = set()
    for path in (ROOT / "app").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "PySide6":
                qt_imported.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("PySide6."):
                qt_imported.add(node.module.split(".")[1])
    assert qt_imported <= set(cfg.QT_USED)  # the one shim imports only these
    assert not cfg.keep_binary("PySide6/Qt/lib/libQt6WebEngineCore.so.6")
    assert not cfg.keep_binary("PySide6/Qt/lib/libQt6Quick.so.6")
    assert not cfg.keep_binary("PySide6/Qt/plugins/platformthemes/libqgtk3.so")
    assert not cfg.keep_binary("libgtk-3.so.0") and not cfg.keep_binary("libcairo.so.2")
    assert cfg.keep_binary("PySide6/Qt/plugins/platforms/libqxcb.so")
    assert cfg.keep_binary("PySide6/Qt/plugins/platforms/libqwayland.so")
    assert cfg.keep_binary("PySide6/Qt/lib/libQt6Widgets.so.6")
    assert cfg.keep_binary("libglib-2.0.so.0")  # Qt's event loop
    assert not cfg.keep_data("PySide6/Qt/translations/qt_de.qm")


def test_the_desktop_entry_opens_every_kind_of_document_with_its_files():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(PACKAGING / "hearth.desktop", encoding="utf-8")
    main = entry["Desktop Entry"]
    assert main["Exec"] == f"{GUI_EXECUTABLE} %F" and main["Icon"] == "hearth"
    assert main["MimeType"].rstrip(";").split(";") == file_types.mime_types()
    assert set(file_types.DOCUMENT_TYPES) == set(EXTENSIONS.values())  # every kind offered
    assert entry["Desktop Action quick-ask"]["Exec"] == f"{GUI_EXECUTABLE} --quick-ask"
    validate = shutil.which("desktop-file-validate")
    if validate:
        result = subprocess.run([validate, str(PACKAGING / "hearth.desktop")],
                                capture_output=True, text=True)
        assert result.returncode == 0 and "error" not in result.stdout, result.stdout


def test_the_info_plist_is_valid_xml_with_the_keys_macos_needs():
    xml = plistlib.dumps(macos.info_plist())
    import xml.dom.minidom as minidom

    minidom.parseString(xml)  # well-formed XML
    plist = plistlib.loads(xml)
    assert plist["CFBundleExecutable"] == GUI_EXECUTABLE
    assert plist["CFBundleIdentifier"] == cfg.BUNDLE_ID
    assert plist["LSMinimumSystemVersion"] == macos.MINIMUM_MACOS
    assert plist["CFBundleIconFile"] == "hearth.icns" and plist["NSHighResolutionCapable"]
    assert plist["CFBundleShortVersionString"] == macos.version() != ""
    types = plist["CFBundleDocumentTypes"]
    assert len(types) == len(file_types.DOCUMENT_TYPES)
    utis = [u for t in types for u in t["LSItemContentTypes"]]
    assert {"com.adobe.pdf", "org.openxmlformats.wordprocessingml.document",
            "net.daringfireball.markdown", "public.plain-text", "public.html"} <= set(utis)
    assert all(t["CFBundleTypeRole"] == "Viewer" and t["LSHandlerRank"] == "Alternate"
               for t in types)


def test_the_notarization_entitlements_are_a_valid_plist():
    with (PACKAGING / "entitlements.plist").open("rb") as f:
        entitlements = plistlib.load(f)
    assert entitlements == {"com.apple.security.cs.allow-unsigned-executable-memory": True,
                            "com.apple.security.cs.disable-library-validation": True}


def test_the_macos_icon_set_is_complete_and_makes_a_high_resolution_icns(qapp, tmp_path):
    # qapp: drawing needs a Qt application, and it must be pytest-qt's QApplication; one the
    # renderer made itself (a QGuiApplication) would abort every later test that makes a widget.
    from PIL import Image

    iconset = icons.write_iconset(tmp_path)
    expected = {f"icon_{pt}x{pt}{suffix}.png" for pt in (16, 32, 128, 256, 512)
                for suffix in ("", "@2x")}
    assert {p.name for p in iconset.iterdir()} == expected  # what iconutil asks for
    for name, px in icons.ICONSET:
        with Image.open(iconset / name) as image:
            assert image.size == (px, px) and image.mode == "RGBA"
            assert image.getpixel((px // 2, px // 2))[3] > 0  # drawn, not blank
    icns = icons.write_icns(iconset, tmp_path / "hearth.icns")
    with Image.open(icns) as image:
        assert image.format == "ICNS"
        assert {s[0] * s[2] for s in image.info["sizes"]} >= {512, 1024}


def test_the_dmg_holds_the_app_and_a_link_to_applications():
    settings = {"defines": {"app": "dist/Hearth.app", "icon": "build/hearth.icns"}}
    exec(compile((PACKAGING / "dmg_settings.py").read_text(), "dmg_settings.py", "exec"), settings)
    assert settings["files"] == ["dist/Hearth.app"]
    assert settings["symlinks"] == {"Applications": "/Applications"}
    assert set(settings["icon_locations"]) == {"Hearth.app", "Applications"}


def test_install_desktop_puts_hearth_in_the_launcher(tmp_path, monkeypatch):
    bundle = tmp_path / "dist" / "hearth"
    (bundle / "_internal").mkdir(parents=True)
    gui = bundle / GUI_EXECUTABLE
    gui.write_text("#!/bin/sh\n")
    gui.chmod(0o755)
    share = tmp_path / "my data"  # a space: Exec must quote it
    monkeypatch.setenv("XDG_DATA_HOME", str(share))
    assert install_desktop.main([str(bundle)]) == 0
    installed = share / "hearth" / "app" / GUI_EXECUTABLE
    assert installed.is_file() and os.access(installed, os.X_OK)
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(share / "applications" / "hearth.desktop", encoding="utf-8")
    assert entry["Desktop Entry"]["Exec"] == f'"{installed}" %F'
    assert entry["Desktop Action quick-ask"]["Exec"] == f'"{installed}" --quick-ask'
    for px in (16, 48, 256, 512):
        assert (share / "icons" / "hicolor" / f"{px}x{px}" / "apps" / "hearth.png").is_file()
    assert install_desktop.main([str(bundle), "--uninstall"]) == 0
    assert not (share / "applications" / "hearth.desktop").exists()
    assert not (share / "hearth" / "app").exists()


FROZEN = """
import sys
sys.frozen = True
sys._MEIPASS = sys.argv[1]
sys.executable = sys.argv[2]
from common.bundle import gui_command, starter_folder
from inference.models.catalog import starter_model
print(starter_folder()); print(starter_model()); print(gui_command("--hidden"))
from pathlib import Path
from app.core.tools.registry import ToolRegistry
from app.core.tools.setup import add_optional_tools
registry = ToolRegistry(Path(sys.argv[1]))
add_optional_tools(registry)
python = next(c for c in registry.choices() if c.key == "python")
print(python.available, python.why_unavailable)
"""


def test_inside_a_bundle_the_starter_and_the_app_are_found_in_the_bundle(tmp_path):
    """What common/bundle.py answers when PyInstaller's loader has set sys.frozen and
    sys._MEIPASS (the real bundle is checked by tests/test_bundle.py)."""
    inside = tmp_path / "_internal"
    (inside / "starter").mkdir(parents=True)
    (inside / "starter" / "SmolLM2.gguf").write_bytes(b"GGUF")
    exe = tmp_path / CLI_EXECUTABLE
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("APPIMAGE", None)
    out = subprocess.run([sys.executable, "-c", FROZEN, str(inside), str(exe)], env=env,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[:3] == [str(inside / "starter"), str(inside / "starter" / "SmolLM2.gguf"),
                       str([str(tmp_path / GUI_EXECUTABLE), "--hidden"])]
    # the python tool's worker needs an interpreter the bundle does not have: it says so
    assert out[3].startswith("False the packaged app has no Python")
    env["APPIMAGE"] = "/home/me/Hearth-x86_64.AppImage"  # the mount goes away: the file stays
    out = subprocess.run([sys.executable, "-c", FROZEN, str(inside), str(exe)], env=env,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[2] == str(["/home/me/Hearth-x86_64.AppImage", "--hidden"])


@pytest.mark.parametrize("module", ["packaging/build.py", "packaging/install_desktop.py"])
def test_the_build_scripts_parse(module):
    ast.parse((ROOT / module).read_text(encoding="utf-8"))
