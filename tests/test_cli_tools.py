"""Tools from the command line: `hearth tools list`, `hearth chat --tools … --yes`, and
`hearth render --tools FILE --date D` checked against OpenAI's own harmony renderer."""

from __future__ import annotations

import io
import json
import sys

from fixtures.gui import speak
from fixtures.harmony_reference import reference

from app.cli.main import main
from storage import Store

CALC_CALL = "\n".join([
    'root ::= analysis <|start|> "assistant" call',
    'analysis ::= <|channel|> "analysis" <|message|> [a-z]{1,8} <|end|>',
    'call ::= <|channel|> "commentary to=functions.calculator " <|constrain|> "json" <|message|> '
    '"{\\"expression\\":\\"6*7\\"}"', ""])


def lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_tools_list_names_each_tool_as_the_model_calls_it(capsys):
    assert main(["tools", "list", "--json"]) == 0
    listed = {t["key"]: t for t in lines(capsys.readouterr().out)}
    assert listed["calculator"]["name"] == "functions.calculator"
    assert listed["calculator"]["parameters"]["required"] == ["expression"]
    assert listed["current_time"]["reaches_network"] is False
    assert main(["tools", "list"]) == 0
    assert "functions.search_documents" in capsys.readouterr().out


def test_chat_with_tools_runs_the_call_and_prints_its_events(capsys, tiny_gpt_oss):
    with Store() as store:
        speak(store, tiny_gpt_oss, CALC_CALL, temperature=1.0)
    for seed in range(1, 30):  # until the random weights end the call with <|call|>
        status = main(["chat", "--model", str(tiny_gpt_oss), "--tools", "calculator", "--yes",
                       "--json", "--seed", str(seed), "--effort", "low", "What is six times seven?"])
        events = lines(capsys.readouterr().out)
        if any(e["type"] == "tool_result" for e in events):
            break
    assert status == 0
    kinds = [e["type"] for e in events]
    assert kinds.index("tool_call") < kinds.index("tool_started") < kinds.index("tool_result")
    result = next(e for e in events if e["type"] == "tool_result")
    assert (result["status"], result["result"]) == ("done", "42")
    assert events[-1]["type"] == "done"


def test_an_unknown_tool_is_one_error_line(capsys, tiny_gpt_oss):
    assert main(["chat", "--model", str(tiny_gpt_oss), "--tools", "teleport", "hi"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hearth: error: no tool named teleport; available: calculator")


def test_render_with_tools_and_a_date_equals_openai_harmony(capsys, monkeypatch, tiny_gpt_oss, tmp_path):
    weather = {"type": "function", "function": {
        "name": "get_weather", "description": "Gets the weather.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}}
    (tmp_path / "tools.json").write_text(json.dumps([weather]))
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "thinking": "Look it up.", "content": "",
         "tool_calls": [{"id": "c1", "type": "function",
                         "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "-3 °C, snow"},
    ]
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(conversation)))
    assert main(["render", "--model", str(tiny_gpt_oss), "--effort", "high",
                 "--tools", str(tmp_path / "tools.json"), "--date", "2026-01-02"]) == 0
    text, _ = reference(conversation, effort="high", date="2026-01-02", tools=[weather])
    assert capsys.readouterr().out == text


def mcp_file(tmp_path) -> str:
    """mcp.json (Claude Desktop's format) with one real MCP server: the SDK's, over stdio."""
    from pathlib import Path

    server = Path(__file__).with_name("fixtures") / "mcp_server.py"
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps({"mcpServers": {"math": {"command": sys.executable,
                                                        "args": [str(server)]}}}))
    return str(path)


def test_tools_list_shows_an_mcp_servers_tools_as_the_model_calls_them(capsys, tmp_path):
    assert main(["tools", "list", "--json", "--mcp", mcp_file(tmp_path)]) == 0
    listed = {t["key"]: t for t in lines(capsys.readouterr().out)}
    add = listed["mcp:math/add"]
    assert add["name"] == "functions.add" and add["source"] == "MCP: math"
    assert add["approval"] == "ask" and set(add["parameters"]["properties"]) == {"a", "b"}
    assert "mcp:math" in listed  # the whole server, as one choice


def test_chat_calls_an_mcp_tool_through_the_loop(capsys, tiny_gpt_oss, tmp_path):
    grammar = CALC_CALL.replace("functions.calculator", "functions.add").replace(
        '\\"expression\\":\\"6*7\\"', '\\"a\\":6,\\"b\\":36')
    with Store() as store:
        speak(store, tiny_gpt_oss, grammar, temperature=1.0)
    config = mcp_file(tmp_path)
    for seed in range(1, 30):
        status = main(["chat", "--model", str(tiny_gpt_oss), "--tools", "mcp:math", "--mcp", config,
                       "--yes", "--json", "--seed", str(seed), "--effort", "low", "Add six and 36"])
        events = lines(capsys.readouterr().out)
        if any(e["type"] == "tool_result" for e in events):
            break
    assert status == 0
    result = next(e for e in events if e["type"] == "tool_result")
    assert (result["status"], result["result"]) == ("done", "42")
