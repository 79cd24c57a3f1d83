"""The stop event of the long-running components, without a process around it."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from devskyy_operator.shutdown import StopRequest, wait_or_timeout

pytestmark = [pytest.mark.unit, pytest.mark.timeout(10)]


async def test_sigterm_sets_the_stop_event_and_names_the_signal() -> None:
    stop = StopRequest()
    stop.install()
    try:
        assert stop.cause == "stop request"
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(stop.event.wait(), 5)
        os.kill(os.getpid(), signal.SIGINT)  # a second signal does not rename the cause
        await asyncio.sleep(0)
        assert stop.cause == "SIGTERM"
    finally:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def test_wait_or_timeout_spawns_no_task() -> None:
    """kopf cancels, when it stops, every task it did not start: a wait inside one
    of our loops must not be such a task."""
    event = asyncio.Event()
    waiting = asyncio.ensure_future(wait_or_timeout(event, 5))
    await asyncio.sleep(0.01)
    others = asyncio.all_tasks() - {asyncio.current_task(), waiting}
    assert others == set()
    event.set()
    assert await waiting is True
    assert await wait_or_timeout(asyncio.Event(), 0.01) is False
