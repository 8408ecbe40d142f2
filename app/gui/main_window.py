"""The main window: sidebar | chat view + composer, a banner, a menu and a status bar."""

from __future__ import annotations

from app.core import model_library, preferences, prompt_library, startup
from app.gui import menus, startup_notice, theme
from app.gui.banner import Banner
from app.gui.chat import info_popover
from app.gui.chat.attachments import Attacher
from app.gui.chat.composer import Composer
from app.gui.chat.controller import ChatController
from app.gui.chat.drafts import Drafts
from app.gui.chat.view import ChatView
from app.gui.chat_files import ChatFiles
from app.gui.model_status import ModelStatus
from app.gui.models.downloads import DownloadManager
from app.gui.models.manager import ModelManager
from app.gui.models.welcome import WelcomePage
from app.gui.prompts.actions import PromptActions
from app.gui.prompts.palette import PromptPalette
from app.gui.prompts.preset_bar import PresetBar
from app.gui.qt import Qt, QtCore, QtGui, QtWidgets
from app.gui.session import ModelSession
from app.gui.settings_dialog import SettingsDialog
from app.gui.sidebar import Sidebar
from app.gui.window_drops import FileDrops
from app.gui.window_engines import WindowEngines
from app.gui.window_library import WindowLibrary
from app.gui.window_models import ModelChoice
from app.gui.window_tools import WindowTools
from storage import Store
from storage.startup import StartupReport

WINDOW_KEY = "window_state"  # geometry and splitter, restored at the next start
SIDEBAR_PAGE = 300  # chats listed before "Show older chats"
CHOOSE_MODEL = "Choose a model…"


