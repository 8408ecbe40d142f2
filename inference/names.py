"""File names made safe to show: a name on disk may be any bytes but "/" and NUL.

On Linux a name need not be UTF-8 (Python keeps the stray bytes as lone surrogates, which
cannot be encoded for a terminal or a Qt label), and it may hold control characters: an escape
sequence echoed raw can retitle the terminal or hide text. Shown names keep the file's readable
characters and spell out the rest (\\x1b, \\xff), so the user can still tell files apart.
"""

from __future__ import annotations

import os
import re

# C0 and C1 controls, DEL, and the format characters that reorder or hide text (bidi
# overrides and isolates, zero-width marks, line and paragraph separators).
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def display_text(text: str) -> str:
    """`text` (which may hold lone surrogates from undecodable bytes) as printable text."""
    if text.isascii() and text.isprintable():
        return text  # the common case, at no cost
    try:
        raw = text.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that did not come from a byte
        raw = text.encode("utf-8", errors="surrogatepass")
    decoded = raw.decode("utf-8", errors="backslashreplace")
    return _UNSAFE.sub(lambda m: _escape(m.group()), decoded)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def display_name(path: str | bytes | os.PathLike) -> str:
    """The last component of `path`, safe to print or show in a label."""
    return display_text(os.path.basename(os.fsdecode(path)))


def display_path(path: str | bytes | os.PathLike) -> str:
    """The whole of `path`, safe to print or show in a label."""
    return display_text(os.fsdecode(path))
