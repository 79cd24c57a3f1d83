"""controller/keyed_work.py: coalesced, per-key serial, concurrent across keys."""

from __future__ import annotations

import asyncio

import pytest

from devskyy_operator.controller.keyed_work import KeyedWork

pytestmark = [pytest.mark.unit, pytest.mark.timeout(10)]


async def test_a_burst_for_one_key_runs_once_with_the_newest_state() -> None:
    state = {"a": 0}
    runs: list[int] = []

    async def work(key: str) -> None:
        runs.append(state[key])

    queue: KeyedWork[str] = KeyedWork(work)
    for value in range(1, 6):
        state["a"] = value
        queue.submit("a")
    await queue.drain()
    assert runs == [5]


async def test_an_event_during_a_run_queues_one_more_run_never_overlapping() -> None:
    release = asyncio.Event()
    active = 0
    overlapped = False
    runs = 0

    async def work(key: str) -> None:
        nonlocal active, overlapped, runs
        active += 1
        overlapped = overlapped or active > 1
        runs += 1
        if runs == 1:
            await release.wait()
        active -= 1

    queue: KeyedWork[str] = KeyedWork(work)
    queue.submit("a")
    await asyncio.sleep(0)  # the first run starts and blocks
    queue.submit("a")
    queue.submit("a")  # coalesced with the one waiting
    release.set()
    await queue.drain()
    assert (runs, overlapped) == (2, False)
    assert queue.locks == {}
    assert queue.queued == set()


async def test_keys_run_concurrently_up_to_the_bound() -> None:
    active = peak = 0
    gate = asyncio.Event()

    async def work(key: int) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await gate.wait()
        active -= 1

    queue: KeyedWork[int] = KeyedWork(work, concurrency=3)
    for key in range(10):
        queue.submit(key)
    for _ in range(5):
        await asyncio.sleep(0)
    assert peak == 3
    gate.set()
    await queue.drain()
    assert active == 0


async def test_a_failing_run_is_logged_and_the_key_can_run_again() -> None:
    calls = 0

    async def work(key: str) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")

    queue: KeyedWork[str] = KeyedWork(work)
    queue.submit("a")
    await queue.drain()
    queue.submit("a")
    await queue.drain()
    assert calls == 2