class MainWindow(FileDrops, ModelChoice, QtWidgets.QMainWindow):
    def __init__(self, store: Store, report: StartupReport | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Hearth")
        self.resize(1100, 760)
        self.store = store
        # First, before anything is shown: an answer cut off by a crash is marked so.
        self.turns_lock = startup.TurnsLock(store.path.parent)
        startup.tidy(store, self.turns_lock)
        self.sidebar = Sidebar()
        self.chat_view = ChatView()
        self.composer = Composer()
        self.banner = Banner()
        # What start-up found wrong with the database (set aside, read-only): shown until dismissed.
        self.storage_banner = Banner()
        self.report = report
        self.session = ModelSession(store, self)
        self.controller = ChatController(store, self.chat_view, self.session, self)
        self.citation_box = self.info_popover = None  # open ones, kept for tests
        self.window_tools = WindowTools(self)  # the registry, the Tools menu, Tool settings
        self.composer.add_control(self.window_tools.button)
        self.library = WindowLibrary(self)  # library folders: indexer, settings, passages
        if not store.read_only:
            prompt_library.ensure_starters(store)
        self.preset_bar = PresetBar()
        self.palette = PromptPalette(store, self)
        self.composer.set_palette(self.palette)
        self.prompts = PromptActions(self)
        self.attacher = Attacher(store, self.composer.tray, self)
        self.drafts = Drafts(store, self.composer, self)
        self.downloads = DownloadManager(store, self)
        self.welcome = WelcomePage(store, self.downloads)
        self.manager: ModelManager | None = None
        self.settings_dialog: SettingsDialog | None = None
        self.desktop = None  # app/gui/desktop.py: the tray, quick ask, files from the desktop
        self.quitting = False  # Quit, not a close into the tray
        self._closed = False
        self._sidebar_all = False
        self.setAcceptDrops(True)  # files dropped anywhere on the window are attached
        self._banner_action = None  # what the banner's button does now
        self._effort_for = None  # the chat and preset the composer's effort was last set for

        right = QtWidgets.QWidget()
        column = QtWidgets.QVBoxLayout(right)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.banner)
        column.addWidget(self.preset_bar)
        column.addWidget(self.chat_view, 1)
        column.addWidget(self.composer)
        self.pages = QtWidgets.QStackedWidget()
        self.pages.addWidget(right)
        self.pages.addWidget(self.welcome)
        self.chat_page = right
        splitter = QtWidgets.QSplitter()
        splitter.addWidget(self.sidebar)
        splitter.addWidget(self.pages)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([240, 860])
        self.splitter = splitter
        central = QtWidgets.QWidget()  # the storage notice above everything, welcome page too
        outer = QtWidgets.QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self.storage_banner)
        outer.addWidget(splitter, 1)
        self.setCentralWidget(central)
        self._restore_window_state()
        self.drop_zone = QtWidgets.QLabel("Drop files here to attach them", self)
        self.drop_zone.setObjectName("dropZone")
        self.drop_zone.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.drop_zone.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.drop_zone.hide()
        self.composer.edit.installEventFilter(self)  # drags over the composer highlight too

        self.model_label = QtWidgets.QLabel("No model")
        self.speed_label = QtWidgets.QLabel()
        status = self.statusBar()
        status.addWidget(self.model_label, 1)
        status.addPermanentWidget(self.speed_label)
        self.chat_files = ChatFiles(self)
        self.window_engines = WindowEngines(self)  # a chat's own engine; the local API server
        menus.build(self)
        self._connect()
        self.refresh_conversations()
        conversations = store.conversations.list()
        if conversations:
            self.controller.open_conversation(conversations[0].id)
            self.sidebar.set_conversations(conversations, conversations[0].id)
        self.drafts.switch(self.controller.conversation_id)  # the open chat's draft, or a new one's
        self.model_status.show_no_model()
        self.composer.edit.setFocus()

    def _connect(self) -> None:
        c = self.controller
        self.composer.send_requested.connect(c.send)
        self.composer.stop_requested.connect(c.stop)
        self.sidebar.new_requested.connect(self.new_chat)
        self.sidebar.selected.connect(c.open_conversation)
        self.sidebar.rename_requested.connect(c.rename_conversation)
        self.sidebar.delete_requested.connect(c.delete_conversation)
        self.sidebar.pin_requested.connect(c.set_pinned)
        self.sidebar.export_requested.connect(self.chat_files.export)
        self.sidebar.show_older_requested.connect(self.show_all_conversations)
        self.banner.action_clicked.connect(lambda: self._banner_action and self._banner_action())
        c.conversations_changed.connect(self.refresh_conversations)
        c.busy_changed.connect(self.composer.set_generating)
        c.send_refused.connect(self._on_send_refused)
        c.turn_failed.connect(self.show_bug)
        self.model_status = ModelStatus(self)  # the label, the title, loading and failures
        c.defaults_changed.connect(self._on_defaults)
        self.welcome.model_chosen.connect(self.use_model)
        self.welcome.download_panel.finished.connect(self._on_download_finished)
        self.welcome.open_file_requested.connect(self.choose_model)
        self.welcome.add_folder_requested.connect(self.add_model_folder)
        c.stats_changed.connect(self._on_stats)
        c.context_changed.connect(self._on_context)
        c.messages_deleted.connect(lambda ids: self.show_banner(
            "Message deleted." if len(ids) == 1 else f"{len(ids)} messages deleted.", "info",
            "Undo", lambda: (c.actions.undo_delete(ids), self.banner.hide())))
        c.conversation_trashed.connect(lambda cid: self.show_banner(
            "Chat moved to the trash (emptied after 30 days).", "info", "Undo",
            lambda: (c.restore_conversation(cid), self.banner.hide())))
        c.edit_started.connect(self.composer.begin_edit)
        c.edit_cancelled.connect(self.composer.end_edit)
        c.info_requested.connect(self.show_info)
        c.citation_requested.connect(self.show_citation)
        c.effort_provider = lambda: self.composer.effort_name
        c.thinking_provider = self.composer.thinking_choice
        c.pending_documents = self.attacher.ready_ids
        c.conversation_opened.connect(lambda cid: self.drafts.switch(cid or None))
        c.conversation_trashed.connect(self.drafts.forget)
        c.speed_changed.connect(lambda tps: self.speed_label.setText(f"{tps:.1f} tokens/s"))
        self.attacher.changed.connect(c.measure_context)
        self.composer.thinking.toggled.connect(lambda _on: c.measure_context())
        self.composer.attach_requested.connect(self.attacher.attach)
        c.attachments_provider = self.attacher.take
        self.preset_bar.preset_chosen.connect(self.prompts.choose_preset)
        self.palette.chosen.connect(self.prompts.use_prompt)
        self.prompts.show_preset(None)
        self.composer.edit_last_requested.connect(c.actions.edit_last)
        self.composer.edit_cancel_requested.connect(c.cancel_edit)

    # -- reactions -----------------------------------------------------------------------------

    def refresh_conversations(self) -> None:
        # The newest SIDEBAR_PAGE chats: with ten thousand, building every row took ~0.2 s of
        # the GUI thread on each refresh. "Show older chats" lifts the cap.
        limit = None if self._sidebar_all else SIDEBAR_PAGE
        conversations = self.store.conversations.list(limit)
        hidden = self.store.conversations.count() - len(conversations) if limit else 0
        self.sidebar.set_conversations(conversations, self.controller.conversation_id, hidden=hidden)

    def show_all_conversations(self) -> None:
        self._sidebar_all = True
        self.refresh_conversations()

    def start(self) -> None:
        """At launch: say what start-up found, load the default model, or greet a newcomer."""
        startup_notice.show(self, self.report)
        remote = model_library.default_remote(self.store)
        if remote is not None:  # a model served elsewhere (Settings → Engines)
            self.session.load(remote)
            return
        default = model_library.default_model(self.store)
        if default is not None and default.is_file():
            self.session.load(str(default))
            return
        self.show_welcome()
        if default is not None:
            self.statusBar().showMessage(f"The default model is gone: {default}", 15000)

    def show_welcome(self) -> None:
        self.welcome.refresh()
        self.pages.setCurrentWidget(self.welcome)

    def show_chat(self) -> None:
        self.pages.setCurrentWidget(self.chat_page)
        self.composer.edit.setFocus()

    def new_chat(self) -> None:
        """New chat (the button, Ctrl+N): an empty chat with the cursor in the composer. No
        row is made until the first message is sent, and a chat still empty is reused, so
        pressing it twice leaves no empty "New chat" behind."""
        c = self.controller
        empty = not c.thread and not self.chat_view.messages()
        if not empty:
            c.open_conversation(None)
            self.refresh_conversations()
        self.show_chat()
        self.activateWindow()
        self.composer.edit.setFocus()

    def show_about(self) -> None:
        from app.gui.help import AboutDialog

        self.about_dialog = AboutDialog(self)  # kept for tests, alive while open
        self.about_dialog.open()

    def show_shortcuts(self) -> None:
        from app.gui.help import ShortcutsSheet

        self.shortcuts_sheet = ShortcutsSheet(self)  # kept for tests, alive while open
        self.shortcuts_sheet.open()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self.composer.fit_height()  # at most a third of the window

    def show_search(self) -> None:
        from app.gui.search_dialog import SearchDialog

        dialog = SearchDialog(self.store, self)
        dialog.open_requested.connect(self.open_search_hit)
        dialog.passage_requested.connect(self.library.show_source)
        dialog.open()
        self.search_dialog = dialog  # kept for tests, and alive while open

    def open_search_hit(self, conversation_id: int, message_id: int) -> None:
        self.show_chat()
        self.controller.show_message(conversation_id, message_id)
        self.refresh_conversations()

    def _restore_window_state(self) -> None:
        state = self.store.settings.get(WINDOW_KEY) or {}
        try:
            if state.get("geometry"):
                self.restoreGeometry(QtCore.QByteArray.fromBase64(state["geometry"].encode()))
            if state.get("splitter"):
                self.splitter.setSizes([int(x) for x in state["splitter"]])
        except (TypeError, ValueError):
            pass  # a damaged value: the defaults

    def _save_window_state(self) -> None:
        self.store.settings.set(WINDOW_KEY, {
            "geometry": bytes(self.saveGeometry().toBase64()).decode(),
            "splitter": self.splitter.sizes()})

    def show_settings(self) -> None:
        dialog = SettingsDialog(self.store, self)
        dialog.applied.connect(self.apply_preferences)
        dialog.library_requested.connect(self.library.show_settings)
        dialog.open()
        self.settings_dialog = dialog  # kept for tests and so it is not collected while open

    def apply_preferences(self, prefs: preferences.Preferences) -> None:
        self.controller.hide_reasoning = prefs.hide_reasoning
        self.apply_theme(prefs.theme)
        self.controller.refresh_defaults()  # the next turn's effort and sampling, no reload
        if self.desktop is not None:
            self.desktop.apply_preferences(prefs)  # the system-wide quick-ask key

    def apply_theme(self, choice: str) -> None:
        app = QtWidgets.QApplication.instance()
        theme.apply(app, choice)
        # Answers carry colours in their HTML (code highlighting): paint them again.
        self.controller.open_conversation(self.controller.conversation_id)

    def _on_defaults(self, defaults) -> None:
        """The open chat's defaults (its preset over the model's settings): the preset bar, and
        the composer's effort, unless the person moved the slider in this chat (loading
        another model leaves it where they put it)."""
        chat = (self.controller.conversation_id, defaults.preset.id if defaults.preset else None)
        if chat != self._effort_for:  # another chat, or another preset: its defaults again
            self._effort_for = chat
            self.composer.effort_chosen = False
        if not self.composer.effort_chosen:
            self.composer.set_effort(defaults.effort)
        self.prompts.show_preset(defaults.preset)
        if defaults.preset_error:
            self.show_banner(f"The chat's preset is left out: {defaults.preset_error}", "error")

    # -- trouble: a person's, or a bug (app/gui/errors.py) ----------------------------------------

    def show_error(self, message: str) -> None:
        self.show_banner(message, "error")

    def show_bug(self, exc: BaseException) -> None:
        from app.gui.errors import BugDialog

        dialog = BugDialog(exc, self)
        self.show_banner("Something went wrong inside Hearth. Your chats are safe.", "error",
                         "Details…", dialog.open)
        self.bug_dialog = dialog  # kept for tests, alive while the banner offers it

    def recover(self) -> None:
        """After an error escaped a slot: controls match what is really running."""
        self.controller.recover()
        self.composer.set_generating(self.controller.busy)

    def show_banner(self, text: str, kind: str, action: str | None = None, then=None) -> None:
        self._banner_action = then
        self.banner.show_message(text, kind, action)

    def _on_send_refused(self, text: str, why: str) -> None:
        self.composer.restore(text)
        self.statusBar().showMessage(why, 6000)
        if self.session.model is None and self.session.loading_path is None:
            self.show_banner(why, "info", CHOOSE_MODEL, self.show_welcome)

    def _on_stats(self, made) -> None:
        self.speed_label.setText(f"{made.decode_tps:.1f} tokens/s" if made.decode_tps else "")

    def _on_context(self, used: int, size: int) -> None:
        from inference.context import output_reserve

        self.composer.set_context(used, size, output_reserve(size))

    def show_citation(self, answer_id: int, key: int) -> None:
        self.citation_box = self.library.show_citation(answer_id, key) or self.citation_box

    def show_info(self, message_id: int) -> None:
        self.info_popover = info_popover.show_info(self, message_id) or self.info_popover

    def quit(self) -> None:
        """Quit (the menu, the tray): the window closes for good and the model is unloaded."""
        self.quitting = True
        self.close()
        QtWidgets.QApplication.instance().quit()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        if not self.quitting and self.desktop is not None and self.desktop.close_to_tray(event):
            return  # hidden in the tray, the model still loaded
        if not self._closed:  # once: a second close (at exit) finds the database closed
            self._closed = True
            self.attacher.closed = True
            if not self.store.read_only:
                self.drafts.save()
                self._save_window_state()
        if self.manager is not None:
            self.manager.close()  # before the database it reads closes
        self.downloads.shutdown()  # paused, not lost: the next start resumes from the .part file
        self.controller.shutdown()
        self.window_engines.stop()  # before the engine thread it serves from ends
        self.session.shutdown()
        self.window_tools.close()  # python workers, MCP servers: after the engine used them
        self.library.close()  # the indexer stops after its file; pending files wait
        self.turns_lock.release()
        super().closeEvent(event)
