"""The result cache's Redis side on a real redis-server: entries with their TTL,
first writer wins, the newest model version kept, a cache hit in the task hash."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from devskyy_operator import keys
from devskyy_operator.cache import store
from devskyy_operator.cache.key import CacheEntry
from devskyy_operator.redisq import Redis, enqueue, get_task
from devskyy_operator.redisq.task_store import mark_completed
from tests.queue.conftest import diagnostic_spec
from tests.support.lifetimes import FINISH
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

DIGEST = "ab" * 32
T0 = datetime(2026, 1, 5, 12, tzinfo=UTC)


async def test_an_entry_is_stored_with_its_ttl_and_read_back(aredis: Redis) -> None:
    assert await store.get_entry(aredis, DIGEST) is None
    entry = CacheEntry(task_id="first", result={"status": "success", "n": 1}, stored_at=T0)
    assert await store.put_entry(aredis, DIGEST, entry, 120)
    assert await store.get_entry(aredis, DIGEST) == entry
    assert 0 < await aredis.ttl(keys.result_cache_key(DIGEST)) <= 120
    assert await aredis.exists(f"devskyy:result-cache:{DIGEST}") == 1


async def test_the_first_result_within_the_ttl_stands(aredis: Redis) -> None:
    """Two identical tasks that both missed both succeed; hits name the first."""
    first = CacheEntry(task_id="first", result={"n": 1}, stored_at=T0)
    second = CacheEntry(task_id="second", result={"n": 2}, stored_at=T0)
    assert await store.put_entry(aredis, DIGEST, first, 60)
    assert not await store.put_entry(aredis, DIGEST, second, 60)
    stored = await store.get_entry(aredis, DIGEST)
    assert stored is not None
    assert stored.task_id == "first"


async def test_an_expired_or_damaged_entry_is_a_miss(aredis: Redis) -> None:
    entry = CacheEntry(task_id="first", result={}, stored_at=T0)
    await store.put_entry(aredis, DIGEST, entry, 60)
    await aredis.pexpire(keys.result_cache_key(DIGEST), 1)
    await aredis.set("devskyy:result-cache:" + "cd" * 32, "{not json")
    assert await store.get_entry(aredis, "cd" * 32) is None

    async def gone() -> bool:
        return await store.get_entry(aredis, DIGEST) is None

    assert await eventually(gone, timeout=5, what="the entry to expire")


async def test_the_newest_model_version_is_kept(aredis: Redis) -> None:
    model = "trend_predictor"
    assert await store.latest_model_version(aredis, model) is None
    old, new = "20260101T000000000000Z-aaaaaaaa", "20260102T000000000000Z-bbbbbbbb"
    assert await store.record_model_version(aredis, model, old)
    assert await store.record_model_version(aredis, model, new)
    assert not await store.record_model_version(aredis, model, old)  # a late, older report
    assert not await store.record_model_version(aredis, model, new)  # the same again
    assert await store.latest_model_version(aredis, model) == new
    assert await aredis.get(keys.model_latest_key(model)) == new


async def test_a_cache_hit_is_noted_in_the_task_hash(aredis: Redis) -> None:
    task_id = (await enqueue(aredis, diagnostic_spec())).task_id
    written = await mark_completed(aredis, task_id, '{"n":1}', "t1", cached_from="first", **FINISH)
    assert written == "ok"
    record = await get_task(aredis, task_id)
    assert record is not None
    assert (record.status, record.cache_hit, record.cached_from) == ("completed", True, "first")
    assert record.result == {"n": 1}
