"""Text from outside (file names above all) made safe to show, print and store.

A file name on Linux is bytes: Python hands back the ones that are not UTF-8 as lone
surrogates (b"\\xff" becomes "\\udcff"), which SQLite, Qt and a UTF-8 terminal refuse, and a
name may hold control characters ("\\x1b[2J" clears a terminal; "\\r" rewrites the line) or
format characters that reorder or hide text (a right-to-left override shows "exe.txt" as
"txt.exe"). Shown and stored names keep their readable characters and spell out the rest
(\\xff, \\x1b, \\u202e), so two files never look alike and nothing is interpreted; the real
path is kept for opening the file.
"""

from __future__ import annotations

import os
import re

# C0 and C1 controls, DEL, and the format characters that reorder or hide text (bidi
# overrides and isolates, zero-width marks, line and paragraph separators), lone surrogates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069"
                     "\ufeff\ud800-\udfff]")
MAX_NAME_CHARS = 255


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: str) -> str:
    """`text` as printable, valid Unicode: bytes that were not UTF-8 and unsafe characters
    spelled out as escapes. Idempotent."""
    if text.isascii() and text.isprintable():
        return text  # the common case, at no cost
    try:
        # Surrogate escapes back to their bytes, so valid UTF-8 split oddly decodes whole,
        # and the bytes that are not UTF-8 come out as \xNN.
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # surrogates that are not escapes (from JSON, say)
        pass
    return _UNSAFE.sub(lambda m: _escape(m.group()), text)


def display_text(text: str) -> str:
    return safe_text(text)


def display_name(path: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> str:
    """The last component of `path` (a name passes unchanged), safe to show in a message, a
    label or a terminal, and to store as text; long names are shortened in the middle."""
    raw = os.fsdecode(path)
    name = safe_text(os.path.basename(raw.rstrip("/" + os.sep)) or raw)
    if len(name) > MAX_NAME_CHARS:
        keep = (MAX_NAME_CHARS - 1) // 2
        name = f"{name[:keep]}…{name[-keep:]}"
    return name


def display_path(path: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> str:
    """The whole of `path`, safe to print or show in a label."""
    return safe_text(os.fsdecode(path))
