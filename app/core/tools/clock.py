"""The current date, time and time zone: the one thing a model cannot know by itself."""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from app.core.tools.base import ToolContext, ToolOutput, ToolSpec


def describe_now(now: dt.datetime) -> str:
    zone = now.tzname() or "local time"
    offset = now.strftime("%z")
    offset = f"UTC{offset[:3]}:{offset[3:]}" if offset else ""
    return (f"{now:%A, %d %B %Y}, {now:%H:%M:%S} {zone}"
            f"{f' ({offset})' if offset else ''}. ISO 8601: {now.isoformat(timespec='seconds')}")


class Clock:
    spec = ToolSpec(
        name="current_time", title="Date and time",
        description="Returns the current date, time and time zone where the user is.",
        parameters={"type": "object", "properties": {}})

    def __init__(self, now: Callable[[], dt.datetime] | None = None) -> None:
        self._now = now or (lambda: dt.datetime.now().astimezone())

    def run(self, arguments: Any, context: ToolContext) -> ToolOutput:
        return ToolOutput(describe_now(self._now()))

    def close(self) -> None:
        pass



