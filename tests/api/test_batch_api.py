"""POST /v1/tasks:batch through the ASGI app against a real Redis: all items
queued in order, or none (not even a rate count); errors name the item."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import redis

from devskyy_operator import keys
from tests.api.conftest import app_client, auth, settings_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

BATCH = "/v1/tasks:batch"


def item(user: str = "alice", **options: Any) -> dict[str, Any]:
    return {"spec": {"type": "diagnostic", "input": {"user_id": user}}, **options}


def snapshot(client: redis.Redis) -> dict[Any, Any]:
    """Every key with its serialized value: equal snapshots mean nothing was written."""
    return {key: client.dump(key) for key in client.keys("*")}


def fields(response: httpx.Response) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


async def test_a_batch_is_queued_in_order(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    body = {"tasks": [item(task_id="batch-a"), item(), item(idempotency_key="k-1")]}
    response = await api.post(BATCH, json=body, headers=auth("alice"))
    assert response.status_code == 202, response.text
    tasks = response.json()["tasks"]
    assert [t["replayed"] for t in tasks] == [False, False, False]
    assert tasks[0]["id"] == "batch-a"
    ids = [t["id"] for t in tasks]
    assert [t["location"] for t in tasks] == [f"/v1/tasks/{i}" for i in ids]
    # FIFO within a priority: the queue holds them in the request's order.
    assert redis_client.zrange(keys.queue_key("diagnostic"), 0, -1) == ids
    for task_id in ids:
        record = redis_client.hgetall(keys.task_key(task_id))
        assert record["status"] == "pending"
        assert record["user_id"] == "alice"
    assert redis_client.scard(keys.user_queued_key("alice")) == 3
    view = await api.get(f"/v1/tasks/{ids[2]}", headers=auth("alice"))
    assert view.json()["queue"]["position"] == 2


async def test_one_invalid_item_refuses_the_batch_naming_it(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    bad = {"spec": {"type": "ml_training", "input": {"user_id": "alice", "epochs": "many"}}}
    body = {"tasks": [item(), bad, item(task_id="Not_An_Id"), item(colour="red")]}
    before = snapshot(redis_client)
    response = await api.post(BATCH, json=body, headers=auth("alice"))
    assert response.status_code == 422
    found = fields(response)
    assert "tasks.1.spec.input.epochs" in found
    assert "tasks.2.task_id" in found
    assert "tasks.3.colour" in found
    assert not any(f.startswith("tasks.0") for f in found)
    assert snapshot(redis_client) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([item()], "body"),
        ({"tasks": []}, "tasks"),
        ({"tasks": [item()], "extra": 1}, "extra"),
        ({"tasks": [item()] * 4}, "tasks"),
        ({"tasks": [{"task_id": "x"}]}, "tasks.0.spec"),
        ({"tasks": [item(task_id="same"), item(task_id="same")]}, "tasks.1.task_id"),
        (
            {"tasks": [item(idempotency_key="k"), item(idempotency_key="k")]},
            "tasks.1.idempotency_key",
        ),
    ],
)
async def test_malformed_batches_name_the_field(
    redis_url: str, redis_client: redis.Redis, body: Any, field: str
) -> None:
    async with app_client(settings_for(redis_url, max_batch_tasks=3)) as api:
        response = await api.post(BATCH, json=body, headers=auth("alice"))
    assert response.status_code == 422, response.text
    assert field in fields(response)
    assert snapshot(redis_client) == {}


async def test_a_key_given_twice_is_located_in_its_item(api: httpx.AsyncClient) -> None:
    raw = '{"tasks": [{"spec": {"type": "diagnostic", "input": {"user_id": "alice"}}},'
    raw += ' {"spec": {"type": "diagnostic", "type": "diagnostic", "input": {}}}]}'
    response = await api.post(
        BATCH, content=raw, headers={**auth("alice"), "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert fields(response) == ["tasks.1.spec.type"]


async def test_another_users_item_is_forbidden(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    response = await api.post(BATCH, json={"tasks": [item(), item("bob")]}, headers=auth("alice"))
    assert response.status_code == 403
    assert fields(response) == ["tasks.1.spec.input.user_id"]
    assert snapshot(redis_client) == {}
    admin = await api.post(BATCH, json={"tasks": [item(), item("bob")]}, headers=auth("ops"))
    assert admin.status_code == 202


async def test_a_taken_id_refuses_the_whole_batch(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    taken = await api.post("/v1/tasks?task_id=taken", json=item()["spec"], headers=auth("alice"))
    assert taken.status_code == 202
    before = snapshot(redis_client)
    body = {"tasks": [item(task_id="fresh-1"), item(), item(task_id="taken")]}
    response = await api.post(BATCH, json=body, headers=auth("alice"))
    assert response.status_code == 409
    assert fields(response) == ["tasks.2.task_id"]
    assert "no task of the batch was queued" in response.json()["detail"]
    assert snapshot(redis_client) == before  # not even the rate counter moved


async def test_the_queued_cap_counts_the_batch_itself(
    redis_url: str, redis_client: redis.Redis
) -> None:
    async with app_client(settings_for(redis_url, max_queued_per_user=3)) as api:
        assert (await api.post("/v1/tasks", json=item()["spec"], headers=auth("alice"))).is_success
        before = snapshot(redis_client)
        three = {"tasks": [item(), item(), item()]}
        response = await api.post(BATCH, json=three, headers=auth("alice"))
        assert response.status_code == 429
        assert fields(response) == ["tasks.2.spec.input.user_id"]
        assert "retry-after" in response.headers
        assert snapshot(redis_client) == before
        two = await api.post(BATCH, json={"tasks": [item(), item()]}, headers=auth("alice"))
        assert two.status_code == 202
        assert redis_client.scard(keys.user_queued_key("alice")) == 3


async def test_the_rate_limit_counts_every_item(redis_url: str, redis_client: redis.Redis) -> None:
    async with app_client(settings_for(redis_url, rate_limit_per_minute=4)) as api:
        five = {"tasks": [item() for _ in range(5)]}
        response = await api.post(BATCH, json=five, headers=auth("alice"))
        assert response.status_code == 429
        assert fields(response) == ["tasks.4.spec.input.user_id"]
        assert int(response.headers["retry-after"]) == 60  # the whole window: nothing counted
        assert snapshot(redis_client) == {}
        bob = await api.post(BATCH, json={"tasks": [item("bob")] * 4}, headers=auth("bob"))
        assert bob.status_code == 202
        assert redis_client.get(keys.rate_key("bob")) == "4"
        more = await api.post("/v1/tasks", json=item("bob")["spec"], headers=auth("bob"))
        assert more.status_code == 429


async def test_per_item_idempotency_keys_replay_and_conflict(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    body = {"tasks": [item(idempotency_key="a"), item(idempotency_key="b")]}
    first = await api.post(BATCH, json=body, headers=auth("alice"))
    assert first.status_code == 202
    ids = [t["id"] for t in first.json()["tasks"]]

    grown = {"tasks": [*body["tasks"], item(idempotency_key="c")]}
    again = await api.post(BATCH, json=grown, headers=auth("alice"))
    assert again.status_code == 202
    tasks = again.json()["tasks"]
    assert [t["id"] for t in tasks[:2]] == ids
    assert [t["replayed"] for t in tasks] == [True, True, False]
    assert redis_client.zcard(keys.queue_key("diagnostic")) == 3

    # The same key as a single request's header: the same task.
    single = await api.post(
        "/v1/tasks", json=item()["spec"], headers={**auth("alice"), "Idempotency-Key": "a"}
    )
    assert single.json()["id"] == ids[0]

    before = snapshot(redis_client)
    changed = {"spec": {"type": "diagnostic", "priority": 7, "input": {"user_id": "alice"}}}
    conflict = {"tasks": [item(idempotency_key="d"), {**changed, "idempotency_key": "b"}]}
    response = await api.post(BATCH, json=conflict, headers=auth("alice"))
    assert response.status_code == 409
    assert fields(response) == ["tasks.1.idempotency_key"]
    assert ids[1] in json.dumps(response.json())
    assert snapshot(redis_client) == before


async def test_the_body_limit_is_its_own(redis_url: str) -> None:
    settings = settings_for(redis_url, max_body_bytes=1024, max_batch_body_bytes=2048)
    body = {"tasks": [item() for _ in range(20)]}
    assert 1024 < len(json.dumps(body)) < 2048
    async with app_client(settings) as api:
        assert (await api.post(BATCH, json=body, headers=auth("alice"))).status_code == 202
        body = {"tasks": [item() for _ in range(40)]}
        assert (await api.post(BATCH, json=body, headers=auth("alice"))).status_code == 413
