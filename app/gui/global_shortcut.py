"""Quick ask from any app: a system-wide Ctrl+Shift+Space, where the platform lets an app take
a key without extra privileges.

- X11: it does. XGrabKey on the root window, over an X connection of Hearth's own read on a
  thread, so Qt's connection and event loop are left alone. A key another app already holds
  is refused by the X server: said in `why`, never raised.
- Wayland: only the desktop hands out global keys (the GlobalShortcuts portal, on recent KDE
  and GNOME, over D-Bus, which the packaged app does not carry), and an X11 grab through
  XWayland fires only while an X11 window has focus: none here, on either Qt platform.
- macOS: Carbon's RegisterEventHotKey needs no permission, but a native event handler Hearth
  does not carry: none here.
Everywhere, the desktop's own keyboard settings can bind `hearth-gui --quick-ask`, which a
running Hearth takes over its single-instance channel (README, "Quick ask").
"""

from __future__ import annotations

import ctypes
import os
import select
import threading

from app.gui.qt import QObject, QtWidgets, Signal

SHIFT, LOCK, CONTROL, MOD2 = 1, 2, 4, 16  # X11 modifier masks; Mod2 is NumLock almost always
KEY_PRESS, GRAB_MODE_ASYNC, XK_SPACE = 2, 1, 0x20
# The same key whatever Caps Lock and Num Lock are: a grab matches modifiers exactly.
LOCK_VARIANTS = (0, LOCK, MOD2, LOCK | MOD2)
POLL_S = 0.25  # how soon the reader notices it should stop


class _XEvent(ctypes.Union):
    _fields_ = [("type", ctypes.c_int), ("pad", ctypes.c_long * 24)]  # Xlib's XEvent: 24 longs


_ERROR_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


def _xlib() -> ctypes.CDLL:
    x = ctypes.CDLL("libX11.so.6")  # Qt's xcb platform has it loaded already
    x.XOpenDisplay.restype = ctypes.c_void_p
    x.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x.XDefaultRootWindow.restype = ctypes.c_ulong
    x.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    x.XKeysymToKeycode.restype = ctypes.c_ubyte
    x.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    x.XGrabKey.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint, ctypes.c_ulong,
                           ctypes.c_int, ctypes.c_int, ctypes.c_int]
    x.XUngrabKey.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint, ctypes.c_ulong]
    x.XSelectInput.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_long]
    for name in ("XSync",):
        getattr(x, name).argtypes = [ctypes.c_void_p, ctypes.c_int]
    for name in ("XPending", "XConnectionNumber", "XCloseDisplay"):
        getattr(x, name).argtypes = [ctypes.c_void_p]
    x.XNextEvent.argtypes = [ctypes.c_void_p, ctypes.POINTER(_XEvent)]
    x.XSetErrorHandler.restype = ctypes.c_void_p
    x.XSetErrorHandler.argtypes = [ctypes.c_void_p]
    return x


def unavailable_reason(platform: str | None = None, env=os.environ) -> str | None:
    """Why this session cannot have the system-wide key, or None where it can (`platform`:
    Qt's, by default this application's)."""
    platform = QtWidgets.QApplication.platformName() if platform is None else platform
    if platform == "xcb" and not env.get("WAYLAND_DISPLAY"):
        return None
    if platform in ("wayland", "xcb"):  # xcb here: through XWayland, grabs see X11 apps only
        return ("Wayland lets only the desktop assign keys for every app: bind "
                "`hearth-gui --quick-ask` to a key in its keyboard settings.")
    if platform == "cocoa":
        return ("On macOS, bind a Shortcuts action running Hearth.app/Contents/MacOS/hearth-gui "
                "--quick-ask to a key.")
    return f"Not available on the {platform or 'current'} display."


class GlobalShortcut(QObject):
    """Ctrl+Shift+Space from any app on X11; `pressed` fires in the GUI thread."""

    pressed = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.why = ""  # why it is not active, once start() said False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._grabbed = False  # set by the reader before it signals ready

    @property
    def active(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> bool:
        """Take the key; False (and `why`) where the platform or another app does not let it."""
        if self.active:
            return True
        reason = unavailable_reason()
        if reason is None and not os.environ.get("DISPLAY"):
            reason = "No X display."
        if reason is not None:
            self.why = reason
            return False
        ready = threading.Event()
        self._grabbed = False
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True,
                                        name="hearth-global-shortcut")
        self._thread.start()
        ready.wait(10)
        if not (self._grabbed and self.active):
            self.stop()
            return False
        self.why = ""
        return True

    def stop(self) -> None:
        """Give the key back (the reader's own connection ungrabs and closes)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(2)
            self._thread = None

    def _run(self, ready: threading.Event) -> None:
        try:
            x = _xlib()
        except OSError:
            self.why = "The X11 library (libX11.so.6) is missing."
            ready.set()
            return
        display = x.XOpenDisplay(None)
        if not display:
            self.why = "Could not connect to the X display."
            ready.set()
            return
        try:
            root = x.XDefaultRootWindow(display)
            keycode = x.XKeysymToKeycode(display, XK_SPACE)
            if not self._grab(x, display, root, keycode):
                self.why = "Another app already uses Ctrl+Shift+Space."
                ready.set()
                return
            self._grabbed = True
            ready.set()
            try:
                self._read(x, display)
            finally:
                for extra in LOCK_VARIANTS:
                    x.XUngrabKey(display, keycode, CONTROL | SHIFT | extra, root)
                x.XSync(display, 0)
        finally:
            x.XCloseDisplay(display)

    @staticmethod
    def _grab(x, display, root, keycode) -> bool:
        """Grab every lock variant; the X server answers BadAccess if another client holds
        one. Errors are asynchronous, so a handler collects them until XSync has its reply.
        The handler is process-wide: only errors on this connection count, and the one there
        before is put back at once."""
        failed = []
        handler = _ERROR_HANDLER(lambda d, _event: (failed.append(d) if d == display else None) or 0)
        previous = x.XSetErrorHandler(ctypes.cast(handler, ctypes.c_void_p))
        try:
            for extra in LOCK_VARIANTS:
                x.XGrabKey(display, keycode, CONTROL | SHIFT | extra, root, 0,
                           GRAB_MODE_ASYNC, GRAB_MODE_ASYNC)
            x.XSync(display, 0)
        finally:
            x.XSetErrorHandler(previous)
        if failed:
            for extra in LOCK_VARIANTS:
                x.XUngrabKey(display, keycode, CONTROL | SHIFT | extra, root)
            x.XSync(display, 0)
        return not failed

    def _read(self, x, display) -> None:
        fd = x.XConnectionNumber(display)
        event = _XEvent()
        while not self._stop.is_set():
            select.select([fd], [], [], POLL_S)
            while x.XPending(display):
                x.XNextEvent(display, ctypes.byref(event))
                if event.type == KEY_PRESS:
                    self.pressed.emit()  # queued into the GUI thread: this object lives there
