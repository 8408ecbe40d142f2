"""The python tool on real processes and real limits: state kept like a notebook, an endless
loop stopped, a 10 GB allocation refused, no network, no writes outside the scratch folder, a
scrubbed environment, Stop, and chats kept apart.

Each limit is checked in every sandbox mode this machine has ("bubblewrap" where `bwrap` is
installed, "kernel": namespaces and Landlock, "none"). Where a mode cannot isolate something
here, the test checks that `isolation()` says so, and is skipped with that sentence.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from app.core.tools import python_process, python_sandbox, python_tool
from app.core.tools.base import ToolContext, ToolError
from app.core.tools.python_tool import NO_OUTPUT, PythonTool
from inference.harmony_tools import PYTHON

LINUX = platform.system() == "Linux"
MODES = ["bubblewrap", "kernel", "none"] if LINUX else ["auto", "none"]


def _landlock_abi() -> int:
    """The kernel's Landlock version, asked the way the worker asks (0: none)."""
    if not LINUX:
        return 0
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return max(libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1)), 0)


def _user_namespaces_allowed() -> bool:
    unshare = shutil.which("unshare")
    return bool(unshare) and subprocess.run([unshare, "-Urn", "true"],
                                            capture_output=True).returncode == 0


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "data"


def context(data_dir: Path, chat: int | None = 1, **kw) -> ToolContext:
    return ToolContext(conversation_id=chat, data_dir=data_dir, timeout_s=kw.pop("timeout_s", 60),
                       **kw)


@pytest.fixture(params=MODES)
def make_tool(request):
    """Builds tools in one sandbox mode; closes them after the test."""
    made: list[PythonTool] = []

    def make(**kw) -> PythonTool:
        tool = PythonTool(sandbox=request.param, **kw)
        made.append(tool)
        if request.param == "bubblewrap":
            if not shutil.which("bwrap"):
                pytest.skip("bubblewrap is not installed (apt-get install bubblewrap)")
            details = tool.isolation_details()
            if details.mode == "unavailable":
                pytest.skip(f"bubblewrap is installed but cannot run here: {details.text}")
        return tool

    yield make
    for tool in made:
        tool.close()


@pytest.fixture
def tool(data_dir):
    """A tool in the strongest mode this machine offers, as the app gets it."""
    made = PythonTool()
    yield made
    made.close()


def test_spec_is_gpt_oss_own_python_tool():
    spec = PythonTool.spec
    assert (spec.name, spec.namespace, spec.recipient) == ("python", "python", "python")
    assert spec.parameters is None and spec.approval == "ask" and spec.title == "Python"
    assert spec.description == PYTHON.description  # the declaration the model was trained on


def test_state_is_kept_between_calls(make_tool, data_dir):
    tool = make_tool()
    assert tool.run("x = 41", context(data_dir)).text == NO_OUTPUT
    assert tool.run("x + 1", context(data_dir)).text == "42\n"


def test_output_is_captured_like_a_notebook_cell(tool, data_dir):
    code = ("import os, sys\n"
            "print('to stdout')\n"
            "print('to stderr', file=sys.stderr)\n"
            "os.system('echo from a child process')\n"
            "{'last': 'value'}")
    text = tool.run(code, context(data_dir)).text
    assert text == ("to stdout\nto stderr\nfrom a child process\n{'last': 'value'}\n")


def test_an_error_shows_the_cells_traceback_and_the_state_survives(tool, data_dir):
    tool.run("x = 3\ndef f():\n    return 1 / 0", context(data_dir))
    text = tool.run("f()", context(data_dir)).text
    assert "ZeroDivisionError: division by zero" in text
    assert '<cell 1>", line 3, in f' in text and "return 1 / 0" in text
    assert "<string>" not in text  # the worker's own frames are left out, as Jupyter does
    assert "SyntaxError" in tool.run("def (", context(data_dir)).text
    assert "SystemExit: 4" in tool.run("import sys; sys.exit(4)", context(data_dir)).text
    assert tool.run("x", context(data_dir)).text == "3\n"


def test_top_level_await_works_as_in_jupyter(tool, data_dir):
    text = tool.run("import asyncio\nawait asyncio.sleep(0)\n'awaited'", context(data_dir)).text
    assert text == "'awaited'\n"


