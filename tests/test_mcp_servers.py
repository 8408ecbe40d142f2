"""MCP servers through `MCPServers`, against real servers in real processes: the SDK's own
server (tests/fixtures/mcp_server.py) over stdio and streamable HTTP, and a hand-written
hostile one (tests/fixtures/mcp_raw_server.py) that breaks the protocol."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from app.core.tools.base import ToolContext, ToolError
from app.core.tools.mcp_config import MCPConfig, ServerConfig
from app.core.tools.mcp_servers import MCPServers, describe

FIXTURES = Path(__file__).parent / "fixtures"
SERVER = str(FIXTURES / "mcp_server.py")
RAW = str(FIXTURES / "mcp_raw_server.py")
ROOT = Path(__file__).resolve().parent.parent


def stdio(name: str, *args: str, script: str = SERVER) -> ServerConfig:
    return ServerConfig(name=name, command=sys.executable, args=(script, *args))


def context(**limits) -> ToolContext:
    return ToolContext(conversation_id=None, data_dir=Path("."), **limits)


def by_name(tools) -> dict:
    return {t.spec.name: t for t in tools}


def gone(pid: int) -> bool:
    """True once `pid` is dead and not our zombie (a zombie of ours would mean we never
    reaped it; an orphan's zombie is for the init process to reap, which some containers'
    first process never does)."""
    try:
        process = psutil.Process(pid)
        return process.status() == psutil.STATUS_ZOMBIE and process.ppid() != os.getpid()
    except psutil.NoSuchProcess:
        return True


def wait_for(condition, within: float = 15.0) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def new_children(before: set[int]) -> list[int]:
    return [c.pid for c in psutil.Process().children(recursive=True) if c.pid not in before]


@pytest.fixture(scope="module")
def fx():
    """One SDK server over stdio, shared by the tests that leave it running."""
    servers = MCPServers(MCPConfig((stdio("fx"),)))
    yield servers
    servers.close()


def test_tools_are_offered_with_their_schemas_and_answer(fx):
    tools = by_name(fx.tools())
    assert {"add", "echo", "fail", "big", "slow", "crash", "mixed"} <= set(tools)
    spec = tools["add"].spec
    assert spec.recipient == "functions.add"
    assert spec.description == "Add two whole numbers."
    assert spec.parameters["type"] == "object"
    assert set(spec.parameters["properties"]) == {"a", "b"}
    assert (spec.approval, spec.source, spec.reaches_network) == ("ask", "MCP: fx", False)
    assert tools["add"].run({"a": 2, "b": 3}, context()).text == "5"
    assert fx.statuses()["fx"].state == "ready"
    with pytest.raises(ToolError, match="must be a JSON object"):
        tools["add"].run([2, 3], context())


def test_an_error_result_is_a_tool_error_with_the_servers_words(fx):
    tools = by_name(fx.tools())
    with pytest.raises(ToolError, match="the disk is on fire"):
        tools["fail"].run({"why": "the disk is on fire"}, context())


def test_images_and_resources_become_text(fx):
    text = by_name(fx.tools())["mixed"].run({}, context()).text
    assert text.splitlines() == ["a picture:", "", "[image: image/png, 8 bytes]", "",
                                 "[resource: file:///notes.txt]", "the notes", "",
                                 "[resource: report file:///report.pdf]"]


def test_a_50_mb_result_is_cut_with_a_note(fx):
    output = by_name(fx.tools())["big"].run({"size": 50_000_000}, context(timeout_s=120))
    assert len(output.text) < 101_000
    assert output.text.endswith("[cut: the tool returned 50,000,000 characters; only the first "
                                "100,000 are shown]")


def test_a_name_taken_by_a_built_in_tool_gets_the_server_prefix(fx):
    names = set(by_name(fx.tools(reserved=["add", "python"])))
    assert "fx_add" in names and "add" not in names and "echo" in names


def test_a_slow_call_is_stopped_by_cancel_and_the_server_keeps_serving(fx):
    tools = by_name(fx.tools())
    ctx = context(timeout_s=120)
    threading.Timer(0.5, ctx.cancel.set).start()
    started = time.monotonic()
    with pytest.raises(ToolError, match="stopped"):
        tools["slow"].run({"seconds": 60}, ctx)
    assert time.monotonic() - started < 10
    assert tools["add"].run({"a": 1, "b": 1}, context()).text == "2"


def test_a_slow_call_times_out(fx):
    with pytest.raises(ToolError, match="did not answer within 1 s"):
        by_name(fx.tools())["slow"].run({"seconds": 60}, context(timeout_s=1))
    assert fx.statuses()["fx"].state == "ready"


def test_describe_lists_servers_tools_and_schemas(fx):
    (entry,) = describe(fx)
    assert (entry["server"], entry["status"], entry["transport"]) == ("fx", "ready", "stdio")
    add = next(t for t in entry["tools"] if t["name"] == "add")
    assert add["source"] == "MCP: fx" and add["parameters"]["required"] == ["a", "b"]
    json.dumps(entry)  # plain data, for `hearth tools list --json`


def test_a_server_that_dies_mid_call_fails_with_its_stderr_and_restarts_on_next_use():
    statuses, threads = [], set()

    def on_status(status):
        statuses.append(status)
        threads.add(threading.current_thread().name)

    servers = MCPServers(MCPConfig((stdio("fx", "--noise"),)), on_status=on_status)
    try:
        tools = by_name(servers.tools())
        with pytest.raises(ToolError) as caught:
            tools["crash"].run({}, context())
        message = str(caught.value)
        assert "exit code 3" in message and "out of cheese" in message
        status = servers.statuses()["fx"]
        assert status.state == "failed" and "exit code 3" in status.reason
        assert "out of cheese" in status.stderr_tail
        assert "add" in by_name(servers.tools(start=False))  # still offered: a call restarts it
        assert tools["add"].run({"a": 4, "b": 4}, context()).text == "8"
        # A stray line on stdout is skipped, and said in the tail, not taken for a message.
        assert "skipped a line on stdout that is not JSON-RPC: Server listening" in \
            statuses[1].stderr_tail
    finally:
        servers.close()
    assert [s.state for s in statuses] == ["starting", "ready", "failed", "starting", "ready",
                                           "stopped"]
    assert threads == {"mcp-servers"}  # the callback runs on the servers' own thread


def test_a_server_that_never_answers_fails_in_bounded_time_and_is_stopped():
    before = {c.pid for c in psutil.Process().children(recursive=True)}
    servers = MCPServers(MCPConfig((stdio("hang", "--hang-at-start"),)), start_timeout_s=3)
    try:
        started = time.monotonic()
        assert servers.tools() == []
        assert time.monotonic() - started < 20
        status = servers.statuses()["hang"]
        assert status.state == "failed"
        assert status.reason.startswith("did not finish starting within 3 s")
        assert "fixture server starting" in status.stderr_tail
        assert wait_for(lambda: not new_children(before))
    finally:
        servers.close()


def test_a_missing_command_fails_with_its_name():
    servers = MCPServers(MCPConfig((ServerConfig(name="npx", command="no-such-program-4242"),
                                    ServerConfig(name="rel", command="./nowhere/server"))))
    try:
        assert servers.tools() == []
        statuses = servers.statuses()
        assert statuses["npx"].reason == "command not found: no-such-program-4242"
        assert statuses["rel"].reason == "command not found: ./nowhere/server"
        with pytest.raises(ToolError, match="not running: command not found"):
            servers.call("npx", "anything", {}, context())
    finally:
        servers.close()


def test_a_disabled_server_is_never_started():
    before = {c.pid for c in psutil.Process().children(recursive=True)}
    servers = MCPServers(MCPConfig((replace(stdio("fx"), disabled=True),)))
    try:
        assert servers.tools() == []
        status = servers.statuses()["fx"]
        assert (status.state, status.reason, status.disabled) == ("stopped", "disabled", True)
        assert new_children(before) == []
    finally:
        servers.close()


def test_a_server_flooding_stderr_keeps_serving():
    servers = MCPServers(MCPConfig((stdio("loud", "--flood-stderr"),)))
    try:
        tools = by_name(servers.tools())
        # A full stderr pipe would block the server: this answers only because we drain it.
        for n in range(3):
            assert tools["add"].run({"a": n, "b": 1}, context(timeout_s=30)).text == str(n + 1)
        status = servers.statuses()["loud"]
        assert len(status.stderr_tail) <= 2000
        assert "noise noise" in status.stderr_tail
    finally:
        servers.close()


def test_unusable_tools_are_refused_with_reasons_and_the_others_kept():
    servers = MCPServers(MCPConfig((stdio("raw", "bad-tools", script=RAW),)))
    try:
        tools = by_name(servers.tools())
        assert sorted(tools) == ["bare", "good", "local_ref"]
        assert tools["bare"].spec.parameters == {"type": "object", "properties": {}}
        assert tools["good"].run({"q": "x"}, context()).text == "good ok"
        assert dict(servers.statuses()["raw"].refused) == {
            "listy": "its input schema is not an object schema (type 'array')",
            "deep": "its input schema is nested more than 24 levels deep",
            "numeric": "its input schema is not a JSON object",
            "?": "has no name",
            "fetchy": "its input schema refers to another document "
                      "('http://127.0.0.1:9/schema.json')",
        }
    finally:
        servers.close()


def test_initialize_comes_first_so_servers_ignoring_unknown_methods_start():
    servers = MCPServers(MCPConfig((stdio("raw", "silent", script=RAW),)))
    try:
        assert by_name(servers.tools())["small"].run({}, context()).text == "small ok"
        received = [line for line in servers.statuses()["raw"].stderr_tail.splitlines()
                    if line.startswith("got ")]
        assert received[:2] == ["got initialize", "got notifications/initialized"]
    finally:
        servers.close()


def test_a_server_of_the_2026_protocol_only_is_reached_by_discovery():
    servers = MCPServers(MCPConfig((stdio("raw", "modern-only", script=RAW),)))
    try:
        assert by_name(servers.tools())["small"].run({}, context()).text == "modern ok"
        assert "got server/discover" in servers.statuses()["raw"].stderr_tail
    finally:
        servers.close()


def test_an_unreadable_listing_fails_the_server_quickly():
    servers = MCPServers(MCPConfig((stdio("raw", "unreadable-listing", script=RAW),)))
    try:
        started = time.monotonic()
        assert servers.tools() == []
        assert time.monotonic() - started < 20  # not the 30 s start timeout
        assert "could not be read" in servers.statuses()["raw"].reason
    finally:
        servers.close()


def test_an_answer_over_the_message_limit_is_refused_and_the_server_keeps_serving():
    servers = MCPServers(MCPConfig((stdio("raw", "huge", script=RAW),)))
    try:
        tools = by_name(servers.tools())
        with pytest.raises(ToolError, match="larger than 64 MB"):
            tools["huge"].run({}, context(timeout_s=120))
        assert tools["small"].run({}, context()).text == "small ok"
    finally:
        servers.close()


def test_close_stops_every_process_and_waiting_calls():
    before = {c.pid for c in psutil.Process().children(recursive=True)}
    servers = MCPServers(MCPConfig((stdio("fx"),)))
    tools = by_name(servers.tools())
    grandchild = int(tools["spawn_child"].run({}, context()).text)
    server_pids = new_children(before)
    assert grandchild in server_pids and len(server_pids) == 2
    outcome = []

    def slow_call():
        try:
            tools["slow"].run({"seconds": 60}, context(timeout_s=120))
        except ToolError as e:
            outcome.append(str(e))

    caller = threading.Thread(target=slow_call)
    caller.start()
    time.sleep(0.5)
    servers.close()
    caller.join(timeout=20)
    assert outcome and not caller.is_alive()
    # No child left, not even a zombie (a zombie still has a pid), grandchild included.
    assert wait_for(lambda: all(gone(pid) for pid in server_pids))
    with pytest.raises(ToolError, match="shut down"):
        tools["add"].run({"a": 1, "b": 1}, context())
    servers.close()  # a second close is harmless


def test_configure_stops_removed_servers():
    before = {c.pid for c in psutil.Process().children(recursive=True)}
    servers = MCPServers(MCPConfig((stdio("fx"),)))
    try:
        servers.tools()
        (pid,) = new_children(before)
        servers.configure(MCPConfig((stdio("other", "--noise"),))).result(timeout=20)
        assert list(servers.statuses()) == ["other"]
        assert servers.statuses()["other"].state == "stopped"
        assert wait_for(lambda: gone(pid))
    finally:
        servers.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_server_over_streamable_http():
    port = free_port()
    process = subprocess.Popen([sys.executable, SERVER, "--http", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    servers = MCPServers(MCPConfig((ServerConfig(name="web", url=f"http://127.0.0.1:{port}/mcp",
                                                 headers=(("X-Test", "hello"),)),)))
    try:
        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return True
            except OSError:
                return False
        assert wait_for(listening, within=30)
        tools = by_name(servers.tools())
        assert tools["add"].spec.reaches_network and tools["add"].spec.source == "MCP: web"
        assert tools["add"].run({"a": 20, "b": 22}, context()).text == "42"
        assert tools["header"].run({"name": "x-test"}, context()).text == "hello"
        process.kill()
        process.wait(timeout=10)
        with pytest.raises(ToolError, match="failed during the call"):
            tools["echo"].run({"text": "anyone?"}, context(timeout_s=30))
        assert servers.statuses()["web"].state == "failed"
    finally:
        servers.close()
        process.kill()
        process.wait(timeout=10)


def test_an_unreachable_address_fails_without_waiting_for_the_timeout():
    address = f"http://127.0.0.1:{free_port()}/mcp"
    servers = MCPServers(MCPConfig((ServerConfig(name="web", url=address),)))
    try:
        started = time.monotonic()
        assert servers.tools() == []
        assert time.monotonic() - started < 20
        assert servers.statuses()["web"].reason.startswith("could not connect")
    finally:
        servers.close()


AUDIT = """
import json, sys
from pathlib import Path
events = []
def hook(event, args):
    if event.startswith("socket.") and event != "socket.__new__":
        events.append(event)
