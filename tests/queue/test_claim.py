"""Claim, release, lease expiry and reclaim against a real Redis (and its restart)."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.exceptions import ResponseError

from devskyy_operator import keys
from devskyy_operator.redisq import (
    Redis,
    cancel,
    claim,
    connect,
    enqueue,
    extend_lease,
    reclaim_expired,
    release,
)
from devskyy_operator.redisq.claim import hand_back, leased_ids
from devskyy_operator.redisq.scripts import disconnect
from tests.queue.conftest import diagnostic_spec
from tests.support.lifetimes import RECORD_TTL
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]
QUEUE = keys.queue_key("diagnostic")


async def test_claim_moves_best_ids_into_leases(aredis: Redis) -> None:
    ids = [(await enqueue(aredis, diagnostic_spec(priority=p))).task_id for p in (1, 2, 3)]
    before = dict(await aredis.zrange(QUEUE, 0, -1, withscores=True))
    claimed = await claim(aredis, "diagnostic", 2, 30, now=1000.0)
    assert [c.task_id for c in claimed] == [ids[2], ids[1]]
    assert claimed[0].spec().priority == 3
    assert claimed[0].user_id == "alice"
    assert await leased_ids(aredis, "diagnostic") == {ids[2]: 1030.0, ids[1]: 1030.0}
    assert await aredis.zrange(QUEUE, 0, -1) == [ids[0]]
    assert await aredis.hget(keys.task_key(ids[2]), "status") == "pending"
    assert float(await aredis.hget(keys.task_key(ids[2]), "queue_score") or "nan") == before[ids[2]]
    assert not await aredis.sismember(keys.user_queued_key("alice"), ids[2])
    assert await aredis.sismember(keys.user_queued_key("alice"), ids[0])
    assert await claim(aredis, "diagnostic", 0, 30) == []


async def test_max_leased_counts_every_bridges_leases(aredis: Redis) -> None:
    ids = [(await enqueue(aredis, diagnostic_spec())).task_id for _ in range(10)]
    first = await claim(aredis, "diagnostic", 5, 30, max_leased=6)  # one bridge
    second = await claim(aredis, "diagnostic", 5, 30, max_leased=6)  # another
    assert [c.task_id for c in first + second] == ids[:6]
    assert await claim(aredis, "diagnostic", 5, 30, max_leased=6) == []
    assert await release(aredis, "diagnostic", ids[0])  # its CR exists now
    assert [c.task_id for c in await claim(aredis, "diagnostic", 5, 30, max_leased=6)] == [ids[6]]
    assert await aredis.zrange(QUEUE, 0, -1) == ids[7:]


async def test_claim_drops_queued_ids_whose_record_is_not_pending(aredis: Redis) -> None:
    ids = [(await enqueue(aredis, diagnostic_spec(priority=9 - i))).task_id for i in range(4)]
    await aredis.hset(keys.task_key(ids[0]), "status", "completed")  # finished elsewhere
    await aredis.delete(keys.task_key(ids[1]))  # record gone while queued
    claimed = await claim(aredis, "diagnostic", 3, 30, now=1000.0)
    assert [c.task_id for c in claimed] == [ids[2]]
    assert await leased_ids(aredis, "diagnostic") == {ids[2]: 1030.0}
    assert await aredis.zrange(QUEUE, 0, -1) == [ids[3]]
    # Out of the queue is out of the user's queued count (the deleted one's user is unknown).
    assert await aredis.smembers(keys.user_queued_key("alice")) == {ids[1], ids[3]}


async def test_claim_returns_what_the_bridge_needs_for_many_users(aredis: Redis) -> None:
    users = [f"user-{i % 7}" for i in range(1200)]  # past the script's 1,000-wide chunks
    enqueued = [await enqueue(aredis, diagnostic_spec(user)) for user in users]
    claimed = await claim(aredis, "diagnostic", 1500, 30, now=1000.0)
    assert [c.task_id for c in claimed] == [e.task_id for e in enqueued]
    assert [c.user_id for c in claimed] == users
    for task in claimed[:3]:
        record = await aredis.hmget(keys.task_key(task.task_id), "spec", "created_at")
        assert [task.spec_json, task.created_at] == record
        assert task.spec().input["user_id"] == task.user_id
    assert len(await leased_ids(aredis, "diagnostic")) == 1200
    for user in set(users):
        assert await aredis.scard(keys.user_queued_key(user)) == 0


# Hardened Redis users: keys limited to ours (SORT's GET needs all keys), or the
# @dangerous category (SORT is in it) taken away.
LIMITED_USERS = {
    "keys": {"keys": ["queue:*", "devskyy:*"], "categories": ["+@all"]},
    "commands": {"keys": ["*"], "categories": ["+@all", "-@dangerous"]},
}


@pytest.mark.parametrize("limits", LIMITED_USERS.values(), ids=list(LIMITED_USERS))
async def test_claim_as_a_limited_redis_user(
    own_redis: RedisServer, limits: dict[str, list[str]]
) -> None:
    """Where SORT ... GET is refused, the script reads per id: the same claim."""
    admin = connect(own_redis.url)
    await admin.acl_setuser("bridge", enabled=True, passwords=["+bridge-secret"], **limits)
    limited = connect(f"redis://bridge:bridge-secret@127.0.0.1:{own_redis.port}/0")
    try:
        with pytest.raises(ResponseError, match=r"(?i)permission"):
            await limited.sort(QUEUE, by="nosort", get=[f"{keys.TASK_PREFIX}*->spec"])
        users = ["ann", "bob", "ann", "bob", "ann"]
        ids = [
            (
                await enqueue(
                    admin, diagnostic_spec(user, priority=9 - i), extra_fields={"tier": user[0]}
                )
            ).task_id
            for i, user in enumerate(users)
        ]
        await admin.hset(keys.task_key(ids[1]), "status", "completed")
        claimed = await claim(limited, "diagnostic", 4, 30, now=1000.0)
        assert [(c.task_id, c.user_id, c.tier) for c in claimed] == [
            (ids[0], "ann", "a"),
            (ids[2], "ann", "a"),
            (ids[3], "bob", "b"),
        ]
        record = await admin.hmget(keys.task_key(ids[3]), "spec", "created_at")
        assert [claimed[2].spec_json, claimed[2].created_at] == record
        assert await leased_ids(admin, "diagnostic") == {
            i: 1030.0 for i in (ids[0], ids[2], ids[3])
        }
        assert await admin.zrange(QUEUE, 0, -1) == [ids[4]]
        assert await admin.smembers(keys.user_queued_key("ann")) == {ids[4]}
        assert await admin.smembers(keys.user_queued_key("bob")) == set()
    finally:
        await disconnect(limited)
        await disconnect(admin)


async def test_release_and_reclaim_with_injected_clock(aredis: Redis) -> None:
    ids = [(await enqueue(aredis, diagnostic_spec())).task_id for _ in range(3)]
    scores = dict(await aredis.zrange(QUEUE, 0, -1, withscores=True))
    await claim(aredis, "diagnostic", 3, 10, now=1000.0)
    assert await release(aredis, "diagnostic", ids[0])  # its CR exists now
    assert await extend_lease(aredis, "diagnostic", ids[1], 100, now=1005.0)
    assert not await extend_lease(aredis, "diagnostic", ids[0], 100, now=1005.0)
    assert await reclaim_expired(aredis, "diagnostic", now=1009.0, **RECORD_TTL) == 0
    assert await reclaim_expired(aredis, "diagnostic", now=1011.0, **RECORD_TTL) == 1  # ids[2] only
    assert dict(await aredis.zrange(QUEUE, 0, -1, withscores=True)) == {ids[2]: scores[ids[2]]}
    assert await leased_ids(aredis, "diagnostic") == {ids[1]: 1105.0}
    assert await aredis.sismember(keys.user_queued_key("alice"), ids[2])


async def test_short_real_lease_expires_on_server_clock(aredis: Redis) -> None:
    task_id = (await enqueue(aredis, diagnostic_spec())).task_id
    await claim(aredis, "diagnostic", 1, 0.2)
    deadline = time.monotonic() + 10
    while await reclaim_expired(aredis, "diagnostic", **RECORD_TTL) == 0:
        assert time.monotonic() < deadline, "lease never expired"
        await asyncio.sleep(0.02)
    assert await aredis.zrange(QUEUE, 0, -1) == [task_id]


async def test_cancel_requested_lease_is_not_requeued(aredis: Redis) -> None:
    task_id = (await enqueue(aredis, diagnostic_spec())).task_id
    await claim(aredis, "diagnostic", 1, 10, now=1000.0)
    assert await cancel(aredis, task_id, **RECORD_TTL) == "requested"
    assert await reclaim_expired(aredis, "diagnostic", now=2000.0, **RECORD_TTL) == 0
    record = await aredis.hgetall(keys.task_key(task_id))
    assert record["status"] == "failed"
    assert record["cancelled"] == "1"
    assert await aredis.zcard(QUEUE) == 0
    assert not await aredis.sismember(keys.CANCEL_REQUESTS, task_id)


async def test_hand_back_returns_held_leases_now_and_honours_cancels(aredis: Redis) -> None:
    ids = [(await enqueue(aredis, diagnostic_spec(priority=p))).task_id for p in (1, 2, 3, 4)]
    before = dict(await aredis.zrange(QUEUE, 0, -1, withscores=True))
    claimed = [c.task_id for c in await claim(aredis, "diagnostic", 4, 600)]  # 10 minutes
    assert await cancel(aredis, claimed[0], **RECORD_TTL) == "requested"
    gone = "not-leased-any-more"  # e.g. released meanwhile: hand_back must not invent it
    back = await hand_back(aredis, "diagnostic", [*claimed[:3], gone], **RECORD_TTL)
    assert back == 2  # the cancelled one is finished, not requeued
    assert set(await leased_ids(aredis, "diagnostic")) == {claimed[3]}
    queued = dict(await aredis.zrange(QUEUE, 0, -1, withscores=True))
    assert queued == {i: before[i] for i in claimed[1:3]}  # original scores: same order
    assert (await aredis.hgetall(keys.task_key(claimed[0])))["cancelled"] == "1"
    assert not await aredis.exists(keys.task_key(gone))
    assert await hand_back(aredis, "diagnostic", [], **RECORD_TTL) == 0
    assert set(ids) == set(claimed)


async def test_reclaim_handles_more_than_one_batch(aredis: Redis) -> None:
    for _ in range(1205):
        await enqueue(aredis, diagnostic_spec())
    await claim(aredis, "diagnostic", 2000, 1, now=1000.0)
    assert await reclaim_expired(aredis, "diagnostic", now=1002.0, **RECORD_TTL) == 1205
    assert await aredis.zcard(QUEUE) == 1205


async def test_redis_restart_mid_claim_loses_nothing(own_redis: RedisServer) -> None:
    client = connect(own_redis.url)
    try:
        ids = {(await enqueue(client, diagnostic_spec())).task_id for _ in range(20)}
        claimed = await claim(client, "diagnostic", 5, 10, now=1000.0)
        own_redis.restart()  # SIGKILL; AOF with fsync always
        await disconnect(client)
        client = connect(own_redis.url)
        queued = set(await client.zrange(QUEUE, 0, -1))
        leased = set(await leased_ids(client, "diagnostic"))
        assert leased == {c.task_id for c in claimed}
        assert queued | leased == ids
        assert not queued & leased
        await client.script_flush()  # the script cache is gone after a restart anyway
        assert await reclaim_expired(client, "diagnostic", now=2000.0, **RECORD_TTL) == 5
        assert set(await client.zrange(QUEUE, 0, -1)) == ids
        again = await claim(client, "diagnostic", 20, 10)
        assert {c.task_id for c in again} == ids
    finally:
        await disconnect(client)


async def test_claim_carries_the_tier_the_api_recorded(aredis: Redis) -> None:
    """The bridge labels the CR from it; a record without one (older, or not from
    the API) is untiered."""
    tiered = await enqueue(aredis, diagnostic_spec(priority=700), extra_fields={"tier": "pro"})
    untiered = await enqueue(aredis, diagnostic_spec(priority=1))
    claimed = await claim(aredis, "diagnostic", 5, 30, now=1000.0)
    assert [(c.task_id, c.tier) for c in claimed] == [
        (tiered.task_id, "pro"),
        (untiered.task_id, ""),
    ]
