"""Thread-safe hand-over of a turn's stream events from the engine's thread to a painter.

The window drains it on a timer (≤ 60 times a second) instead of one signal per token;
adjacent deltas of one kind are merged, so a drain is a few events however fast the model is.
"""

from __future__ import annotations

import threading

from inference.events import AnswerDelta, Event, PreambleDelta, ReasoningDelta


class EventBuffer:
    def __init__(self) -> None:
        self._events: list[Event] = []
        self._lock = threading.Lock()

    def push(self, event: Event) -> None:
        with self._lock:
            last = self._events[-1] if self._events else None
            if isinstance(event, (AnswerDelta, PreambleDelta, ReasoningDelta)) and type(last) is type(event):
                self._events[-1] = type(event)(last.text + event.text)
            else:
                self._events.append(event)

    def drain(self) -> list[Event]:
        with self._lock:
            events, self._events = self._events, []
        return events
