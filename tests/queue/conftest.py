"""An asyncio client on the session's real redis-server, flushed per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from devskyy_agents.models import TaskSpec, parse_spec
from devskyy_operator.redisq import Redis, connect
from devskyy_operator.redisq.scripts import disconnect


@pytest.fixture
async def aredis(redis_url: str) -> AsyncIterator[Redis]:
    client = connect(redis_url)
    yield client
    await disconnect(client)


def diagnostic_spec(user: str = "alice", priority: int = 100, **input_extra: Any) -> TaskSpec:
    return parse_spec(
        {"type": "diagnostic", "priority": priority, "input": {"user_id": user, **input_extra}}
    )
