"""An answer's provenance: model file, settings, seed, the prompt's hash, and Re-run exactly."""

from __future__ import annotations

import html

from app.core.provenance import Provenance
from app.gui.qt import Qt, QtWidgets, Signal
from storage import Message


def provenance_rows(message: Message, loaded_sha256: str | None = None) -> list[tuple[str, str]]:
    """(label, value) rows describing how an answer was made."""
    made = Provenance.from_json(message.stats)
    sha = message.model_sha256
    model = message.model_name or "unknown"
    if sha:
        same = " (the model loaded now)" if loaded_sha256 == sha else ""
        model += f"\nsha256 {sha[:16]}…{same}"
    sampling = ", ".join(f"{name} {value}" for name, value in (
        ("temperature", made.temperature), ("top-p", made.top_p), ("top-k", made.top_k),
        ("min-p", made.min_p), ("max-tokens", made.max_tokens))
        if value not in (None, 0, 0.0) or name == "temperature")
    rows = [("Model", model), ("Reasoning effort", message.effort or "—"),
            ("Sampling", sampling or "—"), ("Seed", "—" if made.seed is None else str(made.seed))]
    if made.prompt_sha256:
        rows.append(("Prompt", f"sha256 {made.prompt_sha256[:16]}…, {made.prompt_tokens:,} tokens "
                               f"({made.cached_tokens:,} reused from the cache)"))
    if made.prompt_date:
        rows.append(("Date in the prompt", made.prompt_date))
    if made.instructions:
        rows.append(("Instructions", made.instructions[:200]))
    if made.dropped_messages:
        rows.append(("Left out", f"the {made.dropped_messages} oldest messages (they did not fit)"))
    return rows


class InfoPopover(QtWidgets.QFrame):
    rerun_requested = Signal(int)

    def __init__(self, message: Message, loaded_sha256: str | None = None, parent=None) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.setObjectName("infoPopover")
        self.message = message
        layout = QtWidgets.QVBoxLayout(self)
        title = QtWidgets.QLabel("How this answer was made")
        title.setObjectName("cardTitle")
        grid = QtWidgets.QFormLayout()
        for label, value in provenance_rows(message, loaded_sha256):
            text = QtWidgets.QLabel(html.escape(value).replace("\n", "<br>"))
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            text.setWordWrap(True)
            grid.addRow(label, text)
        self.rerun = QtWidgets.QPushButton("Re-run exactly")
        self.rerun.setToolTip("Ask again with the same model settings, seed and date: a new "
                              "branch, and its footer says whether it came out identical.")
        made = Provenance.from_json(message.stats)
        self.rerun.setEnabled(made.replayable)  # offered only where it can be exact
        if not made.replayable:
            self.rerun.setToolTip(made.why_not_replayable)
        self.rerun.clicked.connect(lambda: (self.close(), self.rerun_requested.emit(message.id)))
        layout.addWidget(title)
        layout.addLayout(grid)
        layout.addWidget(self.rerun, 0, Qt.AlignmentFlag.AlignRight)
        self.setMinimumWidth(420)
