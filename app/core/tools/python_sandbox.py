"""How the python tool's worker is started here, and how far that isolates it.

Modes, strongest first (`pick_mode`):
- "bubblewrap" (Linux, `bwrap` installed): a fresh mount namespace holding only the system's
  programs and libraries and the Python install, read-only; the chat's scratch folder at
  /mnt/data and a private /tmp are the only writable places; no network, own process ids.
- "kernel" (Linux without bubblewrap): the worker isolates itself with what the kernel lets
  an unprivileged process do — a user namespace with no network and with /mnt/data mounted,
  and Landlock, which leaves it only system files and the Python install to read and its
  folders to write (python_worker.py). Either part may be unavailable; the worker says which
  took effect.
- "seatbelt" (macOS): `sandbox-exec` with the profile `macos_profile` writes.
- "none": only the limits (time, memory, processes, file size) and a scrubbed environment.
- "unavailable" (Windows): the tool says so when called.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from app.core.tools.base import ToolError

WORKER = Path(__file__).with_name("python_worker.py")
DATA_INSIDE = "/mnt/data"  # the folder harmony's python declaration promises the model
TMP_INSIDE = "/tmp"
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# The few files of /etc that Python and libc read: the loader cache, time zone, user names.
_ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone",
              "nsswitch.conf", "passwd", "group")
SEATBELT = "/usr/bin/sandbox-exec"


@dataclass(frozen=True)
class Limits:
    time_s: float = 120.0  # harmony's python declaration: "time out after 120.0 seconds"
    memory_bytes: int = 1 << 30
    file_bytes: int = 512 << 20  # the largest file it may write
    processes: int = 64  # processes and threads it may run at once


@dataclass(frozen=True)
class Launch:
    """The command that starts a worker, and what its setup message tells it."""

    argv: list[str]
    env: dict[str, str]
    setup: dict


def python_executable() -> str:
    """The interpreter itself, not a virtual environment's link to it: run with -I -S, it
    needs only its own install, which is what the sandboxes let it read."""
    return os.path.realpath(sys.executable)


def package_dirs() -> list[str]:
    """Where the running environment's packages are (numpy comes with llama-cpp-python):
    added to the worker's path by hand, so that no .pth file of theirs runs."""
    paths = sysconfig.get_paths()
    dirs = {os.path.realpath(paths[key]) for key in ("purelib", "platlib")}
    return sorted(d for d in dirs if os.path.isdir(d))


def python_roots(site_packages: bool) -> list[str]:
    """Folders the worker must be able to read: the install holding the interpreter and
    standard library, and the package folders."""
    roots = {os.path.realpath(sys.base_prefix), os.path.dirname(python_executable())}
    if site_packages:
        roots.update(package_dirs())
    return _outermost(roots)


def _outermost(paths) -> list[str]:
    kept: list[str] = []
    for path in sorted(paths, key=len):
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return sorted(kept)


def pick_mode(requested: str = "auto") -> str:
    if os.name != "posix":
        return "unavailable"  # the worker's pipes and limits are POSIX's
    if requested != "auto":
        return requested
    system = platform.system()
    if system == "Linux":
        return "bubblewrap" if shutil.which("bwrap") else "kernel"
    if system == "Darwin" and os.path.exists(SEATBELT):
        return "seatbelt"
    return "none"


def scrubbed_env(home: str) -> dict[str, str]:
    """Nothing of the person's environment but the time zone: no tokens, proxies, paths."""
    bin_dir = os.path.dirname(python_executable())
    env = {
        "PATH": os.pathsep.join(dict.fromkeys([bin_dir, "/usr/local/bin", "/usr/bin", "/bin"])),
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        # One thread each: numerical libraries would otherwise start one per core, each
        # reserving memory the address-space limit counts.
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "MALLOC_ARENA_MAX": "2",  # glibc reserves 64 MB of address space per thread else
        "MPLBACKEND": "Agg",  # matplotlib draws into files: there is no window to show
    }
    if "TZ" in os.environ:
        env["TZ"] = os.environ["TZ"]
    return env


def launch(mode: str, scratch: Path, tmp: Path, limits: Limits, site_packages: bool,
           user_tasks: int | None) -> Launch:
    python = python_executable()
    worker = [python, "-I", "-S", "-X", "utf8", "-c", WORKER.read_text(encoding="utf-8"), mode]
    setup = {
        "mode": mode,
        "parent": os.getpid(),
        "network": "on",
        "own_user_namespace": False,
        "sys_path": package_dirs() if site_packages else [],
        "cwd": str(scratch),
        "mounts": {},
        "read_paths": [],
        "write_paths": [],
        "memory_bytes": limits.memory_bytes,
        "file_bytes": limits.file_bytes,
        "processes": limits.processes,
        "user_tasks": user_tasks,
    }
    home = str(tmp)
    if mode == "bubblewrap":
        argv = [shutil.which("bwrap") or "bwrap", *bwrap_args(scratch, tmp, site_packages),
                "--", *worker]
        setup.update(network="off", own_user_namespace=True, cwd=DATA_INSIDE)
        home = TMP_INSIDE
    elif mode == "kernel":
        argv = worker
        setup.update(mounts={DATA_INSIDE: str(scratch), TMP_INSIDE: str(tmp)},
                     read_paths=landlock_read_paths(site_packages),
                     write_paths=[str(scratch), str(tmp), "/dev/null", "/dev/full"])
    elif mode == "seatbelt":
        profile = macos_profile(scratch, tmp, python_roots(site_packages), Path.home())
        argv = [SEATBELT, "-p", profile, *worker]
        setup["network"] = "off"
    elif mode == "none":
        argv = worker
    elif mode == "unavailable":
        raise ToolError("The python tool is not available on Windows yet.")
    else:
        raise ValueError(f"unknown sandbox mode {mode!r}")
    return Launch(argv, scrubbed_env(home), setup)


