"""Text with a very long run of one kind of character (50,000 "x", a wall of "=") used to
crash the process inside llama.cpp's tokenizer (its pre-tokenizer regex recursed once per
character and overflowed the stack). It is cut into pieces first; checked in child processes,
where a crash shows as a signal instead of taking pytest down."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from inference.prompt_tokens import RUN_LIMIT, bounded_pieces

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import sys, threading
sys.path.insert(0, {repo!r})
from inference.runtime import Engine, LoadOptions
engine = Engine({model!r}, LoadOptions(vocab_only=True))
text = {text}
def work():
    tokens = engine.tokenize(engine.render([{{"role": "user", "content": text}}], "low"))
    plain = engine.tokenize(text, special=False, add_bos=False)
    print(len(tokens) > len(text) // 64, len(plain) > 0)
threading.stack_size({stack})
t = threading.Thread(target=work)
t.start(); t.join()
"""


@pytest.mark.parametrize("text", ["'x' * 50_000", "'=' * 100_000", "'漢' * 100_000",
                                  "' ' * 50_000 + 'y'", "'ab' * 40_000"],
                         ids=["x", "equals", "han", "spaces", "ab"])
@pytest.mark.parametrize("stack", [512 * 1024, 8 * 1024 * 1024], ids=["macos-thread", "linux-thread"])
def test_a_long_run_of_one_character_tokenizes_without_crashing(tiny_gpt_oss, text, stack):
    code = CHILD.format(repo=str(REPO), model=str(tiny_gpt_oss), text=text, stack=stack)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (result.returncode, result.stderr[-500:])
    assert result.stdout.split() == ["True", "True"]


def test_ordinary_text_is_not_cut():
    text = "An ordinary paragraph, with words and spaces. " * 100
    assert bounded_pieces(text) == [text]


def test_pieces_join_back_and_never_split_a_marker():
    text = "x" * 300 + "<|start|>" + "y" * 1000
    pieces = bounded_pieces(text, special=True)
    assert "".join(pieces) == text
    assert all(len(p) <= RUN_LIMIT + len("<|start|>") for p in pieces)
    assert any("<|start|>" in p for p in pieces)
