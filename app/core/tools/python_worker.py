"""The python tool's worker: one process per chat that runs cells like a notebook kernel.

Started by app/core/tools/python_tool.py as `python -I -S -c <this file's source> <mode>`, so
it must stay a single file that imports only the standard library (Hearth's own packages are
not on its path, and inside bubblewrap they do not even exist). Its pipes:

- fd 0: requests from Hearth, one JSON object a line (first the setup, then one per cell);
- fd 1: replies to Hearth, one JSON object a line;
- fd 2: the output pipe. The worker points fds 1 and 2 at it, so print(), tracebacks and the
  output of child processes all arrive there, in the order they were written.

Without bubblewrap it isolates itself before running any code (mode "kernel"): a new user
and network namespace (no network at all), then Landlock (writes only to the scratch and
temporary folders, reads only from the system and the Python install, no TCP), each where
the kernel allows it. The setup's limits apply in every mode. What took effect is reported
back in the "ready" reply, which is what the person is told.
"""

import ast
import json
import linecache
import os
import sys

_replies = -1  # fd of the reply pipe, set by main()


def _reply(message):
    os.write(_replies, (json.dumps(message) + "\n").encode())


# -- isolating itself (Linux, mode "kernel") ---------------------------------------------------

_FS_RIGHTS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
_READ = 1 | 4 | 8  # EXECUTE | READ_FILE | READ_DIR
_FILE_RIGHTS = 1 | 2 | 4 | (1 << 14) | (1 << 15)  # the rights a rule on a plain file may hold


def _libc():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return ctypes, libc


def _enter_namespaces(mounts):
    """A user namespace (so that no privilege is needed) holding an empty network namespace —
    no interface but a loopback that is down: nothing can be reached, not even localhost —
    and a mount namespace where the chat's folders appear where the model expects them.
    Returns (entered, mounted)."""
    ctypes, libc = _libc()
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(0x10000000 | 0x40000000 | 0x00020000) != 0:  # NEWUSER | NEWNET | NEWNS
        return False, False
    try:
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"),
                           ("gid_map", f"{gid} {gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
    except OSError:
        return True, False  # unmapped ids: no mounts, but the network is gone all the same
    ms_bind, ms_rec, ms_private = 4096, 16384, 1 << 18
    try:
        if libc.mount(b"none", b"/", None, ms_rec | ms_private, None) != 0:
            return True, False
        # A small tmpfs over /mnt (whatever the host mounts there stays out of sight) holds
        # the mount point for the scratch folder; the chat's own /tmp covers the host's.
        data, tmp = mounts["/mnt/data"].encode(), mounts["/tmp"].encode()
        if libc.mount(b"tmpfs", b"/mnt", b"tmpfs", 0, b"size=64k,mode=755") != 0:
            return True, False
        os.mkdir("/mnt/data")
        if libc.mount(data, b"/mnt/data", None, ms_bind | ms_rec, None) != 0:
            return True, False
        return True, libc.mount(tmp, b"/tmp", None, ms_bind | ms_rec, None) == 0
    except OSError:
        return True, False


def _open_rules(read_paths, write_paths):
    """The folders Landlock will allow, opened now: once /tmp is covered by the chat's own,
    a host path under it would name something else."""
    rules = []
    for paths, rights in ((read_paths, _READ), (write_paths, -1)):
        for path in paths:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            rules.append((fd, rights if os.path.isdir(path) else rights & _FILE_RIGHTS))
    return rules


def _landlock(rules):
    """Restrict this process and its children to `rules` ((fd, rights) pairs): returns the
    Landlock ABI applied, 0 where the kernel has none."""
    ctypes, libc = _libc()
    try:
        abi = libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))  # ..._VERSION
        if abi < 1:
            return 0
        fs = _FS_RIGHTS_BY_ABI[max(k for k in _FS_RIGHTS_BY_ABI if k <= abi)]
        net = 3 if abi >= 4 else 0  # BIND_TCP | CONNECT_TCP, and no rule allows any port
        scoped = 3 if abi >= 6 else 0  # abstract unix sockets and signals stay inside
        size = 8 if abi < 4 else 16 if abi < 6 else 24
        attr = (ctypes.c_uint64 * 3)(fs, net, scoped)
        ruleset = libc.syscall(444, ctypes.byref(attr), ctypes.c_size_t(size),
                               ctypes.c_uint32(0))
        if ruleset < 0:
            return 0

        class PathBeneath(ctypes.Structure):
            _pack_ = 1
            _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

        try:
            for fd, rights in rules:
                rule = PathBeneath(rights & fs, fd)
                libc.syscall(445, ruleset, 1, ctypes.byref(rule), 0)  # RULE_PATH_BENEATH
            # PR_SET_NO_NEW_PRIVS, then landlock_restrict_self
            if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.syscall(446, ruleset, 0) != 0:
                return 0
        finally:
            os.close(ruleset)
        return abi
    finally:
        for fd, _ in rules:
            os.close(fd)


