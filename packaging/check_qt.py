"""Before `make run` opens the window: can Qt's X11 platform plugin load on this machine?

On a fresh Debian/Ubuntu desktop it cannot until a few xcb libraries are installed, and Qt
then only says "Could not load the Qt platform plugin "xcb"" and aborts. This names what is
missing and prints the exact `apt-get install` line. Exit status 1 when the window cannot
open; 0 otherwise (and on systems this check does not apply to: macOS, Windows, or a
QT_QPA_PLATFORM other than xcb).
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# Library file → the Debian/Ubuntu package that ships it.
PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0", "libxkbcommon.so.0": "libxkbcommon0",
    "libxcb-randr.so.0": "libxcb-randr0", "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-shm.so.0": "libxcb-shm0", "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xinput.so.0": "libxcb-xinput0", "libxcb-render.so.0": "libxcb-render0",
    "libxcb-util.so.1": "libxcb-util1", "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb.so.1": "libxcb1", "libX11-xcb.so.1": "libx11-xcb1", "libX11.so.6": "libx11-6",
    "libEGL.so.1": "libegl1", "libGL.so.1": "libgl1", "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1", "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3", "libglib-2.0.so.0": "libglib2.0-0",
    "libwayland-cursor.so.0": "libwayland-cursor0", "libwayland-client.so.0": "libwayland-client0",
}
# Qt opens this one itself at start-up (since 6.5), so ldd cannot see it missing.
OPENED_AT_RUN_TIME = ("libxcb-cursor.so.0",)
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


def missing_from_ldd(output: str) -> list[str]:
    """The libraries `ldd` could not find, in order, once each."""
    return list(dict.fromkeys(_NOT_FOUND.findall(output)))


def install_line(libraries: list[str]) -> str:
    packages = dict.fromkeys(PACKAGES.get(lib, lib) for lib in libraries)
    return "sudo apt-get install " + " ".join(packages)


def xcb_plugin() -> Path | None:
    import PySide6

    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def missing_libraries(plugin: Path) -> list[str]:
    output = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True,
                            timeout=30).stdout
    missing = missing_from_ldd(output)
    for library in OPENED_AT_RUN_TIME:
        try:
            ctypes.CDLL(library)
        except OSError:
            missing.append(library)
    return missing


def main() -> int:
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if not sys.platform.startswith("linux") or platform.split(":")[0] not in ("", "xcb"):
        return 0
    plugin = xcb_plugin()
    if plugin is None or shutil.which("ldd") is None:
        return 0  # not PySide6's wheel layout, or no ldd: let Qt speak for itself
    missing = missing_libraries(plugin)
    if not missing:
        return 0
    print("Hearth's window needs libraries this system lacks (Qt's X11 platform plugin cannot "
          f"load without them): {', '.join(missing)}.\n"
          f"On Debian or Ubuntu, install them with:\n\n    {install_line(missing)}\n\n"
          "then run `make run` again.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
