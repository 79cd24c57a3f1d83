"""Polling a provider job within the task's deadline."""

from __future__ import annotations

import asyncio
import time

from devskyy_agents.errors import DeadlineExceeded


class PollClock:
    """Growing waits between status checks (x1.5 up to a cap), never past the deadline."""

    def __init__(self, deadline: float | None, first: float, cap: float = 15.0) -> None:
        self._deadline = deadline
        self._wait = first
        self._cap = max(cap, first)

    async def tick(self, what: str) -> None:
        if self._deadline is not None and time.time() + self._wait >= self._deadline:
            raise DeadlineExceeded(f"{what} did not finish before the task deadline")
        await asyncio.sleep(self._wait)
        self._wait = min(self._cap, self._wait * 1.5)
