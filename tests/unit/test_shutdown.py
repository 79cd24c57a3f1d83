"""The stop event of the long-running components, without a process around it."""

from __future__ import annotations

import asyncio
import gc
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


def test_the_operator_collects_garbage_rarely_and_never_over_its_startup() -> None:
    """`tune_gc` freezes what exists (startup's modules and classes) and raises the
    youngest generation's threshold; the test process gets its settings back."""
    from devskyy_operator.controller.main import tune_gc

    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_freeze_count() > 10_000
        assert gc.get_threshold()[0] > before[0]
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
