"""`make install-desktop`: Hearth in the Linux launcher, for this user only.

    .venv/bin/python packaging/install_desktop.py dist/hearth [--uninstall]

Copies the one-folder bundle to ~/.local/share/hearth/app (so `make clean` or a moved
checkout leaves the launcher working), the .desktop entry to ~/.local/share/applications with
Exec pointing there, and the icons to ~/.local/share/icons/hicolor; then asks the desktop to
read them again (update-desktop-database, gtk-update-icon-cache) where those tools exist.
$XDG_DATA_HOME moves ~/.local/share, as the desktops themselves do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ICONS = HERE.parent / "resources" / "icons"
sys.path.insert(0, str(HERE.parent))
from app.core.autostart import exec_line  # noqa: E402
from common.bundle import GUI_EXECUTABLE  # noqa: E402


def data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def desktop_entry(gui: Path) -> str:
    """packaging/hearth.desktop with each Exec= naming the installed executable."""
    lines = []
    for line in (HERE / "hearth.desktop").read_text(encoding="utf-8").splitlines():
        for key in ("Exec=", "TryExec="):
            if line.startswith(key + GUI_EXECUTABLE):
                rest = line[len(key) + len(GUI_EXECUTABLE):]  # " %F", " --quick-ask", ""
                line = key + exec_line([str(gui)]) + rest
        lines.append(line)
    return "\n".join(lines) + "\n"


def install(bundle: Path) -> Path:
    share = data_home()
    target = share / "hearth" / "app"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(bundle, target, symlinks=True)
    entry = share / "applications" / "hearth.desktop"
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.write_text(desktop_entry(target / GUI_EXECUTABLE), encoding="utf-8")
    for png in sorted(ICONS.glob("hearth-*.png")):
        px = png.stem.split("-")[1]
        folder = share / "icons" / "hicolor" / f"{px}x{px}" / "apps"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(png, folder / "hearth.png")
    refresh(share)
    return entry


def uninstall() -> None:
    share = data_home()
    shutil.rmtree(share / "hearth" / "app", ignore_errors=True)
    (share / "applications" / "hearth.desktop").unlink(missing_ok=True)
    for png in (share / "icons" / "hicolor").glob("*/apps/hearth.png"):
        png.unlink()
    refresh(share)


def refresh(share: Path) -> None:
    for cmd in (["update-desktop-database", str(share / "applications")],
                ["gtk-update-icon-cache", "-q", "-t", str(share / "icons" / "hicolor")]):
        if shutil.which(cmd[0]):
            subprocess.run(cmd, check=False, capture_output=True)


def main(argv: list[str]) -> int:
    if "--uninstall" in argv:
        uninstall()
        print("Hearth removed from the launcher")
        return 0
    bundle = Path(argv[0] if argv else "dist/hearth")
    if not (bundle / GUI_EXECUTABLE).is_file():
        print(f"no bundle at {bundle}: run `make package` first", file=sys.stderr)
        return 1
    entry = install(bundle)
    print(f"Hearth is in the launcher: {entry}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
