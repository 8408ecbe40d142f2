"""Work off the GUI thread, with its outcome delivered back on the GUI thread.

    BackgroundOp(parent, fn).success(on_result).failure(on_error).run_in_background()

(Anki's `QueryOp`.) `fn` runs on Qt's shared thread pool; `on_result(value)` or
`on_error(exception)` runs on the GUI thread — and only while `parent` exists: the operation
is a child of `parent`, so a dialog closed meanwhile takes its pending result with it. With
no `failure` callback, a UserError goes to the window's banner and anything else is reported
as a bug (app/gui/errors.py).
"""

from __future__ import annotations

import logging
from typing import Callable, TypeVar

from app.gui.qt import QObject, QtCore, Signal, isValid

log = logging.getLogger(__name__)
T = TypeVar("T")


class BackgroundOp(QObject):
    _finished = Signal(object, object)  # result, exception (one of them is None)

    def __init__(self, parent: QObject, fn: Callable[[], T], *,
                 alive: Callable[[], bool] | None = None) -> None:
        """`alive`: checked on the GUI thread before delivering; False drops the outcome (a
        window that has closed its database, say)."""
        super().__init__(parent)
        self._fn = fn
        self._alive = alive
        self._on_success: Callable[[T], object] | None = None
        self._on_failure: Callable[[BaseException], object] | None = None
        self._finished.connect(self._deliver)

    def success(self, callback: Callable[[T], object]) -> BackgroundOp:
        self._on_success = callback
        return self

    def failure(self, callback: Callable[[BaseException], object]) -> BackgroundOp:
        self._on_failure = callback
        return self

    def run_in_background(self) -> BackgroundOp:
        QtCore.QThreadPool.globalInstance().start(_Runnable(self))
        return self

    def _deliver(self, result: object, error: BaseException | None) -> None:
        self.deleteLater()
        if self._alive is not None and not self._alive():
            return
        if error is None:
            if self._on_success is not None:
                self._on_success(result)  # type: ignore[arg-type]
        elif self._on_failure is not None:
            self._on_failure(error)
        else:
            from app.gui import errors

            errors.report(self.parent(), error)


class _Runnable(QtCore.QRunnable):
    def __init__(self, op: BackgroundOp) -> None:
        super().__init__()
        self._op = op
        self._fn = op._fn

    def run(self) -> None:
        try:
            result, error = self._fn(), None
        except Exception as exc:  # delivered to the GUI thread, which decides what it means
            result, error = None, exc
        op, self._op = self._op, None
        if isValid(op):  # its parent (and so the op) may have been deleted meanwhile
            try:
                op._finished.emit(result, error)
            except RuntimeError:  # deleted between the check and the emit
                pass


class GuiCall(QObject):
    """Runs callables on the GUI thread, handed over from any thread (a Future's done
    callback, say), while its parent lives."""

    _call = Signal(object)

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self._call.connect(lambda fn: fn())

    def __call__(self, fn: Callable[[], object]) -> None:
        if isValid(self):
            try:
                self._call.emit(fn)
            except RuntimeError:  # deleted meanwhile: the call is dropped with its parent
                pass
