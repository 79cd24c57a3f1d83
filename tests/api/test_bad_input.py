"""Bad input is refused with the right status, names the field, and leaves NOTHING
in Redis. The HTTP-layer cases (413 on a lying or absent Content-Length) go
through a real uvicorn process."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis

from devskyy_operator.intake.errors import MAX_FIELD_ERRORS
from devskyy_operator.settings import ResourceDefaults
from tests.api.conftest import app_client, auth, settings_for
from tests.api.live_server import LiveApi

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def training(path: str = "sales/2025.csv", **extra: Any) -> dict[str, Any]:
    task_input = {"user_id": "alice", "model_id": "trend_predictor", "training_data_path": path}
    return {"type": "ml_training", "input": {**task_input, **extra}}


def image_task(url: str) -> dict[str, Any]:
    return {"type": "generate_3d", "input": {"user_id": "alice", "image_url": url}}


def campaign(**extra: Any) -> dict[str, Any]:
    task_input = {
        "user_id": "alice", "campaign_id": "spring", "campaign_type": "email",
        "recipients": ["a@example.com"],
    }  # fmt: skip
    return {"type": "marketing_campaign", "input": {**task_input, **extra}}


BIG = {"user_id": "alice", "result": {"x": "a" * 70_000}}
BAD_BODIES: list[tuple[str, Any, str]] = [
    ("priority as string", {**training(), "priority": "5"}, "priority"),
    ("priority too high", {**training(), "priority": 5000}, "priority"),
    ("unknown top-level field", {**training(), "owner": "x"}, "owner"),
    ("unknown input field", training(command="rm -rf /"), "input.command"),
    ("epochs as string", training(epochs="3"), "input.epochs"),
    ("unknown type", {"type": "bitcoin_miner", "input": {"user_id": "alice"}}, "type"),
    ("input not an object", {"type": "diagnostic", "input": []}, "input"),
    ("body not an object", [1, 2], "body"),
    ("traversal", training("../../etc/passwd"), "input.training_data_path"),
    ("absolute path", training("/etc/passwd"), "input.training_data_path"),
    ("nested traversal", training("a/../../b.csv"), "input.training_data_path"),
    ("backslash", training("..\\secrets.csv"), "input.training_data_path"),
    ("metadata ip", image_task("https://169.254.169.254/latest"), "input.image_url"),
    ("localhost", image_task("https://localhost/a.png"), "input.image_url"),
    ("short loopback", image_task("https://127.1/a.png"), "input.image_url"),
    ("decimal loopback", image_task("https://2130706433/a.png"), "input.image_url"),
    ("hex loopback", image_task("https://0x7f000001/a.png"), "input.image_url"),
    ("mapped v6", image_task("https://[::ffff:127.0.0.1]/a.png"), "input.image_url"),
    ("plain http", image_task("http://example.com/a.png"), "input.image_url"),
    ("credentials", image_task("https://user:pw@example.com/a.png"), "input.image_url"),
    ("oversized input", {"type": "diagnostic", "input": BIG}, "input"),
    ("percent-encoded traversal", training("datasets/%2e%2e/%2e%2e/etc/passwd"),
     "input.training_data_path"),
    ("email campaign to nobody", campaign(recipients=[]), "input.recipients"),
    ("social campaign to nobody", campaign(campaign_type="social", recipients=[]),
     "input.recipients"),
    ("cpu over the type's maximum", {**training(), "resources": {"requests": {"cpu": "1000000"}}},
     "resources.requests.cpu"),
    ("memory over the maximum",
     {**training(), "resources": {"requests": {"memory": "999999999Gi"}}},
     "resources.requests.memory"),
    ("cpu limit over the maximum", {**training(), "resources": {"limits": {"cpu": "1000000"}}},
     "resources.limits.cpu"),
    ("scheduled in year 9999", campaign(schedule_at="9999-12-31T23:59:59Z"), "input.schedule_at"),
    ("cache on a type with side effects", {**campaign(), "cache": {"enabled": True}},
     "cache.enabled"),
    ("cache ttl over the maximum",
     {"type": "diagnostic", "input": {"user_id": "alice"}, "cache": {"ttlSeconds": 10**6}},
     "cache.ttlSeconds"),
    ("cache ttl without the cache", {**training(), "cache": {"enabled": False, "ttlSeconds": 5}},
     "cache"),
    ("unknown cache field", {**training(), "cache": {"ttl": 5}}, "cache.ttl"),
    ("cache enabled as string", {**training(), "cache": {"enabled": "yes"}}, "cache.enabled"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "field"), [c[1:] for c in BAD_BODIES], ids=[c[0] for c in BAD_BODIES]
)
async def test_invalid_task_is_422_and_writes_nothing(
    api: httpx.AsyncClient, redis_client: redis.Redis, body: Any, field: str
) -> None:
    response = await api.post("/v1/tasks", json=body, headers=auth("alice"))
    assert response.status_code == 422, response.text
    fields = [e["field"] for e in response.json()["errors"]]
    assert any(f == field or f.startswith(field + ".") for f in fields), fields
    assert redis_client.keys("*") == []


JSON = {"Content-Type": "application/json"}


async def test_malformed_json_is_422(api: httpx.AsyncClient, redis_client: redis.Redis) -> None:
    response = await api.post("/v1/tasks", content=b"{not json", headers=auth("alice") | JSON)
    assert response.status_code == 422
    assert redis_client.keys("*") == []


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_a_body_not_declared_as_json_is_415(
    api: httpx.AsyncClient, redis_client: redis.Redis, content_type: str | None
) -> None:
    body = json.dumps(training()).encode()
    headers = auth("alice") | ({"Content-Type": content_type} if content_type else {})
    response = await api.post("/v1/tasks", content=body, headers=headers)
    assert response.status_code == 415, response.text
    assert "application/json" in response.json()["detail"]
    assert redis_client.keys("*") == []
    charset = auth("alice") | {"Content-Type": "Application/JSON; charset=utf-8"}
    assert (await api.post("/v1/tasks", content=body, headers=charset)).status_code == 202


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"type": "diagnostic", "input": {"user_id": "alice", "user_id": "mallory"}}',
         "input.user_id"),
        (b'{"type": "ml_training", "type": "diagnostic", "input": {"user_id": "alice"}}', "type"),
        (b'{"type": "diagnostic", "input": {"user_id": "alice", '
         b'"result": {"a": [{"k": 1, "k": 2}]}}}', "input.result.a.0.k"),
    ],
)  # fmt: skip
async def test_duplicate_keys_are_refused(
    api: httpx.AsyncClient, redis_client: redis.Redis, raw: bytes, field: str
) -> None:
    """The last value does not silently win: the client meant something else."""
    response = await api.post("/v1/tasks", content=raw, headers=auth("alice") | JSON)
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [{"field": field, "message": "key given more than once"}]
    assert redis_client.keys("*") == []


async def test_twenty_thousand_unknown_fields_get_a_short_reply(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    unknown = {f"f{i}": 0 for i in range(20_000)}  # beside the input: no input size limit
    body = {"type": "diagnostic", "input": {"user_id": "alice"}, **unknown}
    response = await api.post("/v1/tasks", json=body, headers=auth("alice"))
    assert response.status_code == 422
    assert len(response.content) < 8 * 1024, len(response.content)
    problem = response.json()
    assert len(problem["errors"]) == MAX_FIELD_ERRORS
    assert problem["errors"][0] == {"field": "f0", "message": "Extra inputs are not permitted"}
    assert problem["errors_omitted"] == 20_000 - MAX_FIELD_ERRORS
    assert f"{20_000 - MAX_FIELD_ERRORS} more errors not listed" in problem["detail"]
    assert redis_client.keys("*") == []


async def test_limits_follow_the_settings(redis_url: str, redis_client: redis.Redis) -> None:
    """The maxima and the horizon are the deployment's: the same task passes or not."""
    big = {**training(), "resources": {"requests": {"cpu": "6"}, "limits": {"cpu": "6"}}}
    soon = campaign(schedule_at=(datetime.now(UTC) + timedelta(days=30)).isoformat())
    async with app_client(settings_for(redis_url)) as default:
        assert (await default.post("/v1/tasks", json=big, headers=auth("alice"))).status_code == 202
        assert (
            await default.post("/v1/tasks", json=soon, headers=auth("alice"))
        ).status_code == 202
    tight = settings_for(
        redis_url, schedule_horizon_seconds=7 * 86_400,
        resources={"ml_training": ResourceDefaults(cpu_request="1", cpu_limit="2", cpu_max="4")},
    )  # fmt: skip
    async with app_client(tight) as strict:
        refused = await strict.post("/v1/tasks", json=big, headers=auth("alice"))
        assert refused.status_code == 422
        why = "6 is more than the maximum 4 of type ml_training"
        assert refused.json()["errors"] == [
            {"field": "resources.requests.cpu", "message": why},
            {"field": "resources.limits.cpu", "message": why},
        ]
        late = await strict.post("/v1/tasks", json=soon, headers=auth("alice"))
        assert late.status_code == 422
        assert late.json()["errors"][0]["field"] == "input.schedule_at"
        assert "7 days" in late.json()["errors"][0]["message"]
    past = campaign(schedule_at="2020-01-01T00:00:00Z")  # in the past: due now, accepted
    async with app_client(tight) as strict:
        assert (await strict.post("/v1/tasks", json=past, headers=auth("alice"))).status_code == 202


