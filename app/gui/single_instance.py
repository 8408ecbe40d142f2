"""One Hearth per data folder: the first listens on a local socket, a second launch hands over
what it was asked to do (come forward, open files, ask a question, show the quick-ask window)
and quits.

The protocol, one exchange per connection: the second launch writes one line of JSON, a
`Request` as a dict (`{"files": [...], "ask": "...", "quick_ask": true}`; `{}` only asks the
window to come forward), and the first answers `ok` once it has taken the request in hand.
A line that is not JSON (an older Hearth's `raise`) means "come forward".
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from app.gui.qt import QtCore, QtNetwork

MAX_REQUEST = 1 << 20  # bytes: a few thousand file paths; anything longer is dropped
REPLY = b"ok\n"


@dataclass(frozen=True)
class Request:
    files: tuple[str, ...] = ()  # absolute paths, to attach in a new chat
    ask: str | None = None  # a question to send in that chat once the model is ready
    quick_ask: bool = False  # show the quick-ask window
    hidden: bool = False  # started at login: stay in the tray (only for the first launch)

    def to_line(self) -> bytes:
        data = {k: v for k, v in asdict(self).items() if v and k != "hidden"}
        data["files"] = list(self.files) if self.files else None
        return json.dumps({k: v for k, v in data.items() if v}).encode() + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> Request:
        try:
            data = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            return cls()  # "raise", or garbage: come forward, nothing more
        if not isinstance(data, dict):
            return cls()
        files = data.get("files") or ()
        ask = data.get("ask")
        return cls(files=tuple(f for f in files if isinstance(f, str) and f)
                   if isinstance(files, list) else (),
                   ask=ask if isinstance(ask, str) and ask.strip() else None,
                   quick_ask=data.get("quick_ask") is True)


@dataclass
class _Pending:
    socket: QtNetwork.QLocalSocket
    data: bytearray = field(default_factory=bytearray)


class SingleInstance:
    """The lock file makes the check race-free; the socket name is derived from the data
    folder so two data folders (tests, say) never collide."""

    def __init__(self, data_dir) -> None:
        digest = hashlib.sha1(str(data_dir).encode()).hexdigest()[:12]
        self.name = f"hearth-{digest}"
        # In the data folder, or — where that folder cannot be written — in a per-user place:
        # a read-only folder must not read as "Hearth is already running".
        where = data_dir if os.access(data_dir, os.W_OK) else Path(tempfile.gettempdir())
        self.lock = QtCore.QLockFile(str(where / (f"hearth-{digest}.lock" if where != data_dir
                                                  else "hearth.lock")))
        self.lock.setStaleLockTime(0)
        self.server = None
        self._callback = None
        self._pending: list[_Pending] = []

    def acquire(self) -> bool:
        if self.lock.tryLock(200):
            QtNetwork.QLocalServer.removeServer(self.name)
            self.server = QtNetwork.QLocalServer()
            self.server.listen(self.name)
            self.server.newConnection.connect(self._accept)
            return True
        return False

    def notify_running_instance(self, request: Request | None = None, timeout_ms: int = 5000) -> bool:
        """Hand `request` to the Hearth already running; True once it said it took it."""
        socket = QtNetwork.QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(1000):
            return False
        socket.write((request or Request()).to_line())
        if not socket.waitForBytesWritten(1000):
            return False
        reply = bytearray()
        timer = QtCore.QElapsedTimer()
        timer.start()
        while not reply.endswith(b"\n") and timer.elapsed() < timeout_ms:
            if socket.bytesAvailable() or socket.waitForReadyRead(200):
                reply += bytes(socket.readAll().data())
            elif socket.state() != QtNetwork.QLocalSocket.LocalSocketState.ConnectedState:
                break
        socket.disconnectFromServer()
        return bytes(reply) == REPLY

    def on_activation(self, callback) -> None:
        """`callback(Request)` on the GUI thread for each request a later launch hands over."""
        self._callback = callback

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        self.lock.unlock()

    def _accept(self) -> None:
        while self.server is not None and self.server.hasPendingConnections():
            pending = _Pending(self.server.nextPendingConnection())
            self._pending.append(pending)
            pending.socket.readyRead.connect(lambda p=pending: self._read(p))
            pending.socket.disconnected.connect(lambda p=pending: self._drop(p))
            # A client that connects and says nothing is let go after a while.
            QtCore.QTimer.singleShot(10_000, pending.socket, lambda p=pending: self._drop(p))
            self._read(pending)

    def _read(self, pending: _Pending) -> None:
        if pending not in self._pending:
            return
        pending.data += bytes(pending.socket.readAll().data())
        if len(pending.data) > MAX_REQUEST:
            self._drop(pending)
            return
        if b"\n" not in pending.data:
            return
        line = bytes(pending.data).split(b"\n", 1)[0]
        request = Request.from_line(line)
        pending.socket.write(REPLY)
        pending.socket.flush()
        self._drop(pending)
        if self._callback is not None:
            self._callback(request)

    def _drop(self, pending: _Pending) -> None:
        if pending in self._pending:
            self._pending.remove(pending)
            pending.socket.disconnectFromServer()
            pending.socket.deleteLater()