def test_an_endless_loop_is_stopped_at_the_time_limit_and_the_next_call_starts_fresh(
        make_tool, data_dir):
    tool = make_tool(time_limit_s=2)
    tool.run("x = 1", context(data_dir))
    started = time.monotonic()
    with pytest.raises(ToolError, match=r"^The code ran for 2 s and was stopped; its state is "
                                        r"lost\.") as stopped:
        tool.run("print('looping')\nwhile True:\n    pass", context(data_dir))
    assert time.monotonic() - started < 30  # a guard against a hang, not a timing
    assert "Output before it stopped:\nlooping" in str(stopped.value)
    text = tool.run("print('fresh')\nx", context(data_dir)).text
    assert text.startswith("[Fresh python session: the previous one ended (the code ran for "
                           "2 s and was stopped)")
    assert "fresh\n" in text and "NameError: name 'x' is not defined" in text
    assert tool.run("1 + 1", context(data_dir)).text == "2\n"  # said once, not every call


def test_the_calls_own_time_limit_is_honoured(tool, data_dir):
    with pytest.raises(ToolError, match="ran for 1 s"):
        tool.run("import time\ntime.sleep(60)", context(data_dir, timeout_s=1))


def test_a_10_gb_allocation_fails_with_memory_error_and_the_state_survives(make_tool, data_dir):
    tool = make_tool()
    tool.run("x = 5", context(data_dir))
    text = tool.run("big = bytearray(10 * 2**30)", context(data_dir)).text
    assert "MemoryError" in text
    assert tool.run("x", context(data_dir)).text == "5\n"


def test_memory_of_child_processes_counts_too(tool, data_dir):
    """The address-space limit is per process; Hearth adds up the worker's whole family and
    stops it over the limit (on macOS, where that limit does not hold, this is the only one)."""
    tool = PythonTool(memory_bytes=400 << 20, time_limit_s=60)
    try:
        code = ("import subprocess, sys, time\n"
                "hog = 'b = b\"x\" * 250_000_000\\nimport time\\ntime.sleep(120)'\n"
                "kids = [subprocess.Popen([sys.executable, '-c', hog]) for _ in range(2)]\n"
                "time.sleep(120)")
        with pytest.raises(ToolError, match=r"used more than 400 MB of memory and was stopped"):
            tool.run(code, context(data_dir))
    finally:
        tool.close()


