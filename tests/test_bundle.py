"""The packaged app, built and run for real (slow: the build takes a few minutes).

Builds the Linux one-folder bundle with `packaging/build.py` (HEARTH_TEST_BUNDLE=dist/hearth
reuses one already built), copies it out of the source tree to a folder with a space in its
name, and runs it from there with a fresh HOME and data folder, no PYTHONPATH and a bare
PATH: the command line lists and answers with the starter model inside the bundle, and
serves it as an OpenAI-compatible API that the bundle's own remote engine asks; the window
comes up offscreen with a file given as an argument, which arrives as an attachment of the
question sent with it, and the chat on the starter completes; installed in the launcher
(`make install-desktop`), its entry's Exec line starts it with a file chosen there. Every
file these processes open is traced (strace): none may be in the source tree or the venv.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import sysconfig
import threading
import urllib.request
from pathlib import Path

import pytest
from fixtures.desktop import answers, attached, query, stop, wait_answering, wait_for

from common.bundle import CLI_EXECUTABLE, GUI_EXECUTABLE, LIBRARY_WORKER_FLAG
from storage.db import DATABASE_FILENAME

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not sys.platform.startswith("linux"),
                                                   reason="builds the Linux bundle")]
ROOT = Path(__file__).resolve().parents[1]
QUESTION = "What is 2+2?"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    prebuilt = os.environ.get("HEARTH_TEST_BUNDLE")
    if prebuilt:
        built = Path(prebuilt).resolve()
    else:
        try:
            import PyInstaller  # noqa: F401
        except ImportError:
            pytest.fail("PyInstaller is missing: pip install -e '.[package]' (make installs it)")
        subprocess.run([sys.executable, str(ROOT / "packaging" / "build.py"), "--no-appimage"],
                       check=True, cwd=ROOT, timeout=1800)
        built = ROOT / "dist" / "hearth"
    copy = tmp_path_factory.mktemp("installed") / "Hearth app"
    shutil.copytree(built, copy, symlinks=True)
    return copy


@pytest.fixture
def fresh(tmp_path) -> dict:
    """A first start: empty HOME and data folder, nothing of Python's in the environment."""
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    data.mkdir()
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "HEARTH_DATA_DIR": str(data),
            "QT_QPA_PLATFORM": "offscreen", "LANG": "C.UTF-8",
            "TMPDIR": os.environ.get("TMPDIR", "/tmp")}


def traced(trace: Path, *cmd) -> list[str]:
    strace = shutil.which("strace")
    if strace is None:
        pytest.fail("strace is missing (apt-get install strace): it checks what the bundle opens")
    return [strace, "-f", "-qq", "-e", "trace=open,openat,openat2,execve", "-o", str(trace),
            *map(str, cmd)]


