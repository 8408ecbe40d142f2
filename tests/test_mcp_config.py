"""The MCP configuration file: other apps' files import as they are, bad ones are refused
with a message naming the server and the field, and a refused import changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.tools.mcp_config import (MCPConfig, MCPConfigError, ServerConfig, config_path,
                                       import_config, load_config, parse_config, save_config)
from common.errors import UserError

SAMPLES = Path(__file__).parent / "fixtures" / "mcp"


def test_claude_desktops_file_parses_as_it_is():
    config = load_config(SAMPLES / "claude_desktop_config.json")
    files, brave = config.servers
    assert files.name == "filesystem" and files.transport == "stdio"
    assert files.command == "npx"
    assert files.args == ("-y", "@modelcontextprotocol/server-filesystem",
                          "/Users/username/Desktop", "/Users/username/Downloads")
    assert brave.env == (("BRAVE_API_KEY", "YOUR_API_KEY_HERE"),)
    assert not files.reaches_network and not files.disabled


def test_lm_studios_remote_server_parses():
    (server,) = load_config(SAMPLES / "lmstudio_mcp.json").servers
    assert server.transport == "http" and server.reaches_network
    assert server.url == "https://huggingface.co/mcp"
    assert server.headers == (("Authorization", "Bearer <YOUR_HF_TOKEN>"),)


def test_vs_codes_servers_key_and_type_field_are_understood():
    config = parse_config(json.dumps({"servers": {
        "a": {"type": "stdio", "command": "run-a"},
        "b": {"type": "http", "url": "http://localhost:8000/mcp"}}}))
    assert [s.transport for s in config.servers] == ["stdio", "http"]


def test_disabled_servers_are_kept_but_marked():
    config = parse_config('{"mcpServers": {"x": {"command": "x", "disabled": true}}}')
    assert config.servers[0].disabled


def test_a_missing_file_is_an_empty_configuration(tmp_path):
    assert load_config(tmp_path / "mcp.json") == MCPConfig()


@pytest.mark.parametrize("text, expected", [
    ("{not json", "not valid JSON (line 1, column 2)"),
    ("[1, 2]", "must hold a JSON object"),
    ('{"other": {}}', 'no "mcpServers"'),
    ('{"mcpServers": []}', "must be an object of servers"),
    ('{"mcpServers": {"fs": "npx"}}', "'fs' must be an object"),
    ('{"mcpServers": {"fs": {"command": "npx", "args": "-y"}}}', "'fs': \"args\" must be a list"),
    ('{"mcpServers": {"fs": {"command": "npx", "args": ["-y", 3]}}}',
     "'fs': \"args[1]\" must be a string, not a number"),
    ('{"mcpServers": {"fs": {"command": 7}}}', "'fs': \"command\" must be a string"),
    ('{"mcpServers": {"fs": {"command": "  "}}}', "'fs': \"command\" is empty"),
    ('{"mcpServers": {"fs": {"command": "x", "env": {"PORT": 8080}}}}',
     "'fs': \"env.PORT\" must be a string, not a number"),
    ('{"mcpServers": {"fs": {"command": "x", "cwd": "relative/dir"}}}',
     "'fs': \"cwd\" must be an absolute path"),
    ('{"mcpServers": {"fs": {"command": "x", "url": "http://h/mcp"}}}',
     "both \"command\" and \"url\""),
    ('{"mcpServers": {"fs": {"args": []}}}', "'fs' needs \"command\""),
    ('{"mcpServers": {"web": {"url": "ftp://host/mcp"}}}', "'web': \"url\" is 'ftp://host/mcp'"),
    ('{"mcpServers": {"web": {"url": "http://h/mcp", "headers": {"X": "a\\r\\nInjected: 1"}}}}',
     "'web': \"headers.X\" is not a valid HTTP header"),
    ('{"mcpServers": {"web": {"type": "sse", "url": "http://h/sse"}}}', "\"type\" is \"sse\""),
    ('{"mcpServers": {"fs": {"command": "x", "disabled": "yes"}}}',
     "\"disabled\" must be true or false"),
    ('{"mcpServers": {"fs": {"command": "a"}, "fs": {"command": "b"}}}', "'fs' appears twice"),
    ('{"mcpServers": {"": {"command": "a"}}}', "is empty, too long"),
])
def test_bad_files_are_refused_naming_the_server_and_the_field(text, expected):
    with pytest.raises(MCPConfigError) as caught:
        parse_config(text)
    assert expected in str(caught.value)
    assert isinstance(caught.value, UserError)


def test_import_merges_keeps_unknown_fields_and_replaces_same_names(tmp_path):
    data = tmp_path / "data"
    save_config(config_path(data), MCPConfig((
        ServerConfig(name="mine", command="my-server"),
        ServerConfig(name="filesystem", command="old-command"))))
    assert import_config(SAMPLES / "claude_desktop_config.json", data) == ["filesystem",
                                                                           "brave-search"]
    merged = load_config(config_path(data))
    assert [s.name for s in merged.servers] == ["mine", "filesystem", "brave-search"]
    assert merged.get("filesystem").command == "npx"

    # A field Hearth does not know survives a rewrite.
    source = tmp_path / "other.json"
    source.write_text(json.dumps({"mcpServers": {
        "x": {"command": "x", "autoApprove": ["read"], "timeout": 30}}}))
    import_config(source, data)
    saved = json.loads(config_path(data).read_text())["mcpServers"]["x"]
    assert saved["autoApprove"] == ["read"] and saved["timeout"] == 30


def test_a_refused_import_changes_nothing(tmp_path):
    data = tmp_path / "data"
    save_config(config_path(data), MCPConfig((ServerConfig(name="mine", command="m"),)))
    before = config_path(data).read_bytes()
    bad = tmp_path / "bad.json"
    bad.write_text('{"mcpServers": {"ok": {"command": "a"}, "broken": {"command": ["a"]}}}')
    with pytest.raises(MCPConfigError, match="'broken'"):
        import_config(bad, data)
    with pytest.raises(MCPConfigError, match="does not exist"):
        import_config(tmp_path / "missing.json", data)
    assert config_path(data).read_bytes() == before
    assert sorted(p.name for p in data.iterdir()) == ["mcp.json"]  # no temporary left


def test_an_oversized_file_is_refused_without_reading_it_all(tmp_path):
    path = tmp_path / "mcp.json"
    path.write_text('{"mcpServers": {}, "pad": "' + "x" * (2 * 1024 * 1024) + '"}')
    with pytest.raises(MCPConfigError, match="larger than"):
        load_config(path)


def test_saved_configuration_loads_back_equal(tmp_path):
    config = MCPConfig((
        ServerConfig(name="a", command="/bin/a", args=("--x",), env=(("K", "v"),), cwd="/tmp"),
        ServerConfig(name="b", url="https://h/mcp", headers=(("X-Key", "k"),), disabled=True)))
    save_config(tmp_path / "mcp.json", config)
    assert load_config(tmp_path / "mcp.json") == config


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.sampled_from(["command", "args", "env", "url",
                                                       "headers", "cwd", "type", "disabled",
                                                       "mcpServers", "x"]) | st.text(max_size=4),
                                      inner, max_size=5),
                    max_leaves=20)


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(servers=st.dictionaries(st.text(max_size=6), JSON, max_size=4))
def test_any_json_parses_or_is_refused_as_a_user_error(servers):
    try:
        parse_config(json.dumps({"mcpServers": servers}))
    except MCPConfigError:
        pass


@settings(max_examples=200, deadline=2000)
@given(text=st.text(max_size=200))
def test_any_text_parses_or_is_refused_as_a_user_error(text):
    try:
        parse_config(text)
    except MCPConfigError:
        pass
