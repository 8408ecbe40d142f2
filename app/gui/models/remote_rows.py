"""Remote models in the model manager, beside the local files: one row per model each saved
endpoint served when last asked (Settings → Engines asks), so listing them never waits on
the network. A row's data is its reference (`remote:URL#MODEL`), never a path."""

from __future__ import annotations

from app.core import engines, model_library
from app.gui.qt import Qt, QtWidgets
from storage import Store

SOURCE = "Remote"


def add_rows(tree: QtWidgets.QTreeWidget, store: Store, loaded: str | None,
             select: str | None = None) -> int:
    default = model_library.default_remote(store)
    count = 0
    for ref, _label, endpoint in engines.remote_choices(store):
        _url, model = engines.parse_ref(ref)
        item = QtWidgets.QTreeWidgetItem([("★ " if ref == default else "") + model,
                                          f"{SOURCE}: {endpoint.label}", "—", "—",
                                          f"{endpoint.n_ctx:,}" if endpoint.n_ctx else "server's",
                                          "loaded" if ref == loaded else "elsewhere"])
        item.setData(0, Qt.ItemDataRole.UserRole, ref)
        item.setToolTip(0, engines.ref_label(ref))
        tree.addTopLevelItem(item)
        if ref == select:
            tree.setCurrentItem(item)
        count += 1
    return count


def selected_ref(tree: QtWidgets.QTreeWidget) -> str | None:
    item = tree.currentItem()
    value = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
    return value if engines.is_ref(value) else None


def describe(manager, ref: str) -> None:
    """The details pane for a remote model: what it is, and what can be done with it."""
    url, _model = engines.parse_ref(ref)
    loaded = manager.session.model is not None and manager.session.model.path == ref
    manager.title.setText(engines.ref_label(ref) + ("  (loaded)" if loaded else ""))
    manager.facts.setText(f"Served by {url}\nIts memory is the server's: no fit to check here. "
                          "Settings → Engines changes how Hearth talks to it.")
    manager.fit_text.setText("")
    for widget in (manager.prefs_box, manager.reveal_button, manager.delete_button):
        widget.setEnabled(False)
    manager.load_button.setEnabled(True)
    is_default = model_library.default_remote(manager.store) == ref
    manager.default_button.setText("Default model" if is_default else "Set as default")
    manager.default_button.setEnabled(not is_default)
    manager.unload_button.setEnabled(manager.session.model is not None)
    reload_button = getattr(manager, "reload_button", None)
    if reload_button is not None:
        reload_button.setVisible(False)
