"""The prompt library without Qt: variables, versions, import/export, starters, and what a
preset makes the model see (through the real gpt-oss template)."""

from __future__ import annotations

import json

import pytest

from app.cli.main import main
from app.core import prompt_library as pl
from inference.context import build_messages
from inference.runtime import Engine, LoadOptions
from storage.prompts import PromptError


@pytest.fixture
def library(store):
    pl.ensure_starters(store)
    return store


def test_variables_are_found_with_their_kinds_and_builtins_left_out(library):
    body = "Hi {{name}}, {{ tone : formal|casual }} {{text:long}} {{date}} {{name}}"
    assert [(v.name, v.kind, v.choices) for v in pl.variables(body)] == [
        ("name", "text", ()), ("tone", "choice", ("formal", "casual")), ("text", "long", ())]


def test_fill_replaces_every_variable_and_says_what_is_wrong(library):
    summarize = library.prompts.by_name("Summarize")
    text = pl.fill(summarize, {"length": "one sentence", "text": "Cats sleep a lot."})
    assert "as one sentence." in text and text.rstrip().endswith("Cats sleep a lot.")
    with pytest.raises(pl.PromptVariableError, match="needs a value for {{text}}"):
        pl.fill(summarize, {"length": "one sentence"})
    with pytest.raises(pl.PromptVariableError, match="must be one of"):
        pl.fill(summarize, {"length": "a haiku", "text": "x"})
    with pytest.raises(pl.PromptVariableError, match="has no variable {{colour}}"):
        pl.fill(summarize, {"length": "one sentence", "text": "x", "colour": "red"})
    quick = library.prompts.create(name="Fix selection", kind="quick", body="Fix: {{selection}}")
    with pytest.raises(pl.PromptVariableError, match="{{selection}}, which is empty"):
        pl.fill(quick, {})
    assert pl.fill(quick, {}, {"selection": "teh cat"}) == "Fix: teh cat"


def test_every_save_keeps_the_earlier_text_and_restore_brings_it_back(library):
    p = library.prompts.create(name="Greeting", kind="quick", body="Hello {{name}}")
    library.prompts.update(p.id, body="Hi {{name}}!")
    library.prompts.update(p.id, body="Hey {{name}}")
    assert library.prompts.update(p.id, body="Hey {{name}}") == library.prompts.get(p.id)  # no-op
    versions = library.prompts.versions(p.id)
    assert [v.fields["body"] for v in versions] == ["Hi {{name}}!", "Hello {{name}}"]
    library.prompts.restore(versions[-1].id)
    assert library.prompts.get(p.id).body == "Hello {{name}}"
    assert len(library.prompts.versions(p.id)) == 3  # the restore kept what it replaced


def test_bad_prompts_are_refused_and_change_nothing(library):
    before = library.prompts.list()
    for bad in ({"name": "", "body": "x"}, {"name": "X", "body": " "}, {"name": "/x", "body": "y"},
                {"name": "Y", "body": "y", "kind": "macro"}, {"name": "Z", "body": "z", "effort": "max"},
                {"name": "Summarize", "body": "dup"}):
        with pytest.raises(PromptError):
            library.prompts.create(**bad)
    assert library.prompts.list() == before


def test_a_prompt_may_ask_for_at_most_50_values(library):
    """More would be a form nobody fills in (10,000 froze the window): refused on save; the
    built-ins and a variable used twice count once or not at all."""
    fifty = " ".join(f"{{{{v{n}}}}}" for n in range(50)) + " {{v0}} {{date}} {{clipboard}}"
    saved = library.prompts.create(name="Fifty", body=fifty)
    assert len(pl.variables(saved.body)) == 50
    before = library.prompts.list()
    for body in (fifty + " {{one_more:long}}", " ".join(f"{{{{v{n}}}}}" for n in range(10_000))):
        with pytest.raises(PromptError) as caught:
            library.prompts.create(name="Too many", body=body)
        assert str(caught.value) == (f"“Too many” has {len(pl.variables(body)):,} variables; "
                                     "a prompt may have at most 50.")
        with pytest.raises(PromptError):
            library.prompts.update(saved.id, body=body)
    assert library.prompts.list() == before and library.prompts.versions(saved.id) == []


def test_duplicate_and_search_and_favourites_first(library):
    original = library.prompts.by_name("Translate")
    copy = library.prompts.duplicate(original.id)
    assert copy.name == "Translate (copy)" and copy.body == original.body
    assert [p.name for p in library.prompts.search("translation language")][:1] == ["Translate"]
    assert library.prompts.list()[0].favourite


