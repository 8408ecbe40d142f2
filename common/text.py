"""Text from outside (file names above all) made safe to show and to store.

A file name on Linux is bytes: Python hands back the ones that are not UTF-8 as lone
surrogates (b"\\xff" becomes "\\udcff"), which SQLite, Qt and a UTF-8 terminal refuse, and
a name may hold terminal escape sequences ("\\x1b[2J" clears the screen; "\\r" rewrites the
line shown). Every message, label and stored name built from a file name goes through
:func:`display_name`; the real path is kept for opening the file.
"""

from __future__ import annotations

import os
import re

# C0 and C1 controls, DEL; bidirectional overrides and isolates, which can show a name
# reversed ("Trojan source"); line and paragraph separators; lone surrogates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069"
                     "\u2028\u2029\ud800-\udfff]")
MAX_NAME_CHARS = 255


def _visible(match: re.Match[str]) -> str:
    char = match.group(0)
    if char < "\x20":
        return chr(0x2400 + ord(char))  # the Unicode "control picture": ␛ for ESC, ␍ for CR
    if char == "\x7f":
        return "\u2421"  # ␡
    return "\ufffd"


def safe_text(text: str) -> str:
    """``text`` with bytes that were not UTF-8 replaced by U+FFFD and control characters
    shown as symbols: valid Unicode that no terminal interprets. Idempotent."""
    try:
        # Surrogate escapes back to their bytes, so valid UTF-8 split oddly decodes whole.
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # surrogates that are not escapes (from JSON, say)
        pass
    return _UNSAFE.sub(_visible, text)


def display_name(path: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> str:
    """The last component of ``path`` (a name passes unchanged), safe to show in a
    message, a label or a terminal, and to store as text; long names are shortened in
    the middle."""
    name = os.path.basename(os.fsdecode(path).rstrip("/" + os.sep)) or os.fsdecode(path)
    name = safe_text(name)
    if len(name) > MAX_NAME_CHARS:
        keep = (MAX_NAME_CHARS - 1) // 2
        name = f"{name[:keep]}…{name[-keep:]}"
    return name
