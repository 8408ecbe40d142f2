"""The window's side of engines beyond the one loaded by hand: a chat set to a model (Settings
→ Engines, "Use for this chat") loads it when opened, and Hearth's local API server runs
while the window is open, if Settings → Local server turned it on, sharing the window's
engine thread. The status bar says when other apps are using the model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.core import engines
from app.core.server import local_settings
from app.core.server.backend import Activity, ApiBackend
from app.core.server.runner import ApiServer, ServerError
from app.gui.background import GuiCall
from app.gui.qt import QObject, QtWidgets

if TYPE_CHECKING:
    from app.gui.main_window import MainWindow


class WindowEngines(QObject):
    def __init__(self, win: MainWindow) -> None:
        super().__init__(win)
        self.win = win
        self.server: ApiServer | None = None
        self.error: str | None = None  # why the server is not running although it is on
        self.activity = Activity()
        self.label = QtWidgets.QLabel()
        self.label.setObjectName("facts")
        self.label.hide()
        win.statusBar().addPermanentWidget(self.label)
        self._on_gui = GuiCall(self)
        win.controller.conversation_opened.connect(self._on_chat_opened)
        self.apply(local_settings.load(win.store))

    # -- a chat's own engine -----------------------------------------------------------------

    def _on_chat_opened(self, conversation_id: int) -> None:
        if not conversation_id or self.win.controller.busy:
            return
        wanted = engines.chat_engine(self.win.store, conversation_id)
        session = self.win.session
        current = session.model.path if session.model else session.loading_path
        if wanted and wanted != current:
            session.load(wanted)

    # -- the local server ----------------------------------------------------------------------

    def apply(self, settings: local_settings.LocalServer) -> str | None:
        """Start, stop or restart the server as `settings` say; the reason if it cannot start."""
        self.stop()
        self.error = None
        if settings.enabled:
            backend = ApiBackend(self.win.session.host,
                                 on_activity=lambda a: self._on_gui(lambda: self._show(a)),
                                 record_chats=settings.record,
                                 on_recorded=lambda _id: self._on_gui(self.win.refresh_conversations))
            try:
                self.server = ApiServer(backend, settings.server_settings(local_settings.api_key()))
                self.server.start()
            except ServerError as exc:
                self.server, self.error = None, str(exc)
        self._show(Activity())
        return self.error

    def _show(self, activity: Activity) -> None:
        self.activity = activity
        if self.server is None:
            self.label.setVisible(self.error is not None)
            self.label.setText(f"API server off: {self.error}" if self.error else "")
            return
        if activity.running or activity.waiting:
            waiting = f", {activity.waiting} waiting" if activity.waiting else ""
            self.label.setText(f"API: answering another app{waiting}")
        else:
            self.label.setText(f"API: {self.server.url}")
        self.label.setToolTip("Hearth's OpenAI-compatible server (Settings → Local server)")
        self.label.show()

    @property
    def busy(self) -> bool:
        return bool(self.activity.running or self.activity.waiting)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
