"""The layers' import rules, checked in a fresh interpreter: common/ is a leaf, inference/ and
storage/ never import each other or Qt."""

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
        "    importlib.import_module(m.name)\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize("package, forbidden", [
    ("common", {"app", "inference", "storage", "PySide6", "shiboken6", "llama_cpp"}),
    ("storage", {"app", "inference", "PySide6", "shiboken6", "llama_cpp"}),
    ("inference", {"app", "storage", "PySide6", "shiboken6"}),
])
def test_layer_imports_nothing_above_it(package, forbidden):
    assert imported_by(package) & forbidden == set()
