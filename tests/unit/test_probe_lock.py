"""The probe's lock belongs to the running event loop, so a process can run one loop after another."""

from __future__ import annotations

import asyncio

from scriptorium.serving.probe import _loop_lock


async def _contend() -> asyncio.Lock:
    lock = _loop_lock()
    assert _loop_lock() is lock  # one per loop

    async def hold() -> None:
        async with lock:
            await asyncio.sleep(0.01)

    await asyncio.gather(hold(), hold())  # contended: the lock binds to this loop
    return lock


def test_a_second_event_loop_gets_its_own_lock() -> None:
    first = asyncio.run(_contend())
    second = asyncio.run(_contend())  # a module-level lock raised "bound to a different event loop"
    assert first is not second
