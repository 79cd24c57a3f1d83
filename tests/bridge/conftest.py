"""Fixtures of the bridge tests: an asyncio Redis client on the freshly flushed server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from devskyy_operator.redisq import Redis, connect
from devskyy_operator.redisq.scripts import disconnect


@pytest_asyncio.fixture
async def aredis(redis_url: str) -> AsyncIterator[Redis]:
    client = connect(redis_url)
    yield client
    await disconnect(client)