sys.addaudithook(hook)
from app.core.tools.base import ToolContext
from app.core.tools.mcp_config import MCPConfig, ServerConfig
from app.core.tools.mcp_servers import MCPServers
fx = ServerConfig(name="fx", command=sys.executable, args=(sys.argv[1],))
servers = MCPServers(MCPConfig((fx,)))
tools = {t.spec.name: t for t in servers.tools()}
answer = tools["add"].run({"a": 1, "b": 2}, ToolContext(conversation_id=None, data_dir=Path(".")))
servers.close()
print(json.dumps({"answer": answer.text, "events": events}))
"""


def test_stdio_servers_cost_no_network_access():
    """Nothing in Hearth's process connects, binds, sends or resolves a name (the audit hook
    sees every socket call but creation; asyncio's own wake-up pair is a socketpair)."""
    out = subprocess.run([sys.executable, "-c", AUDIT, SERVER], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"answer": "3", "events": []}


FORGETFUL = """
import sys
from pathlib import Path
from app.core.tools.base import ToolContext
from app.core.tools.mcp_config import MCPConfig, ServerConfig
from app.core.tools.mcp_servers import MCPServers
fx = ServerConfig(name="fx", command=sys.executable, args=(sys.argv[1],))
servers = MCPServers(MCPConfig((fx,)))
tools = {t.spec.name: t for t in servers.tools()}
print(tools["spawn_child"].run({}, ToolContext(conversation_id=None, data_dir=Path("."))).text)
"""


def test_a_process_leaving_without_close_leaves_no_server_behind():
    out = subprocess.run([sys.executable, "-c", FORGETFUL, SERVER], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    grandchild = int(out.stdout.strip().splitlines()[-1])
    assert wait_for(lambda: gone(grandchild))
