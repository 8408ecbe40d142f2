"""Files dragged onto the window: a highlight while they hover, attached to the chat when
dropped (the composer's children report drags too, through the event filter). A mixin of
MainWindow, which owns the drop zone and the attacher."""

from __future__ import annotations

from app.gui.qt import QtCore


class FileDrops:
    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
            self.show_drop_zone(True)

    def dragLeaveEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.show_drop_zone(False)

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.show_drop_zone(False)
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            self.show_chat()
            self.attacher.attach(files)
            event.acceptProposedAction()

    def show_drop_zone(self, shown: bool) -> None:
        """The highlight while files are dragged over the window: dropping attaches them."""
        if shown:
            self.drop_zone.setGeometry(self.centralWidget().geometry().adjusted(12, 12, -12, -12))
            self.drop_zone.raise_()
        self.drop_zone.setVisible(shown)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        kind = event.type()
        if kind == QtCore.QEvent.Type.DragEnter and event.mimeData().hasUrls():
            self.show_drop_zone(True)
        elif kind in (QtCore.QEvent.Type.DragLeave, QtCore.QEvent.Type.Drop):
            self.show_drop_zone(False)
        return super().eventFilter(watched, event)
