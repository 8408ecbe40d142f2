"""Help: About Hearth (versions, the llama.cpp build and what it runs on, the data folder),
the keyboard shortcuts sheet, and the log folder."""

from __future__ import annotations

import html
from importlib import metadata

from app.core import logs
from app.gui.qt import Qt, QtCore, QtGui, QtWidgets
from storage import default_data_dir

# Keys the composer and lists handle themselves (no menu action carries them).
COMPOSER_KEYS = (
    ("Send the message", "Enter"),
    ("New line in the message", "Shift+Enter"),
    ("Edit your last message (empty composer)", "Up"),
    ("Saved prompts palette (empty composer)", "/"),
    ("Stop the answer, or leave editing", "Esc"),
)


def hearth_version() -> str:
    try:
        return metadata.version("hearth")
    except metadata.PackageNotFoundError:  # run from a checkout without installing
        return "development copy"


def open_folder(path) -> None:
    """Show a folder in the desktop's file manager (made first, so it exists to show)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass
    QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(path)))


def _key_text(sequence: QtGui.QKeySequence) -> str:
    return sequence.toString(QtGui.QKeySequence.SequenceFormat.NativeText)


def window_shortcuts(window: QtWidgets.QMainWindow) -> list[tuple[str, str]]:
    """(what it does, keys) for every action of the window's menus and of the window itself
    that has a shortcut, then the composer's own keys."""
    rows, seen = [], set()

    def visit(actions) -> None:
        for action in actions:
            if action.menu() is not None:
                visit(action.menu().actions())
                continue
            keys = [_key_text(s) for s in action.shortcuts() if not s.isEmpty()]
            if keys and id(action) not in seen:
                seen.add(id(action))
                name = action.text().replace("&", "").removesuffix("…").strip()
                rows.append((name, " or ".join(dict.fromkeys(keys))))

    visit(window.menuBar().actions())
    visit(window.actions())
    return rows + [row for row in COMPOSER_KEYS if row[1] not in {r[1] for r in rows}]


class ShortcutsSheet(QtWidgets.QDialog):
    def __init__(self, window: QtWidgets.QMainWindow) -> None:
        super().__init__(window)
        self.setWindowTitle("Keyboard shortcuts")
        self.rows = window_shortcuts(window)
        self.table = QtWidgets.QTableWidget(len(self.rows), 2)
        self.table.setObjectName("shortcutsTable")
        self.table.setHorizontalHeaderLabels(["", "Keys"])
        self.table.horizontalHeader().hide()
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for row, (what, keys) in enumerate(self.rows):
            self.table.setItem(row, 0, QtWidgets.QTableWidgetItem(what))
            key = QtWidgets.QTableWidgetItem(keys)
            font = key.font()
            font.setBold(True)
            key.setFont(font)
            self.table.setItem(row, 1, key)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.table.setWordWrap(False)
        self.table.resizeRowsToContents()
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        height = sum(self.table.rowHeight(r) for r in range(len(self.rows))) + 70
        self.resize(520, min(720, height))


class AboutDialog(QtWidgets.QDialog):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        from inference.build_info import llama_build

        self.setWindowTitle("About Hearth")
        build = llama_build()
        icon = QtWidgets.QLabel()
        icon.setPixmap(QtGui.QIcon(app_icon()).pixmap(64, 64))
        title = QtWidgets.QLabel(f"Hearth {hearth_version()}")
        title.setObjectName("cardTitle")
        blurb = QtWidgets.QLabel("A reasoning model that runs entirely on this computer. "
                                 "Nothing you type leaves the machine.")
        blurb.setWordWrap(True)
        blurb.setFixedWidth(400)
        blurb.setFixedHeight(blurb.heightForWidth(400))
        features = ", ".join(build.cpu_features[:8]) or "—"
        rows = [
            ("llama.cpp", f"libllama {build.library}, through llama-cpp-python {build.binding}"),
            ("Runs on", build.backend + ("" if build.gpu_offload else
                                         " — this build has no GPU backend")),
            ("CPU features", features),
            ("Qt", f"{QtCore.qVersion()} (PySide6)"),
        ]
        form = QtWidgets.QFormLayout()
        for label, value in rows:
            text = QtWidgets.QLabel(html.escape(value))
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            text.setWordWrap(True)
            form.addRow(label, text)
        self.backend = build.backend
        self.data_folder = QtWidgets.QLabel(str(default_data_dir()))
        self.data_folder.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.data_folder.setWordWrap(True)
        self.open_data = QtWidgets.QPushButton("Open data folder")
        self.open_data.clicked.connect(lambda: open_folder(default_data_dir()))
        folder_row = QtWidgets.QHBoxLayout()
        folder_row.addWidget(self.data_folder, 1)
        folder_row.addWidget(self.open_data)
        form.addRow("Data folder", folder_row)
        self.details = build.system_info
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        copy = buttons.addButton("Copy details", QtWidgets.QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(lambda: self._copy(copy))
        head = QtWidgets.QHBoxLayout()
        head.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        text = QtWidgets.QVBoxLayout()
        text.addWidget(title)
        text.addWidget(blurb)
        text.addStretch(1)  # the name and its line together, not spread along the icon
        head.addLayout(text, 1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(head)
        layout.addSpacing(8)
        layout.addLayout(form)
        layout.addWidget(buttons)
        layout.setSizeConstraint(QtWidgets.QLayout.SizeConstraint.SetFixedSize)  # no blank gaps
        self.summary = "\n".join([f"Hearth {hearth_version()}"] + [f"{k}: {v}" for k, v in rows]
                                 + [f"llama.cpp system info: {build.system_info}"])

    def _copy(self, button) -> None:
        from app.gui import clipboard

        clipboard.copy(self.summary, self, button)


def app_icon() -> QtGui.QIcon:
    """Hearth's icon at every size drawn for it (resources/icons)."""
    from resources import icon_files

    icon = QtGui.QIcon()
    for size, path in icon_files().items():
        icon.addFile(path, QtCore.QSize(size, size))
    return icon


def open_log_folder() -> None:
    open_folder(logs.log_dir())
