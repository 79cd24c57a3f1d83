"""Every refusal of the queue reaches the client through the one handler with the
status, detail and Retry-After it carries; each one is provoked for real where
a request can provoke it (the rest are races between two Redis calls)."""

from __future__ import annotations

import json

import httpx
import pytest
import redis
from starlette.requests import Request

from devskyy_operator import keys
from devskyy_operator.intake.errors import DESCRIPTIONS, queue_error_handler
from devskyy_operator.redisq.errors import (
    BatchItemRefused,
    DeadLetterChanged,
    DeadLetterInvalid,
    IdempotencyConflict,
    QueueError,
    QueueFull,
    RateLimited,
    TaskExists,
    TaskFinished,
    TaskNotFound,
)
from tests.api.conftest import app_client, auth, settings_for
from tests.support.dead_letters import seed_dead_letter

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

DIAGNOSTIC = {"type": "diagnostic", "input": {"user_id": "alice"}}

# One instance of every refusal, with the answer the API documents for it.
EXPECTED: list[tuple[QueueError, int, str, str | None]] = [
    (TaskExists("task t-1 already exists"), 409, "task t-1 already exists", None),
    (
        IdempotencyConflict("t-1"),
        409,
        "Idempotency-Key already used for task t-1 with another body",
        None,
    ),
    (
        QueueFull("at most 3 queued tasks per user", 60),
        429,
        "at most 3 queued tasks per user",
        "60",
    ),
    (RateLimited(0.2), 429, "rate limit exceeded", "1"),
    (TaskNotFound("task t-1 not found"), 404, "task t-1 not found", None),
    (TaskFinished("t-1", "completed"), 409, "task t-1 already completed", None),
    (DeadLetterChanged("dead letter t-1 changed"), 409, "dead letter t-1 changed", None),
    (
        DeadLetterInvalid("dead letter cannot be retried: x"),
        422,
        "dead letter cannot be retried: x",
        None,
    ),
]


def test_every_refusal_is_listed_and_documented() -> None:
    def leaves(cls: type[QueueError]) -> set[type[QueueError]]:
        return {cls} | {c for sub in cls.__subclasses__() for c in leaves(sub)}

    # A batch's refusal is answered as the refusal of its item (below).
    assert {type(exc) for exc, *_ in EXPECTED} == leaves(QueueError) - {
        QueueError,
        BatchItemRefused,
    }
    assert {exc.http_status for exc, *_ in EXPECTED} <= set(DESCRIPTIONS)


@pytest.mark.parametrize(("cause", "status", "detail", "retry_after"), EXPECTED)
async def test_a_batch_refusal_is_answered_as_its_item_naming_it(
    cause: QueueError, status: int, detail: str, retry_after: str | None
) -> None:
    request = Request({"type": "http", "method": "POST", "path": "/", "headers": []})
    response = await queue_error_handler(request, BatchItemRefused(3, "task_id", cause))
    assert response.status_code == status
    assert json.loads(bytes(response.body)) == {
        "detail": f"tasks.3: {detail}; no task of the batch was queued",
        "errors": [{"field": "tasks.3.task_id", "message": detail}],
    }
    assert response.headers.get("retry-after") == retry_after


@pytest.mark.parametrize(("exc", "status", "detail", "retry_after"), EXPECTED)
async def test_the_handler_answers_with_what_the_error_carries(
    exc: QueueError, status: int, detail: str, retry_after: str | None
) -> None:
    request = Request({"type": "http", "method": "POST", "path": "/", "headers": []})
    response = await queue_error_handler(request, exc)
    assert response.status_code == status
    assert json.loads(bytes(response.body)) == {"detail": detail}
    assert response.headers.get("retry-after") == retry_after
    assert request.state.decision == f"rejected: {detail}"


async def test_rate_limit_on_reads(redis_url: str) -> None:
    async with app_client(settings_for(redis_url, rate_limit_per_minute=1)) as api:
        assert (await api.get("/v1/queues", headers=auth("alice"))).status_code == 200
        limited = await api.get("/v1/queues", headers=auth("alice"))
    assert limited.status_code == 429
    assert limited.json() == {"detail": "rate limit exceeded: 1 requests per window for tier free"}
    assert 1 <= int(limited.headers["retry-after"]) <= 60


async def test_queue_cap_says_when_to_come_back(redis_url: str) -> None:
    settings = settings_for(redis_url, max_queued_per_user=1, rate_window_seconds=42)
    async with app_client(settings) as api:
        assert (await api.post("/v1/tasks", json=DIAGNOSTIC, headers=auth("alice"))).is_success
        capped = await api.post("/v1/tasks", json=DIAGNOSTIC, headers=auth("alice"))
    assert capped.status_code == 429
    assert capped.json() == {"detail": "at most 1 queued tasks per user of tier free"}
    assert capped.headers["retry-after"] == "42"


async def test_retry_onto_a_taken_id_is_409(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    seed_dead_letter(redis_client, "task-a1", "alice", 1.0)
    taken = await api.post("/v1/tasks?task_id=task-a1-r1", json=DIAGNOSTIC, headers=auth("alice"))
    assert taken.status_code == 202
    retried = await api.post("/v1/dlq/task-a1/retry", headers=auth("alice"))
    assert retried.status_code == 409
    assert retried.json() == {"detail": "task task-a1-r1 already exists"}
    assert redis_client.exists(keys.dlq_key("task-a1"))  # nothing lost


async def test_retry_of_a_task_that_no_longer_validates_is_422(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    seed_dead_letter(redis_client, "task-a2", "alice", 1.0)
    record = json.loads(str(redis_client.get(keys.dlq_key("task-a2"))))
    record["task_data"] = {"user_id": "alice", "sleep_seconds": -1}  # below the model's minimum
    redis_client.set(keys.dlq_key("task-a2"), json.dumps(record))
    retried = await api.post("/v1/dlq/task-a2/retry", headers=auth("alice"))
    assert retried.status_code == 422
    detail = retried.json()["detail"]
    assert detail.startswith("dead letter cannot be retried: ")
    assert "sleep_seconds" in detail
    assert redis_client.exists(keys.dlq_key("task-a2"))
    assert not redis_client.exists(keys.task_key("task-a2-r1"))
