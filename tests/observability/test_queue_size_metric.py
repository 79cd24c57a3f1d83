"""worker_queue_size on the API's /metrics follows the Redis queues."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from devskyy_operator.redisq import Redis, cancel, claim, enqueue
from tests.api.conftest import app_client, settings_for
from tests.observability.exposition import samples, value
from tests.queue.conftest import aredis, diagnostic_spec
from tests.support.lifetimes import RECORD_TTL

__all__ = ["aredis"]
pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


@pytest.fixture
async def api(redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The API app in process, on the flushed test Redis."""
    async with app_client(settings_for(redis_url)) as client:
        yield client


async def queue_size(api: httpx.AsyncClient, task_type: str = "diagnostic") -> float:
    response = await api.get("/metrics")
    assert response.status_code == 200
    return value(response.text, "worker_queue_size", type=task_type)


async def test_queue_size_goes_up_and_down(api: httpx.AsyncClient, aredis: Redis) -> None:
    assert await queue_size(api) == 0
    ids = [(await enqueue(aredis, diagnostic_spec())).task_id for _ in range(3)]
    assert await queue_size(api) == 3
    assert await queue_size(api, "ml_training") == 0
    claimed = await claim(aredis, "diagnostic", 1, 30)
    assert [c.task_id for c in claimed] == ids[:1]
    assert await queue_size(api) == 2
    assert await cancel(aredis, ids[2], **RECORD_TTL) == "cancelled"
    assert await queue_size(api) == 1
    text = (await api.get("/metrics")).text
    assert len(samples(text, "worker_queue_size")) >= 6  # one series per task type
