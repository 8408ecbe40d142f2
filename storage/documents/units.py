"""What extraction produces: text units with the location a citation needs.

A unit is a stretch of text that a chunk never crosses: a PDF page, a section under one
heading path, or a whole text file (whose chunks then carry line ranges).  Keeping the
location beside the text, rather than markers inside it, lets a passage quoted to the
model say "report.pdf, p. 12" without the chunker having to parse anything back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.errors import UserError

KINDS = ("pdf", "docx", "html", "markdown", "text", "code", "csv")
SECTION_SEPARATOR = " › "


class DocumentError(UserError):
    """A file Hearth cannot read, with a message meant for the user (not a bug)."""


@dataclass(frozen=True)
class Location:
    """Where a unit or chunk sits.  At most one field is set, by the document's kind:

    ``page``: PDF page, 1-based.  ``section``: heading path, ``"Intro › Setup"`` ('' is
    the text before the first heading).  ``lines``: first and last line of a text or
    code file, 1-based.  ``rows``: first and last row of a CSV file as a spreadsheet
    numbers them (the header is row 1).
    """

    page: int | None = None
    section: str | None = None
    lines: tuple[int, int] | None = None
    rows: tuple[int, int] | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, unset fields left out: ``{"page": 4}``, ``{"lines": [1, 40]}``."""
        out: dict[str, Any] = {}
        if self.page is not None:
            out["page"] = self.page
        if self.section is not None:
            out["section"] = self.section
        if self.lines is not None:
            out["lines"] = list(self.lines)
        if self.rows is not None:
            out["rows"] = list(self.rows)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Location:
        lines, rows = data.get("lines"), data.get("rows")
        return cls(
            page=data.get("page"),
            section=data.get("section"),
            lines=(int(lines[0]), int(lines[1])) if lines else None,
            rows=(int(rows[0]), int(rows[1])) if rows else None,
        )

    @property
    def span(self) -> tuple[int, int] | None:
        """The line or row range, whichever is set: the chunker narrows it per chunk."""
        return self.lines or self.rows

    def narrowed(self, first: int, last: int) -> Location:
        """This location with its line or row range replaced by ``first``–``last``."""
        if self.lines is not None:
            return Location(lines=(first, last))
        return Location(rows=(first, last))


@dataclass(frozen=True)
class Unit:
    text: str
    location: Location
    # Repeated at the top of every chunk cut from this unit: a CSV's header row, so a
    # passage of rows 800-840 still says what its columns are.
    header: str = ""


@dataclass(frozen=True)
class Extracted:
    units: tuple[Unit, ...]
    title: str | None  # from the file's metadata or first heading; None if it has none
    kind: str  # one of KINDS
    pages: int | None = None  # PDF page count (pages without text included); else None
    # What extraction skipped, for the user: "3 of 12 pages have no text layer".
    warnings: tuple[str, ...] = ()

    @property
    def chars(self) -> int:
        return sum(len(unit.text) for unit in self.units)