class _Listener:
    """A real TCP server on localhost that records whether anybody connected."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connected.set()
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def test_the_code_cannot_reach_a_local_server(make_tool, data_dir):
    tool = make_tool()
    listener = _Listener()
    try:
        code = ("import socket\n"
                "try:\n"
                f"    socket.create_connection(('127.0.0.1', {listener.port}), timeout=5)\n"
                "    print('connected')\n"
                "except OSError as exc:\n"
                "    print('blocked:', exc)")
        text = tool.run(code, context(data_dir)).text
        details = tool.isolation_details()
        if details.mode == "kernel" and _user_namespaces_allowed():
            assert details.network == "off"  # this kernel allows it: not a reason to skip
        if details.network == "on":
            # What the person is told must hold: here the code does reach the server.
            assert "reach the network" in details.text
            assert text == "connected\n" and listener.connected.wait(5)
            if details.mode != "none":
                pytest.skip(details.text)
            return
        assert text.startswith("blocked:")
        assert not listener.connected.is_set()
    finally:
        listener.close()


def test_files_outside_the_scratch_folder_are_out_of_reach(make_tool, data_dir, tmp_path):
    tool = make_tool()
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("hunter2")
    target = outside / "written.txt"
    code = (f"try:\n    print(open({str(secret)!r}).read())\n"
            "except OSError as exc:\n    print('read refused:', type(exc).__name__)\n"
            f"try:\n    open({str(target)!r}, 'w').write('x')\n    print('written')\n"
            "except OSError as exc:\n    print('write refused:', type(exc).__name__)\n")
    text = tool.run(code, context(data_dir)).text
    details = tool.isolation_details()
    if details.mode == "kernel" and _landlock_abi():
        assert details.confined  # this kernel has Landlock: not a reason to skip
    if not details.confined:
        assert "can read and change your files" in details.text or \
            "can read your files" in details.text
        assert text == "hunter2\nwritten\n"
        if details.mode != "none":
            pytest.skip(details.text)
        return
    assert "hunter2" not in text
    assert "read refused" in text and "write refused" in text
    assert not target.exists()


def test_the_environment_is_scrubbed(make_tool, data_dir, monkeypatch):
    for name, value in (("HEARTH_TEST_SECRET", "hunter2"), ("HTTPS_PROXY", "http://proxy:1"),
                        ("PYTHONPATH", "/somewhere"), ("PYTHONSTARTUP", "/evil.py")):
        monkeypatch.setenv(name, value)
    tool = make_tool()
    text = tool.run("import os\nprint(dict(os.environ))\nos.path.expanduser('~')",
                    context(data_dir)).text
    for leaked in ("hunter2", "HTTPS_PROXY", "PYTHONPATH", "PYTHONSTARTUP", os.environ["HOME"]):
        assert leaked not in text


def test_stop_ends_a_running_call_promptly(tool, data_dir):
    ctx = context(data_dir)
    tool.run("x = 1", ctx)
    threading.Timer(0.5, ctx.cancel.set).start()
    started = time.monotonic()
    with pytest.raises(ToolError, match="stopped by the person; its state is lost"):
        tool.run("while True:\n    pass", ctx)
    assert time.monotonic() - started < 10  # a guard against a hang, not a timing
    text = tool.run("print('again')", context(data_dir)).text
    assert "[Fresh python session" in text and text.endswith("again\n")


def test_two_chats_do_not_share_state_or_folders(data_dir):
    first, second = PythonTool(), PythonTool()
    try:
        first.run("x = 'first'\nopen('note.txt', 'w').write('1')", context(data_dir, chat=1))
        text = second.run("open('note.txt', 'w').write('2')\nx", context(data_dir, chat=2)).text
        assert "NameError" in text
        assert first.run("x", context(data_dir, chat=1)).text == "'first'\n"
        scratch = data_dir / "scratch"
        assert (scratch / "1" / "note.txt").read_text() == "1"
        assert (scratch / "2" / "note.txt").read_text() == "2"
    finally:
        first.close()
        second.close()


def test_files_written_are_listed(make_tool, data_dir):
    tool = make_tool()
    out = tool.run("import os\nos.makedirs('plots', exist_ok=True)\n"
                   "open('plots/a.csv', 'w').write('1,2')\nos.getcwd()", context(data_dir))
    scratch = data_dir / "scratch" / "1"
    assert out.files == (str(scratch / "plots" / "a.csv"),)
    assert tool.run("open('plots/a.csv').read()", context(data_dir)).files == ()
    if tool.isolation_details().mode in ("bubblewrap", "kernel") and "/mnt/data" in out.text:
        # the folder harmony's declaration promises the model
        again = tool.run("open('/mnt/data/b.txt', 'w').write('b')", context(data_dir))
        assert again.files == (str(scratch / "b.txt"),)


def test_a_missing_mnt_data_is_explained_to_the_model(data_dir):
    tool = PythonTool(sandbox="none")
    try:
        text = tool.run("open('/mnt/data/x.txt', 'w')", context(data_dir)).text
        assert "/mnt/data is not available on this system" in text
        assert str(data_dir / "scratch" / "1") in text
    finally:
        tool.close()


def test_long_output_is_cut_in_the_middle(data_dir):
    tool = PythonTool(output_bytes=1000)
    try:
        text = tool.run("print('start' + 'x' * 100_000 + 'end')", context(data_dir)).text
    finally:
        tool.close()
    assert text.startswith("startxxx") and text.rstrip().endswith("xxxend")
    assert "bytes of output cut" in text and len(text) < 1100


@pytest.mark.parametrize("code, reason", [
    ("import os\nos._exit(3)", "exit code 3"),
    ("import ctypes\nctypes.string_at(0)", "SIGSEGV"),
])
def test_a_crash_loses_the_state_and_says_so(make_tool, data_dir, code, reason):
    tool = make_tool()
    tool.run("x = 1", context(data_dir))
    with pytest.raises(ToolError, match=f"The python process ended .*{reason}.*state is lost"):
        tool.run(code, context(data_dir))
    assert "[Fresh python session" in tool.run("1", context(data_dir)).text


def test_close_ends_the_worker_and_its_children(data_dir):
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    tool = PythonTool()
    tool.run("import subprocess\nkid = subprocess.Popen(['sleep', '600'])", context(data_dir))
    assert {p.pid for p in psutil.Process().children(recursive=True)} - before
    tool.close()
    assert {p.pid for p in psutil.Process().children(recursive=True)} - before == set()
    with pytest.raises(ToolError, match="closed"):
        tool.run("1", context(data_dir))


_ORPHAN_SCRIPT = """
import sys, threading, time
from pathlib import Path
import psutil
from app.core.tools.base import ToolContext
from app.core.tools.python_tool import PythonTool

def report():
    time.sleep(1.5)
    print(" ".join(str(p.pid) for p in psutil.Process().children(recursive=True)), flush=True)

threading.Thread(target=report, daemon=True).start()
PythonTool(sandbox=sys.argv[1]).run("while True:\\n    pass",
                                    ToolContext(conversation_id=1, data_dir=Path(sys.argv[2])))