def bwrap_args(scratch: Path, tmp: Path, site_packages: bool) -> list[str]:
    args = ["--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--proc", "/proc", "--dev", "/dev"]
    for path in _SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for name in _ETC_FILES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    for root in python_roots(site_packages):
        args += ["--ro-bind", root, root]
    args += ["--bind", str(tmp), TMP_INSIDE, "--bind", str(scratch), DATA_INSIDE,
             "--chdir", DATA_INSIDE]
    return args


def landlock_read_paths(site_packages: bool) -> list[str]:
    return [*(p for p in _SYSTEM_DIRS if os.path.isdir(p)),
            *(f"/etc/{name}" for name in _ETC_FILES),
            *python_roots(site_packages),
            # Not all of /proc: other processes' environments (the person's secrets) are there;
            # not all of /dev: /dev/shm holds other programs' shared memory.
            "/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
            "/proc/self", "/proc/cpuinfo", "/proc/meminfo", "/sys/devices/system/cpu"]


def _sbpl(path: str | Path) -> str:
    """A string literal of Apple's sandbox profile language (a Scheme dialect)."""
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


def macos_profile(scratch: Path, tmp: Path, python_roots: list[str], home: Path) -> str:
    """The `sandbox-exec` profile: nothing allowed but what is listed — no network, no
    services (which could open a browser for it), reads anywhere but the home folder, writes
    only to its folders. Later rules win over earlier ones, so the exceptions come last.
    Modelled on OpenAI Codex's and Chromium's profiles; not exercised by the test suite,
    which runs on Linux (tests/test_python_tool.py checks the text)."""
    real = [os.path.realpath(p) for p in (scratch, tmp)]
    readable = " ".join(f"(subpath {_sbpl(os.path.realpath(p))})" for p in python_roots)
    writable = " ".join(f"(subpath {_sbpl(p)})" for p in real)
    return "\n".join([
        "(version 1)",
        "(deny default)",
        "(allow process-exec process-fork)",
        "(allow signal (target same-sandbox))",
        "(allow process-info* (target same-sandbox))",
        "(allow sysctl-read)",
        "(allow user-preference-read)",
        "(allow ipc-posix-sem)",  # multiprocessing's locks
        '(allow mach-lookup (global-name "com.apple.system.opendirectoryd.libinfo"))',
        "(allow file-read*)",
        f"(deny file-read* (subpath {_sbpl(os.path.realpath(home))}))",
        # Names and sizes stay visible (not contents, nor listings): Python resolves its own
        # path through the home folder when it is installed there (pyenv, a venv).
        "(allow file-read-metadata)",
        f"(allow file-read* {readable})",
        f"(allow file-read* file-write* {writable})",
        '(allow file-read* file-write-data (literal "/dev/null") (literal "/dev/zero"))',
        "",
    ])


@dataclass(frozen=True)
class Isolation:
    """How far the code is isolated, as facts (for tests, icons) and as a sentence."""

    mode: str
    network: str  # "off"; "tcp-off" (Landlock alone: UDP still passes); "on"
    confined: bool  # it reads only system files and Python, and writes only its folders
    text: str


def isolation(mode: str, network: str, landlock: int, limits: Limits) -> Isolation:
    """What the person is told (the Tools menu, the README), from what the worker reported."""
    bounds = (f" Each run stops after {limits.time_s:g} s and may use "
              f"{size_text(limits.memory_bytes)} of memory.")
    if mode == "bubblewrap":
        return Isolation(mode, "off", True, "Runs in a sandbox (bubblewrap): no network, your "
                         "files are out of its sight, and only its scratch folder is writable."
                         + bounds)
    if mode == "unavailable":
        return Isolation(mode, "off", True, "The python tool is not available on Windows yet.")
    if mode == "seatbelt":
        return Isolation(mode, "off", True, "Runs in a sandbox (macOS sandbox-exec): no network,"
                         " your home folder is out of its sight, and only its scratch folder is "
                         "writable." + bounds)
    confined = mode == "kernel" and landlock > 0
    network = network if mode == "kernel" else "on"
    if confined and network == "off":
        text = ("Runs in a sandbox (Linux namespaces and Landlock): no network, your files are "
                "out of its sight, and only its scratch folder is writable.")
    elif network == "off":
        text = ("Partly isolated (a Linux network namespace): no network, but the code can read "
                "and change your files.")
    elif confined:
        text = ("Partly isolated (Landlock): your files are out of its sight and only its "
                "scratch folder is writable, but " + (
                    "only TCP connections are blocked: other network traffic is not."
                    if network == "tcp-off" else "it can reach the network."))
    else:
        text = ("No sandbox on this system: the code can read your files and reach the network;"
                " it is limited in time and memory.")
    return Isolation(mode, network, confined, text + bounds)


def size_text(n: int) -> str:
    return f"{n / (1 << 30):g} GB" if n >= 1 << 30 else f"{n / (1 << 20):g} MB"
