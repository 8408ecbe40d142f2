"""common.text: file names made safe to show and to store, whatever bytes they hold."""

from __future__ import annotations

import os
import sqlite3

from hypothesis import given
from hypothesis import strategies as st

from common.text import display_name, safe_text


def test_bytes_that_are_not_utf8_become_replacement_characters():
    raw = os.fsdecode(b"/tmp/\xff\xfe caf\xc3\xa9.txt")  # surrogate escapes, and real UTF-8
    assert display_name(raw) == "\\xff\\xfe café.txt"
    assert display_name(b"/tmp/\xff.txt") == "\\xff.txt"
    assert safe_text("lone \ud800 surrogate") == "lone \\ud800 surrogate"


def test_terminal_controls_are_shown_not_obeyed():
    assert display_name("\x1b[2J\x1b[31mred\x07\rok.txt") == "\\x1b[2J\\x1b[31mred\\x07\\x0dok.txt"
    assert display_name("a\x9bb\x7fc\u202eexe.txt") == "a\\x9bb\\x7fc\\u202eexe.txt"
    assert display_name("/some/folder/") == "folder"
    long = display_name("x" * 1000 + ".pdf")
    assert len(long) == 255 and long.endswith("x.pdf") and "…" in long


@given(st.binary(max_size=300))
def test_any_file_name_becomes_storable_visible_text(raw):
    name = display_name(os.fsdecode(raw.replace(b"/", b"_") or b"x"))
    name.encode("utf-8")  # no surrogates left
    assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in name)
    assert display_name(name) == name  # idempotent: names already shown stay as they are
    sqlite3.connect(":memory:").execute("SELECT ?", (name,))
