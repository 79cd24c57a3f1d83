"""/v1/dlq through the ASGI app: list, show and retry, with ownership."""

from __future__ import annotations

import json

import httpx
import pytest
import redis

from devskyy_operator import keys
from tests.api.conftest import auth

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


def write_dead_letter(client: redis.Redis, task_id: str, user: str, failed: float) -> None:
    record = {
        "task_id": task_id,
        "task_data": {"user_id": user},
        "error": "exit code 3",
        "error_type": "RetryableError",
        "failed_at": "2026-01-05T12:00:00Z",
        "worker_host": "node-1",
        "attempts": 3,
        "reason": "BackoffLimitExceeded",
        "exit_code": 3,
        "termination_message": "",
        "task_type": "diagnostic",
        "user_id": user,
    }
    client.set(keys.dlq_key(task_id), json.dumps(record), ex=keys.DLQ_TTL_SECONDS)
    client.zadd(keys.DLQ_INDEX, {task_id: failed})


async def test_dlq_list_show_retry(api: httpx.AsyncClient, redis_client: redis.Redis) -> None:
    write_dead_letter(redis_client, "task-a1", "alice", 1.0)
    write_dead_letter(redis_client, "task-b1", "bob", 2.0)
    mine = (await api.get("/v1/dlq", headers=auth("alice"))).json()["dead_letters"]
    assert [d["task_id"] for d in mine] == ["task-a1"]
    everyone = (await api.get("/v1/dlq", headers=auth("ops"))).json()["dead_letters"]
    assert [d["task_id"] for d in everyone] == ["task-b1", "task-a1"]
    shown = await api.get("/v1/dlq/task-a1", headers=auth("alice"))
    assert shown.json()["reason"] == "BackoffLimitExceeded"
    assert (await api.get("/v1/dlq/task-b1", headers=auth("alice"))).status_code == 404
    assert (await api.post("/v1/dlq/task-b1/retry", headers=auth("alice"))).status_code == 404

    retried = await api.post("/v1/dlq/task-a1/retry", headers=auth("alice"))
    assert retried.status_code == 202
    assert retried.json()["id"] == "task-a1-r1"
    assert retried.headers["location"] == "/v1/tasks/task-a1-r1"
    assert (await api.get("/v1/dlq/task-a1", headers=auth("alice"))).status_code == 404
    view = (await api.get("/v1/tasks/task-a1-r1", headers=auth("alice"))).json()
    assert view["status"] == "pending"
    assert (await api.post("/v1/dlq/task-a1/retry", headers=auth("alice"))).status_code == 404
