"""Work per key, coalesced: a workqueue in the sense of client-go's.

A burst of events for one object (a Job's status moves four times in a second)
becomes one run when the runs cannot keep up: a key waits at most once, and its
run reads the newest state when it starts, not the state of the event that
queued it. Runs of different keys go on concurrently, up to a bound; runs of
one key never overlap (its queued run waits for the running one).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

log = logging.getLogger("devskyy.operator")

K = TypeVar("K", bound=Hashable)


class KeyedWork(Generic[K]):
    def __init__(self, work: Callable[[K], Awaitable[None]], concurrency: int = 32) -> None:
        self.work = work
        self.limit = asyncio.Semaphore(concurrency)
        self.queued: set[K] = set()
        self.locks: dict[K, asyncio.Lock] = {}
        self.running: set[asyncio.Future[None]] = set()

    def submit(self, key: K) -> None:
        """Run `work(key)` soon, unless a run of `key` is already waiting to start."""
        if key in self.queued:
            return
        self.queued.add(key)
        future = asyncio.ensure_future(self._run(key))
        self.running.add(future)
        future.add_done_callback(self.running.discard)

    async def _run(self, key: K) -> None:
        lock = self.locks.setdefault(key, asyncio.Lock())
        try:
            async with lock, self.limit:
                self.queued.discard(key)  # from here on, a new event queues a new run
                await self.work(key)
        except Exception:
            log.exception("work on %s failed", key)
        finally:
            self.queued.discard(key)
            if not lock.locked() and key not in self.queued:
                self.locks.pop(key, None)

    async def drain(self) -> None:
        """Wait for every queued and running run."""
        while self.running:
            await asyncio.gather(*list(self.running), return_exceptions=True)
