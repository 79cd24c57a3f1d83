"""The /v1/tasks routes through the ASGI app against a real Redis."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
import redis

from devskyy_operator import keys
from devskyy_operator.redisq import claim, connect
from devskyy_operator.redisq.scripts import disconnect
from devskyy_operator.redisq.task_store import mark_completed
from tests.api.conftest import app_client, auth, settings_for
from tests.support.lifetimes import DEFAULTS, FINISH

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


def diagnostic(user: str = "alice", **extra: Any) -> dict[str, Any]:
    return {"type": "diagnostic", "input": {"user_id": user, **extra}}


async def test_enqueue_then_read(api: httpx.AsyncClient, redis_client: redis.Redis) -> None:
    response = await api.post("/v1/tasks", json=diagnostic(), headers=auth("alice"))
    assert response.status_code == 202
    task_id = response.json()["id"]
    assert response.headers["location"] == f"/v1/tasks/{task_id}"
    assert response.json() == {
        "id": task_id,
        "status": "pending",
        "location": f"/v1/tasks/{task_id}",
    }
    assert redis_client.zscore(keys.queue_key("diagnostic"), task_id) is not None

    view = (await api.get(f"/v1/tasks/{task_id}", headers=auth("alice"))).json()
    assert view["status"] == "pending"
    assert view["queue"] == {"position": 0, "queued": 1, "estimated_wait_seconds": None}
    assert (await api.get(f"/v1/tasks/{task_id}", headers=auth("bob"))).status_code == 404
    assert (await api.get(f"/v1/tasks/{task_id}", headers=auth("ops"))).status_code == 200
    assert (await api.get("/v1/tasks/task-nothere", headers=auth("alice"))).status_code == 404
    assert (await api.get("/v1/tasks/..%2Fetc", headers=auth("alice"))).status_code == 404


async def test_a_cache_hit_shows_in_the_view(api: httpx.AsyncClient, redis_url: str) -> None:
    """The operator served the task from the result cache: the view says so and names
    the task that ran."""
    task_id = (await api.post("/v1/tasks", json=diagnostic(), headers=auth("alice"))).json()["id"]
    client = connect(redis_url)
    try:
        await mark_completed(
            client, task_id, '{"status": "success"}', "2026-01-05T12:00:00Z",
            cached_from="task-that-ran", **FINISH,
        )  # fmt: skip
    finally:
        await disconnect(client)
    view = (await api.get(f"/v1/tasks/{task_id}", headers=auth("alice"))).json()
    assert (view["status"], view["cache_hit"], view["cached_from"]) == (
        "completed", True, "task-that-ran",
    )  # fmt: skip
    assert view["result"] == {"status": "success"}
    plain = (await api.post("/v1/tasks", json=diagnostic(), headers=auth("alice"))).json()["id"]
    view = (await api.get(f"/v1/tasks/{plain}", headers=auth("alice"))).json()
    assert (view["cache_hit"], view["cached_from"]) == (False, "")


async def test_result_and_estimated_wait(api: httpx.AsyncClient, redis_url: str) -> None:
    ids = [
        (await api.post("/v1/tasks", json=diagnostic(), headers=auth("alice"))).json()["id"]
        for _ in range(3)
    ]
    client = connect(redis_url)
    try:
        await claim(client, "diagnostic", 1, 30)
        await mark_completed(
            client, ids[0], '{"status": "success"}', "2026-01-05T12:00:00Z", **FINISH
        )
    finally:
        await disconnect(client)
    done = (await api.get(f"/v1/tasks/{ids[0]}", headers=auth("alice"))).json()
    assert done["status"] == "completed"
    assert done["result"] == {"status": "success"}
    assert done["queue"] is None
    queued = (await api.get(f"/v1/tasks/{ids[2]}", headers=auth("alice"))).json()
    assert queued["queue"]["position"] == 1
    assert queued["queue"]["estimated_wait_seconds"] == pytest.approx(
        2 * DEFAULTS.throughput_window_seconds, rel=0.01
    )


async def test_idempotency_key(api: httpx.AsyncClient) -> None:
    headers = {**auth("alice"), "Idempotency-Key": "order-42"}
    first = await api.post("/v1/tasks", json=diagnostic(), headers=headers)
    again = await api.post("/v1/tasks", json=diagnostic(), headers=headers)
    assert again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    other = await api.post("/v1/tasks", json=diagnostic(sleep_seconds=1), headers=headers)
    assert other.status_code == 409


async def test_auth_and_ownership(api: httpx.AsyncClient, redis_client: redis.Redis) -> None:
    missing = await api.post("/v1/tasks", json=diagnostic())
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = await api.get("/v1/tasks", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    basic = await api.get("/v1/queues", headers={"Authorization": "Basic YWxpY2U6eA=="})
    assert basic.status_code == 401
    forbidden = await api.post("/v1/tasks", json=diagnostic(user="bob"), headers=auth("alice"))
    assert forbidden.status_code == 403
    assert redis_client.keys("*") == []  # refused requests leave nothing behind
    assert (await api.get("/v1/tasks?user_id=bob", headers=auth("alice"))).status_code == 403
    for_bob = await api.post("/v1/tasks", json=diagnostic(user="bob"), headers=auth("ops"))
    assert for_bob.status_code == 202
    listed = (await api.get("/v1/tasks?user_id=bob", headers=auth("ops"))).json()["tasks"]
    assert [t["id"] for t in listed] == [for_bob.json()["id"]]
    assert (await api.get("/v1/tasks", headers=auth("alice"))).json() == {
        "tasks": [],
        "next_cursor": None,
    }


async def test_list_and_cancel(api: httpx.AsyncClient, redis_url: str) -> None:
    ids = [
        (await api.post("/v1/tasks", json=diagnostic(), headers=auth("alice"))).json()["id"]
        for _ in range(3)
    ]
    assert (await api.delete(f"/v1/tasks/{ids[0]}", headers=auth("bob"))).status_code == 404
    cancelled = await api.delete(f"/v1/tasks/{ids[0]}", headers=auth("alice"))
    assert cancelled.status_code == 202
    assert cancelled.json() == {"id": ids[0], "outcome": "cancelled"}
    assert (await api.delete(f"/v1/tasks/{ids[0]}", headers=auth("alice"))).status_code == 409
    client = connect(redis_url)
    try:
        await claim(client, "diagnostic", 1, 30)
    finally:
        await disconnect(client)
    requested = await api.delete(f"/v1/tasks/{ids[1]}", headers=auth("alice"))
    assert requested.json()["outcome"] == "requested"
    failed = await api.get("/v1/tasks?status=failed", headers=auth("alice"))
    assert [t["id"] for t in failed.json()["tasks"]] == [ids[0]]
    everything = await api.get("/v1/tasks?limit=2", headers=auth("alice"))
    assert [t["id"] for t in everything.json()["tasks"]] == [ids[2], ids[1]]


async def test_caller_chosen_id(api: httpx.AsyncClient) -> None:
    url = "/v1/tasks?task_id=nightly-report-1"
    assert (await api.post(url, json=diagnostic(), headers=auth("alice"))).status_code == 202
    assert (await api.post(url, json=diagnostic(), headers=auth("alice"))).status_code == 409
    bad = await api.post("/v1/tasks?task_id=Bad_Id", json=diagnostic(), headers=auth("alice"))
    assert bad.status_code == 422


async def test_rate_limit_and_queue_cap(redis_url: str) -> None:
    settings = settings_for(redis_url, rate_limit_per_minute=2, max_queued_per_user=100)
    async with app_client(settings) as api:
        for _ in range(2):
            assert (await api.get("/v1/queues", headers=auth("alice"))).status_code == 200
        limited = await api.post("/v1/tasks", json=diagnostic(), headers=auth("alice"))
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert (await api.get("/v1/queues", headers=auth("bob"))).status_code == 200
    async with app_client(settings_for(redis_url, max_queued_per_user=1)) as api:
        assert (
            await api.post("/v1/tasks", json=diagnostic(user="carl"), headers=auth("ops"))
        ).status_code == 202
        capped = await api.post("/v1/tasks", json=diagnostic(user="carl"), headers=auth("ops"))
        assert capped.status_code == 429
        assert "retry-after" in capped.headers


async def test_audit_line_per_request(
    api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="devskyy.audit")
    accepted = await api.post("/v1/tasks", json=diagnostic(), headers=auth("alice"))
    await api.post("/v1/tasks", json=diagnostic(user="bob"), headers=auth("alice"))
    lines = [r.getMessage() for r in caplog.records if r.name == "devskyy.audit"]
    assert len(lines) == 2
    assert "user=alice" in lines[0]
    assert f"task={accepted.json()['id']}" in lines[0]
    assert "type=diagnostic" in lines[0]
    assert "decision=accepted" in lines[0]
    assert "status=403" in lines[1]
    assert "decision=rejected" in lines[1]
    assert not any("secret-token" in line for line in lines)


async def test_queues_health_and_metrics(api: httpx.AsyncClient) -> None:
    await api.post("/v1/tasks", json=diagnostic(), headers=auth("alice"))
    queues = (await api.get("/v1/queues", headers=auth("alice"))).json()["queues"]
    assert {"type": "diagnostic", "queued": 1, "leased": 0} in queues
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    assert (await api.get("/readyz")).status_code == 200
    text = (await api.get("/metrics")).text
    assert 'worker_queue_size{type="diagnostic"} 1.0' in text
    assert 'devskyy_api_requests_total{method="POST",route="/v1/tasks",status="202"} 1.0' in text


async def test_redis_down_is_503(redis_server: object) -> None:
    from tests.support.ports import free_port

    async with app_client(settings_for(f"redis://127.0.0.1:{free_port()}/0")) as api:
        assert (await api.get("/readyz")).status_code == 503
        down = await api.post("/v1/tasks", json=diagnostic(), headers=auth("alice"))
        assert down.status_code == 503
