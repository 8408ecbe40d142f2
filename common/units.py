"""Sizes, durations and token estimates as people (and budgets) read them."""

from __future__ import annotations

import math

CHARS_PER_TOKEN = 4  # the cheap estimate when no tokenizer is at hand


def estimate_tokens(text: str) -> int:
    """Characters / 4, rounded up: used only where the model's own tokenizer is not at hand."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def format_bytes(n: float) -> str:
    """Decimal units, as disks and download pages count them: 12.1 GB, 98 MB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            value = n / scale
            text = f"{value:.1f}" if value < 100 else f"{value:.0f}"
            return f"{text.removesuffix('.0')} {unit}"
    return f"{n:.0f} B"


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s" if minutes < 10 else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
