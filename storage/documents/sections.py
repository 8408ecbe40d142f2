"""Turn a stream of headings and lines into one unit per section (DOCX, HTML, Markdown).

Each section's location is its heading path, "Intro › Setup": a heading of level n closes
every open heading of level n or deeper, as an outline does.  The section's text starts
with its heading written the Markdown way ("## Setup"), so a chunk shown to the model
still says what it is about, and search finds a section by its heading's words.
"""

from __future__ import annotations

from .units import SECTION_SEPARATOR, Location, Unit


class SectionBuilder:
    def __init__(self) -> None:
        self._path: list[tuple[int, str]] = []  # (level, heading text), outermost first
        self._lines: list[str] = []
        self._units: list[Unit] = []
        self.first_heading: str | None = None  # a title for documents without one

    def heading(self, level: int, text: str, shown: str | None = None) -> None:
        """Start a section.  ``shown`` is how the heading appears in the text
        (default: ``"#" * level + " " + text``)."""
        text = " ".join(text.split())
        if not text:
            return
        self._flush()
        if self.first_heading is None:
            self.first_heading = text
        self._path = [(lvl, t) for lvl, t in self._path if lvl < level] + [(level, text)]
        self._lines.append(shown if shown is not None else "#" * min(level, 6) + " " + text)
        self._lines.append("")

    def line(self, text: str) -> None:
        self._lines.append(text.rstrip())

    def blank(self) -> None:
        """A paragraph break: the chunker prefers to cut there."""
        if self._lines and self._lines[-1] != "":
            self._lines.append("")

    def finish(self) -> list[Unit]:
        self._flush()
        return self._units

    def _flush(self) -> None:
        text = "\n".join(self._lines).strip("\n")
        self._lines = []
        if text.strip():
            section = SECTION_SEPARATOR.join(t for _, t in self._path)
            self._units.append(Unit(_squeeze_blank_lines(text), Location(section=section)))


def _squeeze_blank_lines(text: str) -> str:
    out: list[str] = []
    for line in text.split("\n"):
        if line.strip() or (out and out[-1] != ""):
            out.append(line if line.strip() else "")
    return "\n".join(out).strip("\n")