def _set_limits(setup, own_user_namespace):
    try:
        import resource
    except ImportError:
        return  # not a POSIX system: Hearth's time and memory watch still apply

    def limit(name, value):
        kind = getattr(resource, name, None)
        if kind is not None and value is not None:
            try:
                resource.setrlimit(kind, (value, value))
            except (OSError, ValueError):
                pass

    limit("RLIMIT_AS", setup["memory_bytes"])
    limit("RLIMIT_FSIZE", setup["file_bytes"])
    limit("RLIMIT_CORE", 0)
    # RLIMIT_NPROC counts the threads of a user id — in a user namespace of our own only
    # ours, elsewhere every one the person runs, so there it is counted on top of those.
    if own_user_namespace:
        limit("RLIMIT_NPROC", setup["processes"])
    elif setup["user_tasks"] is not None:
        limit("RLIMIT_NPROC", setup["user_tasks"] + setup["processes"])


def _die_with_hearth(parent):
    """Linux: be killed when Hearth ends, even mid-cell (bubblewrap does this itself). Set
    after the namespaces, since changing credentials clears it."""
    try:
        _, libc = _libc()
        libc.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
    except (ImportError, OSError, AttributeError):
        return
    if os.getppid() != parent:
        os._exit(1)  # Hearth ended before the signal was armed


def _cpu_backstop(seconds):
    """Where nothing kills us with Hearth (macOS), an orphan stops after a bounded amount of
    CPU time; generous, since threads spend CPU time faster than the clock runs."""
    try:
        import resource

        used = resource.getrusage(resource.RUSAGE_SELF)
        soft = int(used.ru_utime + used.ru_stime + 10 * seconds) + 10
        resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.RLIM_INFINITY))
    except (ImportError, OSError, ValueError):
        pass


# -- running cells -----------------------------------------------------------------------------

_namespace = {"__name__": "__main__", "__builtins__": __builtins__}
_cells = 0


def _show_error(exc):
    # Drop the worker's own frames: the person and the model see the cell's, as in Jupyter.
    tb = exc.__traceback__
    while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<cell"):
        tb = tb.tb_next
    try:
        import traceback

        text = "".join(traceback.format_exception(type(exc), exc, tb))
    except BaseException:  # no memory left to format it, or a broken exception
        text = f"{type(exc).__name__}: (details could not be shown)\n"
    sys.stderr.write(text)


def _run_cell(code):
    """Run `code` in the chat's namespace; show the last expression's value like Jupyter."""
    global _cells
    _cells += 1
    filename = f"<cell {_cells}>"
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    flags = getattr(ast, "PyCF_ALLOW_TOP_LEVEL_AWAIT", 0)
    try:
        tree = ast.parse(code, filename)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        for part, mode in ((ast.Module(tree.body, []), "exec"), (last, "eval")):
            if part is None:
                continue
            compiled = compile(part, filename, mode, flags=flags)
            result = eval(compiled, _namespace)
            if compiled.co_flags & 0x80:  # CO_COROUTINE: the cell awaits at top level
                import asyncio

                result = asyncio.run(result)
            if mode == "eval" and result is not None:
                _namespace["_"] = result
                sys.stdout.write(repr(result) + "\n")
        return True
    except BaseException as exc:  # SystemExit and KeyboardInterrupt too: the kernel lives on
        _show_error(exc)
        return False


def main():
    global _replies
    # Replies go through a private copy of fd 1; fds 1 and 2 then both write to the output
    # pipe; fd 0 reads nothing, so input() ends at once instead of eating Hearth's requests.
    _replies, requests = os.dup(1), os.fdopen(os.dup(0), "rb")
    os.dup2(2, 1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(encoding="utf-8", errors="backslashreplace", line_buffering=True)

    setup = json.loads(requests.readline())
    network, landlock, own_user_namespace = setup["network"], 0, setup["own_user_namespace"]
    cwd = setup["cwd"]
    if setup["mode"] == "kernel":
        try:
            rules = _open_rules(setup["read_paths"], setup["write_paths"])
            own_user_namespace, mounted = _enter_namespaces(setup["mounts"])
            network = "off" if own_user_namespace else network
            if mounted:
                cwd = "/mnt/data"
                os.environ["HOME"] = os.environ["TMPDIR"] = "/tmp"
            landlock = _landlock(rules)
        except (ImportError, OSError, AttributeError):
            pass  # no ctypes, or not Linux: the limits below still apply
        if landlock >= 4 and network != "off":
            network = "tcp-off"
    if setup["mode"] in ("kernel", "none") and sys.platform.startswith("linux"):
        _die_with_hearth(setup["parent"])
    _set_limits(setup, own_user_namespace)
    sys.path.extend(setup["sys_path"])
    os.chdir(cwd)
    _reply({"ready": True, "network": network, "landlock": landlock, "cwd": cwd})
    for line in requests:
        request = json.loads(line)
        _cpu_backstop(request["time_limit_s"])
        ok = _run_cell(request["code"])
        sys.stdout.flush()
        sys.stderr.flush()
        _reply({"done": True, "ok": ok})


if __name__ == "__main__":
    main()
