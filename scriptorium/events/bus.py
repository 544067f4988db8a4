"""One event bus per run: code anywhere emits, sinks consume.

Where an event happened (run, step, agent) comes from context variables set by the runner, so a tool
or the model client deep down emits without being handed ids. With no bus active, `emit` is a no-op.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol, TypeVar

from .models import Event, _Base

__all__ = ["EventBus", "EventSink", "active_bus", "emit", "scope"]

log = logging.getLogger(__name__)

E = TypeVar("E", bound=_Base)


class EventSink(Protocol):
    """Receives every event of a bus, in order. Must not block: it runs on the event loop, or on a
    worker thread that emitted (memory, tools), one event at a time."""

    def handle(self, event: Event) -> None: ...


class EventBus:
    """Stamps events with a sequence number and the step and agent they come from, and hands them
    to its sinks. Safe across threads (memory and tools emit from worker threads): stamping and
    handing out happen under one lock, so every sink sees events in `seq` order."""

    def __init__(self, run_id: str | None = None, sinks: list[EventSink] | None = None) -> None:
        self.run_id = run_id
        self.sinks: list[EventSink] = list(sinks or [])
        self._seq = itertools.count(1)
        self._lock = threading.RLock()  # re-entrant: a sink may emit an event of its own

    def emit(self, event: E) -> E:
        """Stamp `event` with its sequence number and context, and hand it to every sink."""
        where = _where.get()
        with self._lock:
            stamped = event.model_copy(
                update={
                    "seq": next(self._seq),
                    "run_id": event.run_id or self.run_id,
                    "step_id": event.step_id or where[0],
                    "agent": event.agent or where[1],
                }
            )
            for sink in self.sinks:
                try:
                    sink.handle(stamped)  # type: ignore[arg-type]
                except Exception:  # a broken sink must not break the run
                    log.exception("event sink %r failed", sink)
        return stamped

    @contextmanager
    def active(self) -> Iterator[EventBus]:
        """Make this the bus `emit` uses within the block (and tasks started in it)."""
        token = _bus.set(self)
        try:
            yield self
        finally:
            _bus.reset(token)


_bus: ContextVar[EventBus | None] = ContextVar("scriptorium_event_bus", default=None)
_where: ContextVar[tuple[str | None, str | None]] = ContextVar(
    "scriptorium_event_where", default=(None, None)
)


def active_bus() -> EventBus | None:
    return _bus.get()


def emit(event: E) -> E | None:
    """Emit on the active bus; None when there is none."""
    bus = _bus.get()
    return bus.emit(event) if bus is not None else None


@contextmanager
def scope(*, step_id: str | None = None, agent: str | None = None) -> Iterator[None]:
    """Attribute events emitted within the block to a step and/or agent."""
    step, current_agent = _where.get()
    token = _where.set((step_id or step, agent or current_agent))
    try:
        yield
    finally:
        _where.reset(token)
