"""An answer's provenance: model file, settings, seed, the prompt's hash, and Re-run exactly."""

from __future__ import annotations

import html

from app.core.provenance import Provenance
from app.core.sampling_defaults import describe_sources
from app.gui.qt import Qt, QtWidgets, Signal
from storage import Message

VALUE_WIDTH = 320


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
    effort = made.effort if message.stats else message.effort  # None: the model takes none
    rows = [("Model", model)]
    if effort:
        rows.append(("Reasoning effort", effort))
    if made.thinking is not None:
        rows.append(("Thinking", "on" if made.thinking else "off"))
    rows.append(("Sampling", sampling or "—"))
    if made.sampling_sources:  # "model card (SmolLM2)", "temperature: yours; …"
        rows.append(("Sampling from", describe_sources(made.sampling_sources, made.model_family)))
    rows.append(("Seed", "—" if made.seed is None else str(made.seed)))
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
        layout.setContentsMargins(14, 12, 14, 12)
        layout.setSpacing(8)
        # The popup is exactly as tall as what it says: a minimum size let the layout spread
        # the spare height as blank gaps above and below the title.
        layout.setSizeConstraint(QtWidgets.QLayout.SizeConstraint.SetFixedSize)
        title = QtWidgets.QLabel("How this answer was made")
        title.setObjectName("cardTitle")
        grid = QtWidgets.QFormLayout()
        grid.setVerticalSpacing(4)
        self.rows = provenance_rows(message, loaded_sha256)
        for label, value in self.rows:
            text = QtWidgets.QLabel(html.escape(value).replace("\n", "<br>"))
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            text.setWordWrap(True)
            text.setFixedWidth(VALUE_WIDTH)  # wrapped labels need a width to know their height
            text.setFixedHeight(text.heightForWidth(VALUE_WIDTH))
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


def show_info(window, message_id: int) -> InfoPopover | None:
    """How an answer was made, beside its action bar, with Re-run exactly."""
    message = window.store.messages.get(message_id)
    if message is None:
        return None
    widget = window.controller.message_widget(message_id)
    loaded = window.session.model
    sha = window.store.model_files.cached_sha256(loaded.path) if loaded else None
    popover = InfoPopover(message, sha, window)
    popover.rerun_requested.connect(window.controller.actions.rerun_exactly)
    anchor = widget.actions if widget is not None else window
    popover.move(anchor.mapToGlobal(anchor.rect().bottomLeft()))
    popover.show()
    return popover