async def test_a_good_task_passes(api: httpx.AsyncClient) -> None:
    assert (await api.post("/v1/tasks", json=training(), headers=auth("alice"))).status_code == 202
    good_image = image_task("https://cdn.example.com/shirt.png")
    assert (await api.post("/v1/tasks", json=good_image, headers=auth("alice"))).status_code == 202


def test_live_server_accepts_and_locates(live_api: LiveApi, redis_client: redis.Redis) -> None:
    body = {"type": "diagnostic", "input": {"user_id": "alice"}}
    response = httpx.post(f"{live_api.url}/v1/tasks", json=body, headers=auth("alice"))
    assert response.status_code == 202
    location = response.headers["location"]
    assert httpx.get(live_api.url + location, headers=auth("alice")).json()["status"] == "pending"


def test_oversized_body_is_413(live_api: LiveApi, redis_client: redis.Redis) -> None:
    body = {"type": "diagnostic", "input": {"user_id": "alice", "result": {"x": "a" * 5000}}}
    response = httpx.post(f"{live_api.url}/v1/tasks", json=body, headers=auth("alice"))
    assert response.status_code == 413
    assert redis_client.keys("*") == []


def test_chunked_body_without_length_is_413(live_api: LiveApi, redis_client: redis.Redis) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"type": "diagnostic", "input": {"user_id": "alice", "result": {"x": "'
        for _ in range(10):
            yield b"a" * 1000
        yield b'"}}}'

    headers = auth("alice") | JSON
    response = httpx.post(f"{live_api.url}/v1/tasks", content=chunks(), headers=headers)
    assert response.status_code == 413
    assert redis_client.keys("*") == []


def test_lying_content_length_is_refused(live_api: LiveApi, redis_client: redis.Redis) -> None:
    """Declares 100 bytes, sends 6000: never read past the declared length."""
    host, port = live_api.url.removeprefix("http://").split(":")
    payload = (
        b'{"type": "diagnostic", "input": {"user_id": "alice", "result": {"x": "' + b"a" * 6000
    )
    head = (
        f"POST /v1/tasks HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer alice-secret-token\r\nContent-Length: 100\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(head + payload)
        reply = sock.recv(4096).decode(errors="replace")
    assert reply.startswith("HTTP/1.1 4"), reply[:80]
    assert redis_client.keys("*") == []
