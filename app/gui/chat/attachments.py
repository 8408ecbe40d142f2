"""Attachment chips above the composer: name, pages and size in tokens, or the reason a file
could not be read; removable. The reading happens on the pool (app.documents.ingest)."""

from __future__ import annotations

import logging

from app.core import documents
from app.gui.background import BackgroundOp
from app.gui.qt import QObject, Qt, QtCore, QtWidgets, Signal, isValid
from common.errors import UserError
from common.text import display_name
from common.units import format_bytes
from storage import Store

log = logging.getLogger(__name__)


class AttachmentChip(QtWidgets.QFrame):
    remove_requested = Signal(object)  # the chip

    def __init__(self, name: str, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("attachmentChip")
        self.name = name
        self.document_id: int | None = None
        self.error: str | None = None
        self.title = QtWidgets.QLabel(name)
        self.title.setObjectName("chipName")
        self.detail = QtWidgets.QLabel("Reading…")
        self.detail.setObjectName("chipDetail")
        self.detail.setWordWrap(True)
        close = QtWidgets.QToolButton()
        close.setText("×")
        close.setAutoRaise(True)
        close.setToolTip("Remove")
        close.clicked.connect(lambda: self.remove_requested.emit(self))
        text = QtWidgets.QVBoxLayout()
        text.setSpacing(0)
        text.addWidget(self.title)
        text.addWidget(self.detail)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addLayout(text, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.setMaximumWidth(320)

    @property
    def ready(self) -> bool:
        return self.document_id is not None

    def set_progress(self, fraction: float) -> None:
        self.detail.setText(f"Reading… {fraction:.0%}")

    def set_document(self, document) -> None:
        self.document_id = document.id
        parts = []
        if document.pages:
            parts.append(f"{document.pages} page{'s' if document.pages != 1 else ''}")
        parts.append(f"~{document.approx_tokens:,} tokens")
        parts.append(format_bytes(document.size))
        self.detail.setText(" · ".join(parts))
        self.setToolTip("\n".join(document.warnings))

    def set_error(self, message: str) -> None:
        self.error = message
        self.detail.setText(message)
        self.setProperty("error", True)
        self.style().polish(self)


class AttachmentTray(QtWidgets.QWidget):
    """The chips waiting to go with the next message."""

    removed = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._layout = QtWidgets.QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 4)
        self._layout.addStretch(1)
        self.hide()

    def chips(self) -> list[AttachmentChip]:
        return [self._layout.itemAt(i).widget() for i in range(self._layout.count() - 1)]

    def add(self, name: str) -> AttachmentChip:
        chip = AttachmentChip(name)
        chip.remove_requested.connect(self.remove)
        self._layout.insertWidget(self._layout.count() - 1, chip)
        self.show()
        return chip

    def remove(self, chip: AttachmentChip) -> None:
        self._layout.removeWidget(chip)
        chip.deleteLater()
        self.setVisible(bool(self.chips()))
        self.removed.emit()

    def take_ready(self) -> list[AttachmentChip]:
        """The chips that go with the message now (read fine); they leave the tray."""
        ready = [c for c in self.chips() if c.ready]
        for chip in ready:
            self.remove(chip)
        return ready

    @property
    def busy(self) -> bool:
        return any(not c.ready and c.error is None for c in self.chips())


class _Relay(QObject):
    """Carries a worker thread's progress to the GUI thread (a queued signal)."""

    progress = QtCore.Signal(float)


class Attacher(QObject):
    """Reads attached files into the document library on the pool, one chip each, and hands
    the ready ones to the message being sent."""

    changed = Signal()  # a document became ready or left the tray: the context meter follows

    def __init__(self, store: Store, tray: AttachmentTray, parent=None) -> None:
        super().__init__(parent)
        self.store, self.tray = store, tray
        tray.removed.connect(self.changed)
        self.closed = False  # the window closed: results of reads still running are dropped

    def attach(self, paths: list) -> None:
        for path in paths:
            chip = self.tray.add(display_name(path))
            # Progress from the pool thread, queued here. Owned by this object, not the chip:
            # a chip removed mid-read must not delete what the worker still emits on.
            relay = _Relay(self)
            relay.progress.connect(lambda f, chip=chip: isValid(chip) and chip.set_progress(f))
            store_path = self.store.path

            def work(path=path, relay=relay):
                with Store(store_path) as store:  # a connection of the pool thread's own
                    return documents.ingest(
                        store, path, progress=lambda done, total, r=relay:
                        total and r.progress.emit(done / total))

            def failed(exc, chip=chip, relay=relay):
                relay.deleteLater()
                if not isinstance(exc, UserError):
                    log.error("reading %s failed", path, exc_info=exc)
                if isValid(chip):
                    chip.set_error(str(exc) if isinstance(exc, UserError)
                                   else "Hearth could not read this file (a bug; see the log).")

            def done(doc, chip=chip, relay=relay):
                relay.deleteLater()
                if isValid(chip):
                    chip.set_document(doc)
                    self.changed.emit()

            BackgroundOp(self, work, alive=lambda: not self.closed).success(done) \
                .failure(failed).run_in_background()

    def ready_ids(self) -> tuple[int, ...]:
        """The documents ready to go with the next message (they stay in the tray)."""
        return tuple(chip.document_id for chip in self.tray.chips() if chip.ready)

    def take(self) -> tuple[int, ...] | None:
        """The document ids going with the message being sent; None while a file is still
        being read (the send waits, the text stays)."""
        if self.tray.busy:
            return None
        return tuple(chip.document_id for chip in self.tray.take_ready())
