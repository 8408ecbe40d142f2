"""Timestamps: UTC ISO-8601 strings with microseconds, strictly increasing per process.

Every stored timestamp comes from :func:`utc_now`, e.g.
``"2025-11-22T18:15:03.123456+00:00"``.  The fixed width makes string order
equal time order, and ``datetime.fromisoformat`` reads them back on every
supported Python.  Coarse clocks (Windows) or a clock stepping back would give
equal or decreasing stamps; we bump by one microsecond instead, so "most
recently updated" ordering stays right within the app's process.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

_lock = threading.Lock()
_last: datetime | None = None


def next_stamp(last: datetime | None, now: datetime) -> datetime:
    """``now``, or one microsecond after ``last`` if the clock has not moved past it."""
    if last is not None and now <= last:
        return last + timedelta(microseconds=1)
    return now


def utc_now() -> str:
    """Current UTC time as an ISO-8601 string, later than any previous call."""
    global _last
    with _lock:
        _last = next_stamp(_last, datetime.now(timezone.utc))
        stamp = _last
    return stamp.isoformat(timespec="microseconds")
