"""The one line between a person's trouble and a bug.

A `UserError` carries a message written for the person using Hearth (a bad model file, a
model too large for this machine, an unreadable document, a failed download, a bad import).
The window shows it in its banner; `hearth` prints it on one line and exits 1. Any other
exception is a bug: logged with its traceback, shown as "Something went wrong".
"""

from __future__ import annotations


class UserError(Exception):
    """An exception whose message is meant for a person, not a developer."""
