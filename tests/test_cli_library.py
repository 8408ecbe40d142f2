"""`hearth library add|remove|list|status|reindex` and `hearth search`, on real folders: what a
shell sees (stdout, stderr, exit status, JSON lines)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fixtures.library import BAD_NAME, write_hostile, write_library

from app.cli.main import main
from storage import Store

REPO = Path(__file__).resolve().parents[1]


def hearth(capsys, *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def test_add_indexes_in_the_foreground_and_status_says_what_was_skipped(capsys, tmp_path):
    root = write_library(tmp_path / "Docs")
    reasons = write_hostile(root / "odd")
    status, out, err = hearth(capsys, "library", "add", str(root))
    assert status == 0 and f"Added {root}" in err
    assert out.strip() == (f"5 files indexed, {len(reasons)} skipped "
                           "(`hearth library status` says why)")
    status, out, _ = hearth(capsys, "library", "status")
    assert out.splitlines()[0] == f"5 indexed, {len(reasons)} skipped, 0 pending, in 1 folder"
    assert "  skipped Docs/odd/pipe.txt: a pipe (FIFO), not a file" in out.splitlines()
    status, out, _ = hearth(capsys, "library", "status", "--json")
    report = json.loads(out)
    assert (report["indexed"], report["skipped"], report["pending"]) == (5, len(reasons), 0)
    assert {s["path"] for s in report["skipped_files"]} == {f"odd/{r}" for r in reasons}
    status, out, _ = hearth(capsys, "library", "list", "--json")
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert row["name"] == "Docs" and row["path"] == str(root) and row["indexed"] == 5


def test_reindex_picks_up_changes_and_search_prints_files_and_pages(capsys, tmp_path):
    root = write_library(tmp_path / "Docs")
    hearth(capsys, "library", "add", str(root))
    (root / "notes" / "todo.txt").unlink()
    (root / "new.md").write_text("Kestrels hover over the motorway verge.\n")
    status, out, _ = hearth(capsys, "library", "reindex")
    assert status == 0 and out.strip() == "4 files indexed"
    status, out, _ = hearth(capsys, "search", "crevasses", "--json")
    (hit,) = [json.loads(line) for line in out.splitlines()]
    assert (hit["type"], hit["source"], hit["page"]) == ("passage", "Docs/survey.pdf", 3)
    assert hit["path"] == str(root / "survey.pdf") and "crevasses" in hit["snippet"]
    with Store() as store:
        chat = store.conversations.create("Birds")
        store.messages.add(chat.id, "user", "Do kestrels hover?")
    status, out, _ = hearth(capsys, "search", "kestrel")
    assert out.splitlines() == [
        "Chats (1):", "  Birds · You · message 1", "    Do kestrels hover?",
        "Library (1):", "  Docs/new.md", f"    {root / 'new.md'}",
        "    Kestrels hover over the motorway verge."]
    status, _, err = hearth(capsys, "search", "nothing-matches-this")
    assert status == 0 and err.strip() == "No matches."


def test_search_says_when_a_match_is_in_the_reasoning_and_bounds_its_limit(capsys):
    with Store() as store:
        chat = store.conversations.create("Owls")
        question = store.messages.add(chat.id, "user", "Which bird?")
        store.messages.add(chat.id, "assistant", "The barn owl.", reasoning="owls, not kestrels",
                           parent_id=question.id)
    status, out, _ = hearth(capsys, "search", "kestrels", "--chats")
    assert status == 0 and out.splitlines()[1] == "  Owls · Reasoning · message 2"
    status, out, _ = hearth(capsys, "search", "kestrels", "--json")
    assert json.loads(out)["in_reasoning"] is True
    for bad in ("0", "-1", "10000000", "many"):
        try:
            main(["search", "kestrels", "--limit", bad])
        except SystemExit as exc:  # argparse's usage error, before any search
            assert exc.code == 2
        else:
            raise AssertionError(f"--limit {bad} was taken")
        assert "give a number from 1 to 1000" in capsys.readouterr().err


def test_remove_forgets_the_folder_and_its_index(capsys, tmp_path):
    root = write_library(tmp_path / "Docs")
    hearth(capsys, "library", "add", str(root))
    status, out, _ = hearth(capsys, "library", "remove", "docs")  # by name, any case
    assert status == 0 and out.startswith(f"Removed {root} and its index entries")
    with Store() as store:
        assert store.library.folders() == [] and store.documents.list() == []
    assert (root / "survey.pdf").exists()
    status, _, err = hearth(capsys, "library", "remove", "docs")
    assert status == 1 and err.startswith("hearth: error: no library folder 'docs'")
    status, _, err = hearth(capsys, "library", "add", str(tmp_path / "missing"))
    assert status == 1 and err.strip() == f"hearth: error: {tmp_path / 'missing'} is not a folder " \
                                          "Hearth can open."


def test_a_real_shell_sees_safe_names_and_one_json_object_per_line(tmp_path):
    root = tmp_path / "Odd"
    root.mkdir()
    with open(os.path.join(os.fsencode(root), os.fsencode(BAD_NAME)), "wb") as f:
        f.write(b"Escape \x1b[2J sequences and the word tamarind.\n")
    env = dict(os.environ)
    run = lambda *args: subprocess.run([sys.executable, "-m", "app.cli", *args],  # noqa: E731
                                       cwd=REPO, capture_output=True, timeout=120, env=env)
    added = run("library", "add", str(root))
    assert added.returncode == 0 and added.stdout == b"1 file indexed\n"
    assert b"\r" not in added.stderr  # no progress line when stderr is not a terminal
    found = run("search", "tamarind")
    assert found.returncode == 0 and b"\x1b" not in found.stdout
    assert b"caf\\xe9-notes.txt" in found.stdout and b"\\x1b[2J" in found.stdout
    as_json = run("search", "tamarind", "--json")
    (hit,) = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert hit["source"] == "Odd/caf\\xe9-notes.txt"


def test_a_throwaway_hearth_chat_searches_the_library(capsys, tmp_path, tiny_gpt_oss):
    """`hearth chat` without --save keeps the turn in memory; the tool still reads the
    library from the data folder's database."""
    from fixtures.gui import speak
    from fixtures.tiny_models import calling

    hearth(capsys, "library", "add", str(write_library(tmp_path / "Docs")))
    with Store() as store:
        speak(store, tiny_gpt_oss, calling("functions.search_documents",
                                           '{"query":"crevasses","folder":"Docs"}'),
              temperature=1.0)
    for _attempt in range(20):  # random weights: until the call ends with <|call|>
        status, out, _ = hearth(capsys, "chat", "--model", str(tiny_gpt_oss), "--tools",
                                "search_documents", "--json", "How many crevasses?")
        results = [json.loads(line) for line in out.splitlines()
                   if json.loads(line).get("type") == "tool_result"]
        if results:
            break
    assert "[1] Docs/survey.pdf, p. 3" in results[0]["result"]
