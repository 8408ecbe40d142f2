"""What a server's tools become for the model: names gpt-oss can call, vetted schemas, and
results as text; and the stdio reader's treatment of whatever bytes a server writes."""

from __future__ import annotations

import json

import mcp.shared.message  # noqa: F401 - the slow SDK import, here, not in a timed example
import mcp_types as types
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.tools.mcp_tools import (MAX_RESULT_CHARS, MAX_TOOLS_PER_SERVER, model_names,
                                      result_text, vet_listing)
from app.core.tools.mcp_transport import ServerOutput, _decode, _top_level_id

NAME = r"[A-Za-z0-9_]{1,64}"


def test_names_are_made_callable_by_gpt_oss():
    names = model_names([("s", "read-file"), ("s", "9lives"), ("s", "ünïcode"), ("s", "a.b/c")])
    assert list(names.values()) == ["read_file", "t_9lives", "n_code", "a_b_c"]


def test_a_name_two_servers_share_is_prefixed_for_both():
    names = model_names([("files", "search"), ("web", "search"), ("web", "fetch")])
    assert names == {("files", "search"): "files_search", ("web", "search"): "web_search",
                     ("web", "fetch"): "fetch"}


def test_names_that_still_clash_after_sanitising_get_a_number():
    names = model_names([("my-srv", "x"), ("my.srv", "x"), ("s", "a_b"), ("s", "a-b")])
    assert sorted(names.values()) == ["my_srv_x", "my_srv_x_2", "s_a_b", "s_a_b_2"]


@settings(max_examples=300, deadline=2000)
@given(st.lists(st.tuples(st.text(max_size=80), st.text(max_size=80)), max_size=12, unique=True),
       st.lists(st.text(max_size=10), max_size=3))
def test_names_are_always_callable_and_unique(offered, reserved):
    names = model_names(offered, reserved)
    values = [n.lower() for n in names.values()]
    assert len(set(values)) == len(values)
    assert not set(values) & {r.lower() for r in reserved}
    for name in names.values():
        assert len(name) <= 64 and name.replace("_", "").isascii()
        assert all(c.isalnum() or c == "_" for c in name) and not name[0].isdigit()


def test_a_server_offering_too_many_tools_has_the_rest_refused():
    listing = {"tools": [{"name": f"t{i}", "inputSchema": {"type": "object"}}
                         for i in range(MAX_TOOLS_PER_SERVER + 5)]}
    kept, refused = vet_listing(listing)
    assert len(kept["tools"]) == MAX_TOOLS_PER_SERVER and len(refused) == 5
    assert refused[0] == (f"t{MAX_TOOLS_PER_SERVER}", f"the server offers more than "
                          f"{MAX_TOOLS_PER_SERVER} tools")


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=6),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.sampled_from(["name", "inputSchema", "type", "object",
                                                       "properties", "$ref", "description"])
                                      | st.text(max_size=3), inner, max_size=5),
                    max_leaves=25)


@settings(max_examples=120, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(JSON, max_size=5))
def test_any_listing_is_vetted_without_error_and_keeps_only_object_schemas(tools):
    kept, refused = vet_listing({"tools": tools})
    assert len(kept["tools"]) + len(refused) == len(tools)
    for tool in kept["tools"]:
        assert isinstance(tool["name"], str) and tool["inputSchema"]["type"] == "object"
        types.Tool.model_validate(tool, by_name=False)  # what the SDK then accepts


def test_structured_only_results_are_shown_as_json():
    result = types.CallToolResult(content=[], structured_content={"temp": 21.5})
    assert result_text(result) == ('{"temp": 21.5}', False)


def test_blobs_are_described_not_dumped():
    blob = types.EmbeddedResource(type="resource", resource=types.BlobResourceContents(
        uri="file:///a.bin", blob="AAAA" * 3000, mime_type="application/zip"))
    result = types.CallToolResult(content=[blob], is_error=True)
    assert result_text(result) == ("[resource: file:///a.bin, application/zip, 9,000 bytes]", True)


def test_many_blocks_are_cut_as_a_whole():
    block = types.TextContent(type="text", text="y" * 30_000)
    text, _ = result_text(types.CallToolResult(content=[block] * 10))
    assert text.endswith(f"[cut: the tool returned 300,018 characters; only the first "
                         f"{MAX_RESULT_CHARS:,} are shown]")
    assert len(text) < MAX_RESULT_CHARS + 200


@settings(max_examples=400, deadline=2000)
@given(st.binary(max_size=300) | st.text(max_size=200).map(str.encode)
       | JSON.map(lambda v: json.dumps(v).encode()))
def test_any_line_a_server_writes_is_a_message_or_skipped(line):
    output = ServerOutput()
    message = _decode(line, output)
    assert message is None or hasattr(message, "message")


def test_an_unreadable_answer_still_finds_its_request():
    deep = b'{"jsonrpc": "2.0", "id": 7, "result": {"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    message = _decode(deep, ServerOutput()).message
    assert (message.id, message.error.message.startswith("The server's answer could not be read")
            ) == (7, True)
    # An "id" inside the result is not the answer's id.
    inner = b"[" * 5000 + b"]" * 5000
    assert _top_level_id(b'{"result": {"id": 1, "v": ' + inner + b'}, "id": "abc"}') == "abc"