"""


def test_a_killed_hearth_leaves_no_worker_running(make_tool, data_dir):
    """kill -9 of Hearth mid-run: the worker must not spin on, orphaned."""
    mode = make_tool().isolation_details().mode  # skips where the mode cannot run
    repo = Path(__file__).resolve().parents[1]
    hearth = subprocess.Popen([sys.executable, "-c", _ORPHAN_SCRIPT, mode, str(data_dir)],
                              cwd=repo, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(repo)})
    try:
        pids = [int(pid) for pid in hearth.stdout.readline().split()]
        assert pids, "the worker did not start"
    finally:
        hearth.kill()
        hearth.wait()
    deadline = time.monotonic() + 30  # a guard against a hang, not a timing
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if _running(pid)]
        if not alive:
            break
        time.sleep(0.1)
    assert not alive


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="the kernel does not count processes against root's limit")
def test_processes_are_limited(make_tool, data_dir):
    tool = make_tool(processes=8)
    code = ("import subprocess\nkids = []\ntry:\n"
            "    for _ in range(30):\n        kids.append(subprocess.Popen(['sleep', '5']))\n"
            "except OSError as exc:\n    print('refused:', type(exc).__name__)\nlen(kids)")
    text = tool.run(code, context(data_dir)).text
    assert "refused" in text and int(text.split()[-1]) < 30


def test_file_size_is_limited(make_tool, data_dir):
    tool = make_tool(file_bytes=1 << 20)
    code = ("try:\n    open('big.bin', 'wb').write(b'x' * (2 << 20))\n"
            "except OSError as exc:\n    print('refused:', exc.strerror)")
    assert tool.run(code, context(data_dir)).text == "refused: File too large\n"


def test_a_broken_bubblewrap_falls_back_to_the_kernels_own_isolation(data_dir, tmp_path,
                                                                     monkeypatch):
    """Ubuntu 24.04's AppArmor, or a container, can refuse bubblewrap though it is installed."""
    if not LINUX:
        pytest.skip("bubblewrap is Linux only")
    fake = tmp_path / "bin" / "bwrap"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(python_process, "broken_modes", {})
    monkeypatch.setattr(python_tool, "_probed", {})
    tool = PythonTool()
    try:
        assert tool.run("6 * 7", context(data_dir)).text == "42\n"
        assert tool.isolation_details().mode == "kernel"
        assert "bubblewrap" not in tool.isolation()
        assert "Permission denied" in python_process.broken_modes["bubblewrap"]
    finally:
        tool.close()
    with pytest.raises(ToolError, match="(?s)Python could not be started: .*Permission denied"):
        PythonTool(sandbox="bubblewrap").run("1", context(data_dir))
    refused = PythonTool(sandbox="bubblewrap").isolation_details()
    assert refused.mode == "unavailable" and "Permission denied" in refused.text


def test_isolation_is_said_in_plain_words(make_tool):
    details = make_tool(time_limit_s=30).isolation_details()
    assert details.text.endswith("Each run stops after 30 s and may use 1 GB of memory.")
    if details.mode == "none":
        assert details.text.startswith("No sandbox on this system: the code can read your "
                                       "files and reach the network")
    if details.mode == "bubblewrap":
        assert details.network == "off" and details.confined


def test_macos_profile_denies_all_but_its_folders(tmp_path):
    """sandbox-exec cannot run here; this checks the profile it would be given."""
    scratch, tmp = tmp_path / 'chat "7"', tmp_path / "tmp"
    home = tmp_path / "home"
    profile = python_sandbox.macos_profile(scratch, tmp, ["/opt/python"], home)
    lines = profile.splitlines()
    assert lines[:2] == ["(version 1)", "(deny default)"]
    assert not any("network" in line for line in lines)  # nothing allows it: denied
    quoted = str(scratch).replace('"', '\\"')
    assert f'(allow file-read* file-write* (subpath "{quoted}")' in profile
    # The home folder is hidden after reads are allowed; later rules win in this language.
    assert lines.index(f'(deny file-read* (subpath "{home}"))') > lines.index("(allow file-read*)")
    assert lines.index('(allow file-read* (subpath "/opt/python"))') > \
        lines.index(f'(deny file-read* (subpath "{home}"))')
    launch = python_sandbox.launch("seatbelt", scratch, tmp, python_sandbox.Limits(), True, None)
    assert launch.argv[:3] == ["/usr/bin/sandbox-exec", "-p", launch.argv[2]]
    assert launch.argv[3:6] == [python_sandbox.python_executable(), "-I", "-S"]
