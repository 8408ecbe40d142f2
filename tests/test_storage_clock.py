"""Timestamps: UTC ISO-8601, fixed width, strictly increasing within the process."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from storage import utc_now
from storage.clock import next_stamp

T0 = datetime(2025, 1, 1, 12, 0, 0, 500_000, tzinfo=timezone.utc)
US = timedelta(microseconds=1)


def test_format_is_utc_iso8601_with_microseconds():
    stamp = utc_now()
    parsed = datetime.fromisoformat(stamp)
    assert parsed.utcoffset() == timedelta(0)
    assert stamp.endswith("+00:00") and len(stamp) == len("2025-01-01T00:00:00.000000+00:00")
    assert abs(datetime.now(parsed.tzinfo) - parsed) < timedelta(minutes=1)


def test_next_stamp_never_repeats_or_goes_back():
    assert next_stamp(None, T0) == T0
    assert next_stamp(T0, T0 + 5 * US) == T0 + 5 * US  # clock moved on: use it
    assert next_stamp(T0, T0) == T0 + US  # coarse clock, same reading
    assert next_stamp(T0, T0 - timedelta(seconds=3)) == T0 + US  # clock stepped back
    last = None
    for _ in range(3):  # a clock stuck on one value still yields increasing stamps
        last = next_stamp(last, T0)
    assert last == T0 + 2 * US


def test_strictly_increasing_even_in_a_tight_loop():
    # Calls far faster than the clock's resolution would repeat a value.
    stamps = [utc_now() for _ in range(20_000)]
    assert stamps == sorted(set(stamps))


def test_unique_across_threads():
    results: list[list[str]] = [[] for _ in range(4)]

    def collect(out: list[str]) -> None:
        out.extend(utc_now() for _ in range(5_000))

    threads = [threading.Thread(target=collect, args=(out,)) for out in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [s for out in results for s in out]
    assert len(set(everything)) == len(everything)
    assert all(out == sorted(out) for out in results)
