"""MCP servers: start, a call's round trip, and big results through our stdio reader against
the SDK's own `stdio_client` (which re-joins its buffer on every read: quadratic).

Run: `.venv/bin/python tests/benchmarks/bench_mcp.py`. Prints the times and writes
bench-results/mcp.json.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "benchmarks")]

from machine import Contention, code_version, machine, note  # noqa: E402

from app.core.tools.base import ToolContext  # noqa: E402
from app.core.tools.mcp_config import MCPConfig, ServerConfig  # noqa: E402
from app.core.tools.mcp_servers import MCPServers  # noqa: E402

SERVER = str(ROOT / "tests" / "fixtures" / "mcp_server.py")
CONTEXT = ToolContext(conversation_id=None, data_dir=ROOT, timeout_s=300)
SIZES_MB = (1, 5, 10, 50)


def ours() -> dict:
    results = {}
    servers = MCPServers(MCPConfig((ServerConfig(name="fx", command=sys.executable,
                                                 args=(SERVER,)),)))
    try:
        started = time.perf_counter()
        tools = {t.spec.name: t for t in servers.tools()}
        results["start_and_list_s"] = round(time.perf_counter() - started, 2)
        times = []
        for n in range(50):
            t0 = time.perf_counter()
            tools["add"].run({"a": n, "b": 1}, CONTEXT)
            times.append(time.perf_counter() - t0)
        results["call_median_ms"] = round(statistics.median(times) * 1000, 2)
        for mb in SIZES_MB:
            t0 = time.perf_counter()
            tools["big"].run({"size": mb * 1_000_000}, CONTEXT)
            results[f"result_{mb}_mb_s"] = round(time.perf_counter() - t0, 2)
    finally:
        t0 = time.perf_counter()
        servers.close()
        results["close_s"] = round(time.perf_counter() - t0, 2)
    return results


def sdks() -> dict:
    import anyio
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters, stdio_client

    results = {}

    async def run() -> None:
        params = StdioServerParameters(command=sys.executable, args=[SERVER])
        async with Client(stdio_client(params, errlog=open("/dev/null", "w"))) as client:
            for mb in SIZES_MB[:3]:  # 50 MB would take minutes
                t0 = time.perf_counter()
                await client.call_tool("big", {"size": mb * 1_000_000})
                results[f"result_{mb}_mb_s"] = round(time.perf_counter() - t0, 2)

    anyio.run(run)
    return results


def main() -> None:
    with Contention() as contention:
        results = {"machine": machine(), "code": code_version(), "ours": ours(),
                   "sdk_stdio_client": sdks()}
    results["contention"] = contention.report()
    for side in ("ours", "sdk_stdio_client"):
        for key, value in results[side].items():
            print(f"{side:<18} {key:<20} {value}")
    print(note(results["contention"]))
    out = ROOT / "bench-results" / "mcp.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
