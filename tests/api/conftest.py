"""API fixtures: an in-process app over ASGITransport (fast) and a real uvicorn
process for the HTTP layer (tests/api/live_server.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from devskyy_operator.intake.app import create_app
from devskyy_operator.settings import Settings
from tests.api.live_server import TOKENS, LiveApi, api_tokens_setting, running_api
from tests.support.redis_server import RedisServer


def auth(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[user]}"}


def settings_for(redis_url: str, **overrides: Any) -> Settings:
    return Settings(
        redis_url=SecretStr(redis_url), api_tokens=SecretStr(api_tokens_setting()), **overrides
    )


ApiFactory = Callable[..., Any]


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            yield client
    finally:
        await app.state.services.aclose()


@pytest.fixture
async def api(redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings_for(redis_url)) as client:
        yield client


@pytest.fixture(scope="session")
def live_api(redis_server: RedisServer) -> Iterator[LiveApi]:
    with running_api(
        redis_server.url, max_body_bytes="4096", rate_limit_per_minute="100000"
    ) as live:
        yield live
