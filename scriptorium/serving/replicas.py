"""Several servers of the same model behind one client: least requests in flight wins.

Each replica has its own concurrency limit (the client's `max_concurrency`), so N replicas take N
times the requests. A replica that cannot be connected to is marked down and skipped; it is tried
again after a pause that doubles with each failure in a row (1 s up to 30 s), and one request that
succeeds marks it up. When every replica is down, a request waits for the first to come due, so a
restarted server is picked up without restarting the client.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Replica", "ReplicaPool"]

log = logging.getLogger(__name__)

_PAUSE_FIRST = 1.0
_PAUSE_MAX = 30.0


@dataclass(eq=False)
class Replica:
    """One server: its URL, its API client, and what the pool knows of it."""

    url: str
    api: Any
    """The `openai.AsyncOpenAI` pointed at `url`."""
    in_flight: int = 0
    failures: int = 0
    """Connection failures in a row."""
    down_until: float = 0.0
    served: int = 0

    @property
    def up(self) -> bool:
        return self.failures == 0


class ReplicaPool:
    """Hands out a replica per request: the up one with the fewest requests in flight."""

    def __init__(
        self, replicas: Sequence[Replica], limit: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not replicas:
            raise ValueError("a pool needs at least one replica")
        self.replicas = list(replicas)
        self.limit = limit
        self._clock = clock
        self._changed = asyncio.Condition()

    @property
    def in_flight(self) -> int:
        return sum(r.in_flight for r in self.replicas)

    async def acquire(self) -> Replica:
        async with self._changed:
            while True:
                now = self._clock()
                due = [r for r in self.replicas if r.down_until <= now and r.in_flight < self.limit]
                if due:
                    # Fewest in flight; among equals the least used, so an idle pool alternates.
                    chosen = min(due, key=lambda r: (r.in_flight, r.served))
                    chosen.in_flight += 1
                    chosen.served += 1
                    return chosen
                waiting = [r.down_until - now for r in self.replicas if r.down_until > now]
                try:
                    timeout = min(waiting) if len(waiting) == len(self.replicas) else None
                    await asyncio.wait_for(self._changed.wait(), timeout)
                except TimeoutError:
                    pass

    async def release(self, replica: Replica) -> None:
        async with self._changed:
            replica.in_flight -= 1
            self._changed.notify_all()

    def succeeded(self, replica: Replica) -> None:
        if replica.failures:
            log.info("model replica %s is answering again", replica.url)
        replica.failures = 0
        replica.down_until = 0.0

    def failed(self, replica: Replica) -> None:
        """`replica` could not be connected to: skip it for a while (only when there are others)."""
        if len(self.replicas) == 1:
            return  # nothing to fall back on; the client's own retries and backoff apply
        replica.failures += 1
        pause = min(_PAUSE_MAX, _PAUSE_FIRST * 2 ** (replica.failures - 1))
        replica.down_until = self._clock() + pause
        log.warning("model replica %s is down; trying it again in %.0fs", replica.url, pause)

    @property
    def urls(self) -> list[str]:
        return [r.url for r in self.replicas]
