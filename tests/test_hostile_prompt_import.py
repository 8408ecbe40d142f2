"""Hostile prompt imports (tests/fixtures/hostile_files.py writes them): each refused with
one line naming the file, in bounded time and memory, and the library left exactly as it
was. The bombs and the FIFO run through `hearth prompts import` in a capped child, so a
regression fails the test instead of hanging it or exhausting the machine."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest
from fixtures import hostile_files as hostile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core import prompt_library as pl
from storage import prompt_files


def snapshot(store) -> list:
    """Everything an import could change."""
    return [list(store.db.query(f"SELECT * FROM {table} ORDER BY id"))
            for table in ("prompts", "prompt_versions")]


def refused(store, source) -> str:
    """The one-line message of a refused import, after checking nothing changed."""
    before = snapshot(store)
    with pytest.raises(pl.PromptImportError) as caught:
        pl.import_library(store, source)
    assert snapshot(store) == before
    message = str(caught.value)
    assert "\n" not in message and len(message) < 300
    return message


def import_in_child(source) -> tuple[int, str]:
    """`hearth prompts import source` in a capped child: exit status and its stderr."""
    code = f"import sys; from app.cli.main import main; sys.exit(main(['prompts', 'import', {str(source)!r}]))"
    result = hostile.run_limited(code)
    return result.returncode, result.stderr.strip()


@pytest.fixture
def library(store):
    pl.ensure_starters(store)
    return store


def test_a_yaml_alias_bomb_is_refused_at_the_first_anchor(library, tmp_path):
    folder = hostile.yaml_alias_bomb(tmp_path)  # before: 6 GB, then MemoryError
    status, err = import_in_child(folder)
    assert (status, err) == (1, "hearth: error: laughs.md: the front matter is refused: anchors "
                                "and aliases (&name, *name) are not allowed in front matter.")
    assert "anchors and aliases" in refused(library, folder)


def test_a_fifo_named_md_is_refused_without_blocking(library, tmp_path):
    folder = hostile.fifo_prompt(tmp_path)  # before: open() waited for a writer forever
    status, err = import_in_child(folder)
    assert (status, err) == (1, "hearth: error: pipe.md is not a regular file (a pipe or a "
                                "device); Hearth did not read it.")
    fifo_library = tmp_path / "library.json"
    os.mkfifo(fifo_library)
    assert refused(library, fifo_library) == ("library.json is not a regular file (a pipe or a "
                                              "device); Hearth did not read it.")


@pytest.mark.parametrize("make, message", [
    (hostile.latin1_prompt, "café.md is not UTF-8 text (byte 0xE9 at position 13); save it as "
                            "UTF-8 and import it again."),
    (hostile.symlink_loop_prompt, "loop.md: a symbolic link that loops back on itself; Hearth "
                                  "did not follow it."),
    (hostile.folder_named_md, "drafts.md is a folder, not a prompt file."),
    (hostile.sparse_huge_prompt, "huge.md is 4.3 GB; Hearth imports files of up to 1 MB."),
    (hostile.deep_json_library, "deep.json is nested too deeply to be a prompt library."),
    (hostile.deep_yaml_prompt, "deep.md: the front matter is refused: it is nested more than 16 "
                               "levels deep."),
])
def test_odd_files_in_an_import_get_a_message_naming_them(library, tmp_path, make, message):
    assert refused(library, make(tmp_path)) == message  # before: tracebacks or a hang


def test_front_matter_too_long_to_be_real_is_not_parsed(library, tmp_path):
    folder = hostile.deep_yaml_prompt(tmp_path, depth=100_000)
    assert refused(library, folder) == ("deep.md: the front matter is longer than 16,000 "
                                        "characters.")


@pytest.mark.parametrize("field, message", [
    ({"name": ["a", "list"]}, "'name' must be text, not a list."),
    ({"name": 2024}, "'name' must be text, not a number."),
    ({"name": "\x1b[2Jclear"}, "'name' holds control characters (such as terminal escapes)."),
    ({"name": "\ud800 lone"}, "'name' holds characters that are not valid Unicode text."),
    ({"kind": {"a": 1}}, "'kind' must be text, not a mapping."),
    ({"tags": {"a": 1}}, "'tags' must be a list of words."),
    ({"tags": ["ok", 3]}, "'tags' must be a list of words."),
    ({"effort": 5}, "'effort' must be text, not a number."),
    ({"effort": "max"}, "'effort' must be one of low, medium, high, not “max”."),
    ({"temperature": "hot"}, "'temperature' must be a number, not text."),
    ({"temperature": True}, "'temperature' must be a number, not true/false."),
    ({"temperature": 7}, "Temperature must be between 0 and 2."),
    ({"favourite": "yes"}, "'favourite' must be true or false, not text."),
    ({"n_ctx": 4096.5}, "'n_ctx' must be a whole number of tokens, not a number."),
    ({"body": ["text"]}, "'body' must be text, not a list."),
])
def test_every_field_is_type_checked(library, tmp_path, field, message):
    path = hostile.library_json(tmp_path, [{"name": "Good", "body": "Fine."},
                                           {"name": "Bad", "body": "Text.", **field}])
    assert refused(library, path) == f"library.json: prompt 2: {message}"


@pytest.mark.parametrize("front, message", [
    ("name: 2024-13-45", "the front matter is not valid YAML (month must be in 1..12)."),
    ("name: x\nn_ctx: " + "9" * 5000, "the front matter is not valid YAML (Exceeds the limit "
     "(4300 digits) for integer string conversion: value has 5000 digits; use "
     "sys.set_int_max_str_digits() to increase the limit)."),
    ("name: x\ntags: !!python/object:os.system ls", "the front matter is not valid YAML "
     "(could not determine a constructor for the tag 'tag:yaml.org,2002:python/object:os.system'"
     ", line 3, column 7)."),
    ("name: [unclosed", "the front matter is not valid YAML (expected ',' or ']', but got "
     "'<stream end>', line 2, column 16)."),
])
def test_yaml_values_python_cannot_build_are_refused(library, tmp_path, front, message):
    folder = hostile.prompt_folder(tmp_path)
    (folder / "odd.md").write_text(f"---\n{front}\n---\nBody\n", encoding="utf-8")
    assert refused(library, folder) == f"odd.md: {message}"


def test_json_numbers_and_names_past_the_limits(library, tmp_path):
    path = tmp_path / "big-number.json"
    path.write_text('{"format": "hearth.prompts", "version": 1, "prompts": [{"n_ctx": '
                    + "9" * 5000 + "}]}")
    assert refused(library, path).startswith("big-number.json is not a prompt library file "
                                             "(Exceeds the limit (4300 digits)")
    path = hostile.library_json(tmp_path, [{"name": "A", "body": "a"}, {"name": "a", "body": "b"}])
    assert refused(library, path) == "library.json: two prompts have the same name (“a”)."


def test_counts_and_totals_are_bounded(library, tmp_path, monkeypatch):
    folder = hostile.prompt_folder(tmp_path)
    for n in range(4):
        (folder / f"p{n}.md").write_text(f"---\nname: P{n}\n---\nBody {n}\n", encoding="utf-8")
    monkeypatch.setattr(prompt_files, "MAX_FILES", 3)
    assert refused(library, folder) == "prompts holds more than 3 .md files; import them in " \
                                       "smaller folders."
    monkeypatch.setattr(prompt_files, "MAX_FILES", 100)
    monkeypatch.setattr(prompt_files, "MAX_LIBRARY_BYTES", 100)
    assert refused(library, folder) == "prompts: its .md files hold more than 100 B together."
    monkeypatch.setattr(prompt_files, "MAX_LIBRARY_BYTES", 10_000)
    monkeypatch.setattr(prompt_files, "MAX_TOTAL_FRONT_MATTER_CHARS", 30)
    assert refused(library, folder) == ("prompts: its files' front matter is longer than 30 "
                                        "characters together.")
    monkeypatch.setattr(prompt_files, "MAX_TOTAL_FRONT_MATTER_CHARS", 10_000)
    assert pl.import_library(library, folder) == (5, 0)


def test_a_prompt_with_too_many_variables_is_refused(library, tmp_path):
    """A form of 10,000 fields froze the window; an import is checked as a save is."""
    body = " ".join(f"{{{{field{n}}}}}" for n in range(10_000))
    folder = hostile.prompt_folder(tmp_path)
    (folder / "form.md").write_text(f"---\nname: Form\n---\n{body}\n", encoding="utf-8")
    assert refused(library, folder) == ("form.md: “Form” has 10,000 variables; a prompt may "
                                        "have at most 50.")
    path = hostile.library_json(tmp_path, [{"name": "Form", "body": body}])
    assert refused(library, path) == ("library.json: prompt 1: “Form” has 10,000 variables; a "
                                      "prompt may have at most 50.")


def test_a_good_folder_and_library_still_import_whole(library, tmp_path):
    folder = hostile.prompt_folder(tmp_path)
    (folder / "tagged.md").write_text("---\nname: Tagged\nkind: preset\ntags: [a, b]\n"
                                      "effort: high\ntemperature: 0.5\nfavourite: true\n"
                                      "n_ctx: 8192\n---\nBe brief.\n", encoding="utf-8")
    (folder / ".hidden.md").write_text("not a prompt")
    (folder / "notes.txt").write_text("not a prompt either")
    assert pl.import_library(library, folder) == (2, 0)
    tagged = library.prompts.by_name("Tagged")
    assert (tagged.kind, tagged.tags, tagged.effort, tagged.temperature, tagged.favourite,
            tagged.n_ctx, tagged.body) == ("preset", ("a", "b"), "high", 0.5, True, 8192,
                                           "Be brief.\n")
    path = tmp_path / "lib.json"
    path.write_text(json.dumps({"format": "hearth.prompts", "version": 1, "prompts": [
        {"name": "Tagged", "body": "Be briefer.", "tags": "x, y", "extra": [[[1]]]}]}))
    assert pl.import_library(library, path) == (0, 1)
    assert library.prompts.by_name("Tagged").tags == ("x", "y")


FRONT = st.lists(st.sampled_from(["name: X", "name: [a, b]", "kind: preset", "tags: [a, 1]",
                                  "&a x", "*a", "[", "{", "]", ": ", "- ", "\n", "  ", "---",
                                  "temperature: 1e9", "effort: high", "!!binary aGk=", '"\\ud800"',
                                  "é", "\t", "\x00", "n_ctx: 99999"]),
                 max_size=30).map("".join)


@settings(max_examples=120, deadline=timedelta(seconds=5),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.one_of(st.binary(max_size=600),
                      FRONT.map(lambda f: f"---\n{f}\n---\nBody\n".encode("utf-8", "replace"))),
       as_json=st.booleans())
def test_fuzz_prompt_files(tmp_path_factory, data, as_json):
    """Any bytes, as a Markdown prompt or a JSON library: prompts or PromptImportError."""
    folder = tmp_path_factory.mktemp("fuzz")
    if as_json:
        source = folder / "lib.json"
        source.write_bytes(data)
    else:
        source = folder
        (folder / "p.md").write_bytes(data)
    try:
        prompts = prompt_files.read_library(source)
    except prompt_files.PromptImportError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert all(isinstance(p["name"], str) and isinstance(p["body"], str) for p in prompts)
