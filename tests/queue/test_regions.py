"""Region queues in real Redis: enqueue, claim, lease expiry, position, cancel and the
DLQ retry use the task's region's keys; the seed's keys hold only tasks without one."""

from __future__ import annotations

import pytest

from devskyy_agents.models import TaskSpec, parse_spec
from devskyy_operator import keys
from devskyy_operator.deadletter.store import retry_dead_letter
from devskyy_operator.redisq import Redis, cancel, claim, enqueue, reclaim_expired
from devskyy_operator.redisq.claim import leased_ids
from devskyy_operator.redisq.stats import queue_position
from devskyy_operator.redisq.task_store import mark_failed
from tests.queue.test_dead_letter import dead_letter
from tests.support.lifetimes import FINISH, RECORD_TTL

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


def spec(region: str | None = None) -> TaskSpec:
    raw: dict[str, object] = {"type": "diagnostic", "input": {"user_id": "alice"}}
    if region:
        raw["region"] = region
    return parse_spec(raw)


async def test_a_region_task_lives_in_its_regions_keys_only(aredis: Redis) -> None:
    plain = (await enqueue(aredis, spec())).task_id
    west = (await enqueue(aredis, spec("eu-west"))).task_id
    assert await aredis.zrange(keys.queue_key("diagnostic"), 0, -1) == [plain]
    assert await aredis.zrange(keys.queue_key("diagnostic", "eu-west"), 0, -1) == [west]
    assert await aredis.hget(keys.task_key(west), "region") == "eu-west"
    assert await aredis.hget(keys.task_key(plain), "region") is None

    position = await queue_position(
        aredis, "diagnostic", west, window_seconds=600, region="eu-west"
    )
    assert position is not None
    assert (position.position, position.queued) == (0, 1)
    assert await queue_position(aredis, "diagnostic", west, window_seconds=600) is None

    # a bridge without a region never sees it; the region's bridge does
    [claimed] = await claim(aredis, "diagnostic", 10, 30.0)
    assert claimed.task_id == plain
    [regional] = await claim(aredis, "diagnostic", 10, 30.0, region="eu-west")
    assert regional.task_id == west
    assert set(await leased_ids(aredis, "diagnostic", region="eu-west")) == {west}
    # an expired lease goes back to the region's queue, not the seed's
    requeued = await reclaim_expired(
        aredis, "diagnostic", record_ttl_seconds=RECORD_TTL["record_ttl_seconds"],
        now=10**10, region="eu-west",
    )  # fmt: skip
    assert requeued == 1
    assert await aredis.zrange(keys.queue_key("diagnostic", "eu-west"), 0, -1) == [west]
    assert await aredis.zcard(keys.queue_key("diagnostic")) == 0
    # a cancel takes it out of the queue it is in
    assert await cancel(aredis, west, **RECORD_TTL) == "cancelled"
    assert await aredis.zcard(keys.queue_key("diagnostic", "eu-west")) == 0


async def test_a_dead_letter_retry_stays_in_its_region(aredis: Redis) -> None:
    task_id = (await enqueue(aredis, spec("eu-west"))).task_id
    await claim(aredis, "diagnostic", 1, 30.0, region="eu-west")
    await mark_failed(aredis, task_id, "exit code 3", completed_at="t", **FINISH)
    await dead_letter(aredis, task_id, 1.0, "alice")
    retried = await retry_dead_letter(aredis, task_id)
    assert await aredis.zrange(keys.queue_key("diagnostic", "eu-west"), 0, -1) == [retried.task_id]
    assert await aredis.zcard(keys.queue_key("diagnostic")) == 0
    assert await aredis.hget(keys.task_key(retried.task_id), "region") == "eu-west"
