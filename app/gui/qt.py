"""The one place app/ imports Qt from: a later move to another binding touches this file only."""

from PySide6 import QtCore, QtGui, QtNetwork, QtWidgets  # noqa: F401
from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot  # noqa: F401
from shiboken6 import isValid  # noqa: F401  (is the C++ object behind a wrapper still alive?)
