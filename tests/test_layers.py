"""The layers' import rules, checked in a fresh interpreter: common/ is a leaf, inference/ and
storage/ never import each other or Qt, and only app/gui imports Qt (through app/gui/qt.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_by(package: str) -> set[str]:
    """Top-level packages in sys.modules after importing every module of `package`."""
    code = (
        "import importlib, pkgutil, sys\n"
        f"pkg = importlib.import_module({package!r})\n"
        "for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "    if not m.name.endswith('__main__'):  # runs the program when imported\n"
        "        importlib.import_module(m.name)\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("package, forbidden", [
    ("common", {"app", "inference", "storage", "PySide6", "shiboken6", "llama_cpp"}),
    ("storage", {"app", "inference", "PySide6", "shiboken6", "llama_cpp"}),
    ("inference", {"app", "storage", "PySide6", "shiboken6"}),
    # The window and `hearth` share app.core; neither the core nor the CLI may need Qt.
    ("app.core", {"PySide6", "shiboken6"}),
    ("app.cli", {"PySide6", "shiboken6"}),
])
def test_layer_imports_nothing_above_it(package, forbidden):
    assert imported_by(package) & forbidden == set()


def test_only_the_qt_shim_imports_qt_by_name():
    """app/gui/qt.py is the one place Qt is imported from: a binding change touches one file."""
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "app").rglob("*.py")
                 if p.name != "qt.py" and any(
                     line.lstrip().startswith(("import PySide6", "from PySide6", "import shiboken6",
                                               "from shiboken6"))
                     for line in p.read_text(encoding="utf-8").splitlines())]
    assert offenders == []
