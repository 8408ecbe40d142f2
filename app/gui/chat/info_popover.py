"""An answer's provenance: model file, settings, seed, the prompt's hash, and Re-run exactly."""

from __future__ import annotations

import html

from app.gui.qt import Qt, QtWidgets, Signal
from storage import Message


def provenance(message: Message, loaded_sha256: str | None = None) -> list[tuple[str, str]]:
    """(label, value) rows describing how an answer was made."""
    s = message.stats
    sha = message.model_sha256
    model = message.model_name or "unknown"
    if sha:
        same = " (the model loaded now)" if loaded_sha256 == sha else ""
        model += f"\nsha256 {sha[:16]}…{same}"
    sampling = ", ".join(f"{k.replace('_', '-')} {s[k]}" for k in
                         ("temperature", "top_p", "top_k", "min_p", "max_tokens")
                         if s.get(k) not in (None, 0, 0.0) or k == "temperature")
    rows = [("Model", model), ("Reasoning effort", message.effort or "—"),
            ("Sampling", sampling or "—"), ("Seed", str(s.get("seed", "—")))]
    if s.get("prompt_sha256"):
        rows.append(("Prompt", f"sha256 {s['prompt_sha256'][:16]}…, "
                               f"{s.get('prompt_tokens', 0):,} tokens "
                               f"({s.get('cached_tokens', 0):,} reused from the cache)"))
    if s.get("prompt_date"):
        rows.append(("Date in the prompt", s["prompt_date"]))
    if s.get("instructions"):
        rows.append(("Instructions", s["instructions"][:200]))
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
        for label, value in provenance(message, loaded_sha256):
            text = QtWidgets.QLabel(html.escape(value).replace("\n", "<br>"))
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            text.setWordWrap(True)
            grid.addRow(label, text)
        self.rerun = QtWidgets.QPushButton("Re-run exactly")
        self.rerun.setToolTip("Ask again with the same model settings, seed and date: a new "
                              "branch, and its footer says whether it came out identical.")
        self.rerun.setEnabled("seed" in message.stats)
        self.rerun.clicked.connect(lambda: (self.close(), self.rerun_requested.emit(message.id)))
        layout.addWidget(title)
        layout.addLayout(grid)
        layout.addWidget(self.rerun, 0, Qt.AlignmentFlag.AlignRight)
        self.setMinimumWidth(420)
