"""Hostile GGUF files (tests/fixtures/hostile_gguf.py): each is refused with its own one-line
reason, in bounded time and memory, before it can crash Hearth or abort llama.cpp under it; a
model folder holding one still lists every good model.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.hostile_gguf import CORPUS, Case, header, kv, raw_gguf
from gguf import GGUFValueType as T
from inference.gguf_file import ModelFileError, check_gguf, check_model
from inference.models.discovery import Locations, discover, find_in_folders
from common.text import display_name
from inference.runtime import Engine, LoadOptions

ROOT = Path(__file__).resolve().parents[1]
MEMORY_LIMIT = 2 << 30  # address space of the child: far below what the harmful files took
# What Hearth does with a model: check it, load it in llama.cpp, tokenize and generate.
LOAD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
from common.errors import UserError
from inference.runtime import Engine, LoadOptions
from inference.sampling import Sampling
try:
    with Engine(sys.argv[1], LoadOptions(n_ctx=512)) as engine:
        prompt = engine.tokenize("hello, world\\n")
        list(engine.generate(prompt, Sampling(max_tokens=2, seed=1)))
    print("LOADED")
except UserError as exc:
    print("REFUSED:", exc)
"""


def ids(case: Case) -> str:
    return case.name


def load_in_child(path: Path) -> subprocess.Popen:
    """Load `path` as the app would, in a child process under a memory limit."""
    return subprocess.Popen(
        [sys.executable, "-c", LOAD.format(limit=MEMORY_LIMIT), str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ,
             "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])},
    )


# Every case that killed the process (llama.cpp's GGML_ASSERT → SIGABRT, a SIGSEGV), ran it out
# of memory or hung it, and those only the engine refuses.
IN_A_CHILD = [c for c in CORPUS if c.harm in ("abort", "memory", "hang") or c.stage == "engine"]


@pytest.fixture(scope="module")
def children(tmp_path_factory, tiny_gpt_oss) -> dict[str, tuple[int, str, str]]:
    """(exit status, stdout, stderr) of loading each of IN_A_CHILD in its own child process,
    run a few at a time: each is alone in its process, and the suite waits for the slowest."""
    folder = tmp_path_factory.mktemp("hostile")
    pending = [(case.name, case.make(folder, tiny_gpt_oss)) for case in IN_A_CHILD]
    results, running = {}, []
    while pending or running:
        while pending and len(running) < 4:
            name, path = pending.pop()
            running.append((name, load_in_child(path)))
        name, child = running.pop(0)
        try:  # a bound far above normal: a load of the tiny model takes well under a second
            out, err = child.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            out, err = child.communicate()
            err += "\n(still running after 60 s: killed)"
        results[name] = (child.returncode, out, err)
    return results


@pytest.mark.parametrize("case", [c for c in CORPUS if c.stage != "engine"], ids=ids)
def test_check_model_refuses_each_hostile_file_with_its_reason(case, tmp_path, tiny_gpt_oss):
    path = case.make(tmp_path, tiny_gpt_oss)

    with pytest.raises(ModelFileError) as refused:
        check_model(path)

    message = str(refused.value)
    assert case.message in message
    assert message.startswith(path.name) and message.isprintable()  # one line, no escapes


@pytest.mark.parametrize("case", IN_A_CHILD, ids=ids)
def test_files_that_used_to_abort_or_exhaust_memory_are_refused_in_a_live_process(
        case, children):
    """Loaded the way the app loads a model (check, llama.cpp, tokenize, generate) under a
    2 GB address-space limit: exit 0 with Hearth's message, not a signal."""
    returncode, out, err = children[case.name]

    assert returncode == 0, err[-2000:]
    assert out.startswith("REFUSED: ") and case.message in out, out


@pytest.mark.parametrize("case", CORPUS, ids=ids)
def test_one_hostile_file_in_a_folder_leaves_the_good_model_usable(case, tmp_path, tiny_gpt_oss):
    folder = tmp_path / "models"
    folder.mkdir()
    os.link(tiny_gpt_oss, folder / "good.gguf")
    bad = case.make(folder, tiny_gpt_oss)

    found = {m.path.name: m for m in discover(Locations(folders=[folder]))}

    good = found["good.gguf"]
    assert good.error is None and good.info.architecture == "gpt-oss"
    if case.stage == "header":
        assert found[bad.name].info is None
        assert case.message in found[bad.name].error
    else:  # its vocabulary is checked when it is loaded, not in a scan
        assert found[bad.name].error is None


def test_a_folder_of_every_hostile_file_lists_them_all_as_broken_and_the_good_one_usable(
        tmp_path, tiny_gpt_oss):
    folder = tmp_path / "models"
    folder.mkdir()
    os.link(tiny_gpt_oss, folder / "good.gguf")
    bad = {case.make(folder, tiny_gpt_oss).name: case for case in CORPUS}

    found = {m.path.name: m for m in find_in_folders([folder])}

    assert sorted(found) == sorted([*bad, "good.gguf"])
    assert found["good.gguf"].error is None
    broken = {name for name, m in found.items() if m.error}
    assert broken == {name for name, case in bad.items() if case.stage == "header"}


def test_names_that_are_not_utf8_or_hold_terminal_escapes(tmp_path, tiny_gpt_oss):
    folder = os.fsencode(tmp_path)
    good = folder + b"/caf\xe9 \xff.gguf"  # Latin-1 bytes: not UTF-8
    os.link(tiny_gpt_oss, good)
    evil = folder + b"/\x1b]0;owned\x07\x1b[2J.gguf"  # would retitle and clear a terminal
    raw_gguf(Path(os.fsdecode(evil)), header([kv("general.alignment", T.STRING, "x")]))

    found = {m.display_name: m for m in find_in_folders([tmp_path])}

    assert sorted(found) == ["\\x1b]0;owned\\x07\\x1b[2J", "caf\\xe9 \\xff"]
    for model in found.values():
        shown = model.display_name + model.display_path + (model.error or "")
        assert shown.isprintable() and shown.encode("utf-8")
    assert found["caf\\xe9 \\xff"].error is None
    assert found["\\x1b]0;owned\\x07\\x1b[2J"].error.startswith(
        "\\x1b]0;owned\\x07\\x1b[2J.gguf is not a valid GGUF model: its general.alignment")
    # The bytes name itself works everywhere a path does.
    assert check_model(good).architecture == check_gguf(good).architecture == "gpt-oss"
    with Engine(good, LoadOptions(n_ctx=512)) as engine:
        assert engine.tokenize("hi")
    with pytest.raises(ModelFileError, match=r"^\\x1b\]0;owned\\x07\\x1b\[2J\.gguf is not a"):
        check_model(evil)


def test_display_names_spell_out_what_cannot_be_shown():
    assert display_name("/models/Qwen3-8B-Q4_K_M.gguf") == "Qwen3-8B-Q4_K_M.gguf"
    assert display_name(b"/m/\xff.gguf") == "\\xff.gguf"
    assert display_name("/m/日本語 model.gguf") == "日本語 model.gguf"  # readable text stays
    assert display_name("/m/a\u202egguf.exe") == "a\\u202egguf.exe"  # right-to-left override
    assert display_name("/m/\x1b[31mred\x9b.gguf") == "\\x1b[31mred\\x9b.gguf"


def test_a_fifo_named_like_a_model_does_not_block(tmp_path):
    fifo = tmp_path / "pipe.gguf"
    os.mkfifo(fifo)

    with pytest.raises(ModelFileError, match="pipe.gguf is not a file"):
        check_model(fifo)
    assert find_in_folders([tmp_path]) == []