def forbidden_opens(trace: Path) -> list[str]:
    """Paths in the trace inside the checkout, the venv or the interpreter's own library."""
    places = {str(ROOT), sys.prefix, os.path.realpath(sys.prefix),
              sysconfig.get_paths()["stdlib"], os.path.realpath(sysconfig.get_paths()["stdlib"])}
    paths = re.findall(r'(?:open|openat|openat2|execve)\((?:AT_FDCWD, |\d+, )?"([^"]+)"',
                       trace.read_text(errors="replace"))
    return sorted({p for p in paths for place in places
                   if p == place or p.startswith(place.rstrip("/") + "/")})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serves(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/models", timeout=5) as reply:
            return reply.status == 200
    except OSError:
        return False


def test_the_bundle_runs_on_its_own(bundle, fresh, tmp_path, monkeypatch):
    gui, cli = bundle / GUI_EXECUTABLE, bundle / CLI_EXECUTABLE
    starter = next((bundle / "_internal" / "starter").glob("*.gguf"))
    data = Path(fresh["HEARTH_DATA_DIR"])

    # hearth models list: the starter, from inside the bundle
    listed = subprocess.run(traced(tmp_path / "list.trace", cli, "models", "list"), env=fresh,
                            cwd=bundle, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert str(starter) in listed.stdout and "starter" in listed.stdout

    # hearth chat --model THAT_PATH "What is 2+2?" answers
    chat = subprocess.run(traced(tmp_path / "chat.trace", cli, "chat", "--model", starter,
                                 QUESTION), env=fresh, cwd=bundle, capture_output=True,
                          text=True, timeout=300)
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.strip()

    # hearth serve: the API server (uvicorn finds its parts at run time), asked by the
    # bundle's own remote engine
    port = free_port()
    server = subprocess.Popen(traced(tmp_path / "serve.trace", cli, "serve", "--model", starter,
                                     "--port", port), env=fresh, cwd=bundle,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        wait_for(lambda: serves(url), 120, server)
        client = {**fresh, "HEARTH_DATA_DIR": str(tmp_path / "client-data")}
        asked = subprocess.run([cli, "chat", "--endpoint", url, "--model", starter.stem, QUESTION],
                               env=client, cwd=bundle, capture_output=True, text=True,
                               timeout=300)
        assert asked.returncode == 0, asked.stderr
        assert asked.stdout.strip()
    finally:
        stop(server)

    # The library's indexer: the process the window starts (common.bundle's command, as the
    # bundled window builds it), then `hearth search` finds what it indexed.
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "keeper.md").write_text("The lighthouse keeper's cat is called Marmalade.\n")
    subprocess.run([cli, "library", "add", docs, "--no-index"], env=fresh, check=True,
                   timeout=120, capture_output=True)
    worker = subprocess.Popen([cli, LIBRARY_WORKER_FLAG, data / DATABASE_FILENAME], env=fresh,
                              cwd=bundle, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    guard = threading.Timer(180, worker.kill)  # a worker that never settles ends the wait
    guard.start()
    try:
        states = []
        for line in worker.stdout:
            states.append(json.loads(line))
            if states[-1]["state"] == "idle":
                break
        assert states and states[-1]["state"] == "idle" and states[-1]["done"] == 1, states
    finally:
        worker.stdin.close()  # end of input: the worker stops
        worker.wait(60)
        guard.cancel()
    found = subprocess.run([cli, "search", "Marmalade", "--json"], env=fresh, cwd=bundle,
                           capture_output=True, text=True, timeout=120)
    assert found.returncode == 0 and "keeper.md" in found.stdout, found.stderr

    # The window: the starter as the default model, as choosing it on the welcome page does
    subprocess.run([cli, "models", "default", starter], env=fresh, check=True, timeout=120,
                   capture_output=True)
    notes = tmp_path / "notes.txt"
    notes.write_text("Two plus two is four, said the teacher.\n")
    window = subprocess.Popen(traced(tmp_path / "gui.trace", gui, "--ask", QUESTION, notes),
                              env=fresh, cwd=bundle, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        up = wait_answering(data, window, timeout=120)
        print(f"window up and answering {up:.2f} s after launch (under strace)")
        done = wait_for(lambda: [a for a in answers(data) if a[2] != "streaming"], 300, window)
        assert done == [(QUESTION, done[0][1], "complete")] and done[0][1].strip()
        assert attached(data) == [("notes.txt", QUESTION)]  # the argument, attached
        assert window.poll() is None
    finally:
        stop(window)

    # From the launcher: `make install-desktop` into a fresh ~/.local/share, then the entry's
    # Exec line run as a launcher runs it (%F: the files chosen), with no data folder set:
    # the window comes up, the file is attached, and the data goes to the user data folder.
    sys.path.insert(0, str(ROOT / "packaging"))
    import build
    import install_desktop

    home = tmp_path / "launcher home"
    share = home / ".local" / "share"
    monkeypatch.setenv("XDG_DATA_HOME", str(share))
    entry = install_desktop.install(bundle)
    if shutil.which("desktop-file-validate"):  # desktop-file-utils, where installed
        valid = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True,
                               text=True, timeout=60)
        assert valid.returncode == 0, valid.stdout + valid.stderr
    desktop = configparser.ConfigParser(interpolation=None)
    desktop.optionxform = str
    desktop.read(entry, encoding="utf-8")
    exec_line = shlex.split(desktop["Desktop Entry"]["Exec"])
    assert exec_line[0] == str(share / "hearth" / "app" / GUI_EXECUTABLE)
    chosen = tmp_path / "from the file manager.md"
    chosen.write_text("# Picked\n\nOpened with Hearth.\n")
    argv = [str(chosen) if arg == "%F" else arg for arg in exec_line]
    launcher = {key: value for key, value in fresh.items() if key != "HEARTH_DATA_DIR"}
    launcher.update(HOME=str(home), XDG_DATA_HOME=str(share))
    user_data = share / "Hearth"  # platformdirs' user data folder, as default_data_dir finds it
    window = subprocess.Popen(traced(tmp_path / "launcher.trace", *argv), env=launcher,
                              cwd=home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        up = wait_answering(user_data, window, timeout=120)
        print(f"launcher entry → window answering in {up:.2f} s")
        wait_for(lambda: query(user_data, "SELECT name FROM documents"), 60, window)
        assert query(user_data, "SELECT name FROM documents") == [(chosen.name,)]
    finally:
        stop(window)

    # The AppImage's contents: its AppRun starts the bundle's command line (appimagetool
    # itself is not run here: it downloads the AppImage runtime as it works).

    appdir = build.appdir(bundle, tmp_path / "Hearth.AppDir")
    listed = subprocess.run([str(appdir / "AppRun"), "--cli", "models", "list"], env=fresh,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert str(appdir / "usr" / "lib" / "hearth" / "_internal" / "starter") in listed.stdout

    for trace in ("list.trace", "chat.trace", "serve.trace", "gui.trace", "launcher.trace"):
        assert forbidden_opens(tmp_path / trace) == [], trace
    # and the bundle's own files were what it used
    assert str(bundle) in (tmp_path / "gui.trace").read_text(errors="replace")
