"""Model-based test of the claim protocol: whatever the interleaving of enqueue,
claim, bridge crash, lease expiry, reclaim and create+release, every task id is
in exactly one of {queue, leases, created} — nothing lost, nothing duplicated."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from devskyy_operator import keys
from devskyy_operator.redisq import (
    Redis,
    claim,
    connect,
    enqueue,
    extend_lease,
    reclaim_expired,
    release,
)
from devskyy_operator.redisq.scripts import disconnect
from tests.queue.conftest import diagnostic_spec
from tests.support.lifetimes import RECORD_TTL
from tests.support.redis_server import RedisServer

TYPE = "diagnostic"
LEASE = 10.0


class ClaimProtocol(RuleBasedStateMachine):
    redis_url = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.client: Redis = connect(self.redis_url)
        self.now = 1_000_000.0
        self.enqueued: set[str] = set()
        self.created: set[str] = set()
        self.held: list[str] = []  # the bridge's in-memory claims, lost on a crash

    def run(self, awaitable: Any) -> Any:
        return self.loop.run_until_complete(awaitable)

    @initialize()
    def flush(self) -> None:
        self.run(self.client.flushall())

    def teardown(self) -> None:
        self.run(disconnect(self.client))
        self.loop.close()

    @rule(priority=st.integers(0, 3))
    def enqueue_task(self, priority: int) -> None:
        done = self.run(enqueue(self.client, diagnostic_spec(priority=priority)))
        self.enqueued.add(done.task_id)

    @rule(n=st.integers(1, 4))
    def claim_tasks(self, n: int) -> None:
        claimed = self.run(claim(self.client, TYPE, n, LEASE, now=self.now))
        self.held += [c.task_id for c in claimed]

    @rule()
    def bridge_crashes(self) -> None:
        self.held.clear()

    @rule(seconds=st.floats(0, 2 * LEASE))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def sweeper_reclaims(self) -> None:
        self.run(reclaim_expired(self.client, TYPE, now=self.now, **RECORD_TTL))

    @precondition(lambda self: bool(self.held))
    @rule(data=st.data())
    def create_and_release(self, data: st.DataObject) -> None:
        task_id = self.held.pop(data.draw(st.integers(0, len(self.held) - 1)))
        # The bridge confirms it still holds the lease, creates the CR, then releases.
        if self.run(extend_lease(self.client, TYPE, task_id, LEASE, now=self.now)):
            assert task_id not in self.created, "CR created twice"
            self.created.add(task_id)
            assert self.run(release(self.client, TYPE, task_id))

    @invariant()
    def every_id_in_exactly_one_place(self) -> None:
        queued = set(self.run(self.client.zrange(keys.queue_key(TYPE), 0, -1)))
        leased = set(self.run(self.client.zrange(keys.leases_key(TYPE), 0, -1)))
        assert not queued & leased
        assert not (queued | leased) & self.created
        assert queued | leased | self.created == self.enqueued


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_claim_protocol_loses_and_duplicates_nothing(redis_server: RedisServer) -> None:
    ClaimProtocol.redis_url = redis_server.url
    run_state_machine_as_test(
        ClaimProtocol,
        settings=settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
