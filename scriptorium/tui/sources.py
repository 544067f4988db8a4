"""Where the UI's events come from: a trace file being written, a finished trace replayed in
(scaled) trace time, or the run this process is executing. All three answer `read()`."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ..events import CorruptLine, Event, read_trace
from .tail import TraceTail

__all__ = ["EventSource", "FollowSource", "LiveSource", "ReplaySource"]

Item = Event | CorruptLine


class EventSource(Protocol):
    @property
    def label(self) -> str: ...

    def read(self) -> list[Item]:
        """What is due now, in order (possibly nothing)."""
        ...


class FollowSource:
    """A trace another process is writing (or has written): everything so far, then what is added."""

    label = "following"

    def __init__(self, trace: Path) -> None:
        self._tail = TraceTail(trace)

    def read(self) -> list[Item]:
        return self._tail.read()


class ReplaySource:
    """A finished trace played back at `speed` times its own pace; pausable."""

    def __init__(self, trace: Path, speed: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.items: list[Item] = list(read_trace(trace, complete_only=False))
        self.speed = speed
        self.paused = False
        self._clock = clock
        self._position = 0.0
        """Seconds of trace time already played."""
        self._last = clock()
        self._next = 0
        stamps = [i.ts for i in self.items if not isinstance(i, CorruptLine)]
        self._start = stamps[0] if stamps else None

    @property
    def label(self) -> str:
        state = "paused" if self.paused else ("finished" if self.done else "playing")
        return f"replay {state} x{self.speed:g}"

    @property
    def done(self) -> bool:
        return self._next >= len(self.items)

    def toggle(self) -> None:
        self._advance_clock()
        self.paused = not self.paused

    def faster(self) -> None:
        self._advance_clock()
        self.speed = min(self.speed * 2, 1024.0)

    def slower(self) -> None:
        self._advance_clock()
        self.speed = max(self.speed / 2, 0.25)

    def to_end(self) -> list[Item]:
        self._advance_clock()
        due, self._next = self.items[self._next :], len(self.items)
        return due

    def read(self) -> list[Item]:
        self._advance_clock()
        due: list[Item] = []
        while self._next < len(self.items):
            item = self.items[self._next]
            if (
                not isinstance(item, CorruptLine)
                and self._start is not None
                and (item.ts - self._start).total_seconds() > self._position
            ):
                break
            due.append(item)
            self._next += 1
        return due

    def _advance_clock(self) -> None:
        now = self._clock()
        if not self.paused:
            self._position += (now - self._last) * self.speed
        self._last = now


class LiveSource:
    """The run this process executes: an event sink the UI drains."""

    label = "live"

    def __init__(self) -> None:
        self._pending: list[Item] = []

    def handle(self, event: Event) -> None:
        self._pending.append(event)

    def read(self) -> list[Item]:
        due, self._pending = self._pending, []
        return due
