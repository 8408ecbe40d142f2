"""`make run` checks that Qt's X11 plugin can load before opening the window, and names the
missing libraries with the exact apt-get line (packaging/check_qt.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "packaging"))
import check_qt  # noqa: E402

# What ldd printed for PySide6 6.11's libqxcb.so on a fresh Debian 12 desktop.
FRESH_DEBIAN = """\
\tlinux-vdso.so.1 (0x00007ffd5a1f2000)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f0b1c600000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f0b1c5d0000)
\tlibxcb-icccm.so.4 => not found
"""


def test_missing_libraries_become_the_exact_apt_get_line():
    missing = check_qt.missing_from_ldd(FRESH_DEBIAN)
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    assert check_qt.install_line(missing + ["libxcb-cursor.so.0"]) == \
        "sudo apt-get install libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt's xcb plugin is Linux's")
def test_the_check_agrees_with_ldd_on_this_machine():
    plugin = check_qt.xcb_plugin()
    if plugin is None:
        pytest.skip("PySide6 without its xcb plugin")
    missing = check_qt.missing_libraries(plugin)
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    run = subprocess.run([sys.executable, str(REPO / "packaging" / "check_qt.py")], env=env,
                         capture_output=True, text=True, timeout=60)
    if missing:
        assert run.returncode == 1
        assert check_qt.install_line(missing) in run.stderr
    else:
        assert run.returncode == 0 and run.stderr == ""
    offscreen = subprocess.run([sys.executable, str(REPO / "packaging" / "check_qt.py")],
                               env={**env, "QT_QPA_PLATFORM": "offscreen"},
                               capture_output=True, text=True, timeout=60)
    assert offscreen.returncode == 0  # make test (offscreen) is never stopped by it
