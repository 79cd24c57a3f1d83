"""Tiers at the API: the tier comes from the user, the priority lands in its band,
and each tier's rate limit and queued-task cap answer through the one mapping
of queue refusals (429 with Retry-After, naming the tier)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from devskyy_operator import keys
from devskyy_operator.settings import TierPolicy
from tests.api.conftest import app_client, auth, settings_for
from tests.support.dead_letters import seed_dead_letter

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

# alice: free (the default tier); bob: enterprise.
USER_TIERS = {"bob": "enterprise"}


def diagnostic(user: str, **fields: Any) -> dict[str, Any]:
    return {"type": "diagnostic", "input": {"user_id": user}, **fields}


async def test_a_free_user_cannot_raise_their_band(
    redis_url: str, redis_client: redis.Redis
) -> None:
    async with app_client(settings_for(redis_url, user_tiers=USER_TIERS)) as api:
        asked = await api.post("/v1/tasks", json=diagnostic("alice", priority=1000),
                               headers=auth("alice"))  # fmt: skip
        later = await api.post("/v1/tasks", json=diagnostic("bob"), headers=auth("bob"))
        assert (asked.status_code, later.status_code) == (202, 202)
        free_id, enterprise_id = asked.json()["id"], later.json()["id"]
        view = (await api.get(f"/v1/tasks/{free_id}", headers=auth("alice"))).json()
        assert (view["tier"], view["priority"], view["requested_priority"]) == ("free", 299, 1000)
        bobs = (await api.get(f"/v1/tasks/{enterprise_id}", headers=auth("bob"))).json()
        assert (bobs["tier"], bobs["priority"], bobs["requested_priority"]) == (
            "enterprise", 700, 100,
        )  # fmt: skip
        # The tier is not the request's to say: no such field in a task.
        forged = await api.post("/v1/tasks", json=diagnostic("alice", tier="enterprise"),
                                headers=auth("alice"))  # fmt: skip
        assert forged.status_code == 422
        assert [e["field"] for e in forged.json()["errors"]] == ["tier"]
    # The queue and the spec the bridge turns into the CR carry the banded priority:
    # the enterprise default, submitted later, is claimed first.
    assert redis_client.zrange(keys.queue_key("diagnostic"), 0, -1) == [enterprise_id, free_id]
    stored = redis_client.hmget(keys.task_key(free_id), "spec", "tier")
    assert json.loads(stored[0])["priority"] == 299
    assert stored[1] == "free"


async def test_each_tier_has_its_own_rate_limit(redis_url: str) -> None:
    tiers = {"free": {"rateLimitPerMinute": 2}}
    settings = settings_for(redis_url, user_tiers=USER_TIERS, tiers=tiers, rate_window_seconds=60)
    async with app_client(settings) as api:
        for _ in range(2):
            ok = await api.post("/v1/tasks", json=diagnostic("alice"), headers=auth("alice"))
            assert ok.status_code == 202
        limited = await api.post("/v1/tasks", json=diagnostic("alice"), headers=auth("alice"))
        assert limited.status_code == 429
        assert limited.json() == {
            "detail": "rate limit exceeded: 2 requests per window for tier free"
        }
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        reads = await api.get("/v1/queues", headers=auth("alice"))  # reads count too
        assert reads.status_code == 429
        assert "retry-after" in reads.headers
        # The enterprise user is under the global limit (600): not refused.
        for _ in range(5):
            ok = await api.post("/v1/tasks", json=diagnostic("bob"), headers=auth("bob"))
            assert ok.status_code == 202


async def test_each_tier_has_its_own_queued_cap(redis_url: str) -> None:
    tiers = {"free": TierPolicy(priority_min=0, priority_max=299, max_queued=1)}
    settings = settings_for(redis_url, user_tiers=USER_TIERS, tiers=tiers, rate_window_seconds=42)
    async with app_client(settings) as api:
        assert (
            await api.post("/v1/tasks", json=diagnostic("alice"), headers=auth("alice"))
        ).is_success
        capped = await api.post("/v1/tasks", json=diagnostic("alice"), headers=auth("alice"))
        assert capped.status_code == 429
        assert capped.json() == {"detail": "at most 1 queued tasks per user of tier free"}
        assert capped.headers["retry-after"] == "42"
        batch = {"tasks": [{"spec": diagnostic("alice")}]}
        refused = await api.post("/v1/tasks:batch", json=batch, headers=auth("alice"))
        assert refused.status_code == 429
        assert refused.json()["errors"] == [
            {"field": "tasks.0.spec.input.user_id",
             "message": "at most 1 queued tasks per user of tier free"}
        ]  # fmt: skip
        for _ in range(3):
            ok = await api.post("/v1/tasks", json=diagnostic("bob"), headers=auth("bob"))
            assert ok.status_code == 202


async def test_a_batch_is_placed_in_its_tier(redis_url: str, redis_client: redis.Redis) -> None:
    async with app_client(settings_for(redis_url, user_tiers=USER_TIERS)) as api:
        batch = {"tasks": [{"spec": diagnostic("alice", priority=p)} for p in (1000, 10)]}
        done = await api.post("/v1/tasks:batch", json=batch, headers=auth("alice"))
        assert done.status_code == 202
        ids = [t["id"] for t in done.json()["tasks"]]
        stored = [redis_client.hmget(keys.task_key(i), "priority", "tier") for i in ids]
        assert stored == [["299", "free"], ["10", "free"]]
        # One script checks one tier's limits: an admin batches per tier.
        mixed = {"tasks": [{"spec": diagnostic("alice")}, {"spec": diagnostic("bob")}]}
        refused = await api.post("/v1/tasks:batch", json=mixed, headers=auth("ops"))
        assert refused.status_code == 422
        assert refused.json()["detail"] == "a batch holds tasks of one tier (got enterprise, free)"
        assert [e["field"] for e in refused.json()["errors"]] == [
            "tasks.0.spec.input.user_id", "tasks.1.spec.input.user_id",
        ]  # fmt: skip
    assert redis_client.zcard(keys.queue_key("diagnostic")) == 2  # nothing of the mixed one


async def test_a_retried_dead_letter_is_placed_as_first_asked(
    redis_url: str, redis_client: redis.Redis
) -> None:
    """The retry re-places the priority first asked (not the banded one again) in
    the user's tier of now, and keeps the tier in its record."""
    async with app_client(settings_for(redis_url)) as api:
        queued = await api.post("/v1/tasks", json=diagnostic("alice", priority=40),
                                headers=auth("alice"))  # fmt: skip
        task_id = queued.json()["id"]
        seed_dead_letter(redis_client, task_id, "alice", 1.0)
    # Alice is enterprise now: her retry moves up to the enterprise band.
    settings = settings_for(redis_url, user_tiers={"alice": "enterprise"})
    async with app_client(settings) as api:
        retried = await api.post(f"/v1/dlq/{task_id}/retry", headers=auth("alice"))
        assert retried.status_code == 202, retried.text
        view = (await api.get(retried.headers["location"], headers=auth("alice"))).json()
    assert (view["tier"], view["priority"], view["requested_priority"]) == ("enterprise", 640, 40)
    score = redis_client.zscore(keys.queue_key("diagnostic"), view["id"])
    assert score is not None
    assert score == keys.queue_score(640, int(score) % (1 << 42))
