"""/v1/dlq through the ASGI app: list, show and retry, with ownership."""

from __future__ import annotations

import httpx
import pytest
import redis

from tests.api.conftest import auth
from tests.support.dead_letters import seed_dead_letter

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


async def test_dlq_list_show_retry(api: httpx.AsyncClient, redis_client: redis.Redis) -> None:
    seed_dead_letter(redis_client, "task-a1", "alice", 1.0)
    seed_dead_letter(redis_client, "task-b1", "bob", 2.0)
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


async def test_dlq_show_and_the_cli_give_the_log_tail(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    from devskyy_operator.cli.main import render

    tail = "2026-01-05 12:00:00 - worker - INFO - Processing task-t1\nAuthorization: ***"
    seed_dead_letter(redis_client, "task-t1", "alice", 1.0, log_tail=tail)
    shown = (await api.get("/v1/dlq/task-t1", headers=auth("alice"))).json()
    assert (shown["log_pod"], shown["log_tail"]) == ("task-t1-x7k2p", tail)
    listed = (await api.get("/v1/dlq", headers=auth("alice"))).json()["dead_letters"]
    assert listed[0]["log_tail"] == tail
    text = render("dlq show", shown)
    assert text.endswith(
        "log tail:\n  2026-01-05 12:00:00 - worker - INFO - Processing task-t1\n"
        "  Authorization: ***"
    )
    assert "log_pod" in text
