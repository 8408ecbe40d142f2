"""What the window does with saved prompts: the palette's pick, the preset bar, the library
window, and the variables form they need. The prompt text itself comes from the Qt-free
app.prompt_library, exactly as for `hearth chat --prompt`."""

from __future__ import annotations

from app.core import prompt_library
from app.gui.prompts.library_window import PromptLibraryWindow
from app.gui.prompts.variables_dialog import VariablesDialog
from app.gui.qt import QObject, QtGui, QtWidgets


class PromptActions(QObject):
    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.store = window.store
        self.library: PromptLibraryWindow | None = None
        self.variables_dialog: VariablesDialog | None = None  # the open form (tests answer it)

    def show_library(self) -> None:
        if self.library is None:
            self.library = PromptLibraryWindow(self.store, self.window)
            self.library.library_changed.connect(lambda: self.show_preset(None, keep=True))
        self.library.show()
        self.library.raise_()

    def _chat_selection(self) -> str:
        for widget in self.window.chat_view.messages():
            for label in widget.findChildren(QtWidgets.QLabel):
                if label.hasSelectedText():
                    return label.selectedText()
        return ""

    def _ask_values(self, prompt, initial: dict | None = None) -> dict | None:
        """The prompt's variables from a small form; {} when it has none; None if cancelled."""
        if not prompt_library.variables(prompt.body):
            return {}
        self.variables_dialog = VariablesDialog(prompt, initial, self.window)
        if self.variables_dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
            return None
        return self.variables_dialog.values()

    def use_prompt(self, prompt) -> None:
        """From the / palette: a quick prompt goes into the composer, a preset applies."""
        composer = self.window.composer
        if prompt.kind == "preset":
            composer.edit.clear()
            self.choose_preset(prompt.id)
            return
        values = self._ask_values(prompt)
        if values is None:
            return
        builtins = {"clipboard": QtGui.QGuiApplication.clipboard().text(),
                    "selection": self._chat_selection()}
        try:
            text = prompt_library.fill(prompt, values, builtins)
        except prompt_library.PromptVariableError as exc:
            self.window.show_banner(str(exc), "error")
            return
        composer.insert_prompt_text(text)

    def choose_preset(self, preset_id) -> None:
        controller = self.window.controller
        if controller.conversation_id is None:
            controller.new_conversation()
        cid = controller.conversation_id
        preset = self.store.prompts.get(preset_id) if preset_id is not None else None
        values = {}
        if preset is not None:
            values = self._ask_values(preset, prompt_library.preset_values(self.store, cid))
            if values is None:  # cancelled: the bar shows what is really in use
                controller.refresh_defaults()
                return
        try:
            prompt_library.set_preset(self.store, cid, preset, values)
        except (prompt_library.PromptVariableError, ValueError) as exc:
            self.window.show_banner(str(exc), "error")
        controller.refresh_defaults()  # the bar, and the composer's effort if the preset has one

    def show_preset(self, preset, keep: bool = False) -> None:
        """The preset bar lists the presets, showing `preset` (or, with keep, what it shows)."""
        bar = self.window.preset_bar
        current = bar.current if keep else (preset.id if preset else None)
        bar.set_presets(self.store.prompts.list("preset"), current)
