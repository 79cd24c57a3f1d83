"""Bad input is refused with the right status, names the field, and leaves NOTHING
in Redis. The HTTP-layer cases (413 on a lying or absent Content-Length) go
through a real uvicorn process."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from tests.api.conftest import auth
from tests.api.live_server import LiveApi

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def training(path: str = "sales/2025.csv", **extra: Any) -> dict[str, Any]:
    task_input = {"user_id": "alice", "model_id": "trend_predictor", "training_data_path": path}
    return {"type": "ml_training", "input": {**task_input, **extra}}


def image_task(url: str) -> dict[str, Any]:
    return {"type": "generate_3d", "input": {"user_id": "alice", "image_url": url}}


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


async def test_malformed_json_is_422(api: httpx.AsyncClient, redis_client: redis.Redis) -> None:
    response = await api.post("/v1/tasks", content=b"{not json", headers=auth("alice"))
    assert response.status_code == 422
    assert redis_client.keys("*") == []


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

    response = httpx.post(f"{live_api.url}/v1/tasks", content=chunks(), headers=auth("alice"))
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
