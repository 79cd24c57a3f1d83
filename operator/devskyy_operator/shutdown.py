"""Graceful stop of the long-running components (operator, bridge).

SIGTERM is how Kubernetes stops every pod (rollouts, drains, scale-down), so a
stop on SIGTERM/SIGINT is the normal end of a process: it finishes what is in
flight, hands the rest back and exits 0. Exit 1 stays reserved for failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import dataclass, field

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass
class StopRequest:
    """One stop event for the whole process, and which signal set it (if any)."""

    event: asyncio.Event = field(default_factory=asyncio.Event)
    signal_name: str | None = None

    def install(self) -> None:
        """Route SIGTERM/SIGINT to `event`. Call again after a library (kopf)
        installed handlers of its own: the last handler added wins."""
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self._received, sig)

    def _received(self, sig: signal.Signals) -> None:
        self.signal_name = self.signal_name or sig.name
        self.event.set()

    @property
    def cause(self) -> str:
        return self.signal_name or "stop request"


async def wait_or_timeout(event: asyncio.Event, seconds: float) -> bool:
    """Wait for `event` at most `seconds`; True if it is set.

    asyncio.timeout rather than wait_for: on Python 3.11 wait_for runs the wait
    in a task of its own, and kopf's shutdown cancels every task it did not
    start (after a grace period) - which would fail the loop that waited."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()