@pytest.mark.parametrize("fmt", ["json", "md"])
def test_export_then_import_round_trips_and_keeps_versions(library, tmp_path, fmt):
    target = tmp_path / ("lib.json" if fmt == "json" else "lib")
    count = pl.export_library(library, target, fmt)
    assert count == len(library.prompts.list()) >= 7
    exported = {p.name: p.fields() for p in library.prompts.list()}
    changed = library.prompts.by_name("Rewrite")
    library.prompts.update(changed.id, body="Something else entirely")
    added, updated = pl.import_library(library, target)
    assert (added, updated) == (0, count)
    assert {p.name: p.fields() for p in library.prompts.list()} == exported
    assert library.prompts.versions(changed.id)[0].fields["body"] == "Something else entirely"


@pytest.mark.parametrize("content, message", [
    ("not json", "is not a prompt library file"),
    ('{"format": "other"}', "is not a Hearth prompt library"),
    ('{"format": "hearth.prompts", "version": 1, "prompts": [{"name": "A", "body": "a"}, {"name": "", "body": "b"}]}',
     "prompt 2: A prompt needs a name"),
    ('{"format": "hearth.prompts", "version": 1, "prompts": [{"name": "A", "body": "a"}, {"name": "a", "body": "b"}]}',
     "two prompts have the same name"),
])
def test_a_malformed_import_says_why_and_changes_nothing(library, tmp_path, content, message):
    before = library.prompts.list()
    path = tmp_path / "in.json"
    path.write_text(content)
    with pytest.raises(pl.PromptImportError, match=message):
        pl.import_library(library, path)
    assert library.prompts.list() == before


def test_markdown_without_front_matter_is_refused(library, tmp_path):
    folder = tmp_path / "md"
    folder.mkdir()
    (folder / "a.md").write_text("---\nname: Fine\nkind: quick\n---\nBody\n")
    (folder / "b.md").write_text("Just text, no front matter\n")
    with pytest.raises(pl.PromptImportError, match="b.md: no front matter"):
        pl.import_library(library, folder)
    assert library.prompts.by_name("Fine") is None


def test_starters_are_added_once_and_a_deleted_one_stays_deleted(store):
    assert pl.ensure_starters(store) >= 5
    names = {p.name for p in store.prompts.list()}
    assert {"Summarize", "Explain code", "Rewrite", "Translate", "Extract to table"} <= names
    store.prompts.delete(store.prompts.by_name("Translate").id)
    assert pl.ensure_starters(store) == 0 and store.prompts.by_name("Translate") is None


def test_a_preset_reaches_the_model_as_the_developer_message(library, tiny_gpt_oss):
    cid = library.conversations.create().id
    preset = library.prompts.by_name("Code reviewer")
    pl.set_preset(library, cid, preset)
    instructions, used = pl.instructions_for(library, cid)
    assert used.id == preset.id and instructions == preset.body
    engine = Engine(tiny_gpt_oss, LoadOptions(vocab_only=True))
    try:
        text = engine.render(build_messages(instructions, [{"role": "user", "content": "Hi"}]))
    finally:
        engine.close()
    developer = text[text.index("<|start|>developer<|message|>"):text.index("<|start|>user")]
    assert preset.body.strip() in developer
    with pytest.raises(PromptError, match="is a quick prompt, not a preset"):
        pl.set_preset(library, cid, library.prompts.by_name("Summarize"))


def test_hearth_chat_prompt_applies_a_quick_prompt_and_a_preset(capsys, smollm2_path):
    assert main(["chat", "--model", str(smollm2_path), "--json", "--save", "--max-tokens", "4",
                 "--prompt", "Translate", "--var", "language=French", "--var", "text=Good morning",
                 ""]) == 0
    done = json.loads(capsys.readouterr().out.splitlines()[-1])
    from storage import Store

    with Store() as store:
        user = store.messages.thread(done["conversation_id"])[0]
        expected = pl.fill(store.prompts.by_name("Translate"),
                           {"language": "French", "text": "Good morning"})
        assert user.content == expected
    assert main(["chat", "--model", str(smollm2_path), "--json", "--save", "--max-tokens", "4",
                 "--prompt", "Code reviewer", "print(1)"]) == 0
    done = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert done["stats"]["instructions"].startswith("You are a careful senior code reviewer")
    assert done["stats"]["temperature"] == 0.7 and done["stats"]["sampling_sources"]["temperature"] == "preset"
    with Store() as store:  # the preset's effort was asked for; SmolLM2 takes none, so its
        assert store.messages.get(done["message_id"]).effort == "high"  # record says none
    assert done["stats"]["effort"] is None
    assert main(["chat", "--model", str(smollm2_path), "--prompt", "Nope", "q"]) == 1
    assert "no saved prompt named 'Nope'" in capsys.readouterr().err
