"""What every route needs: the app's services, the caller, and the rate limit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from devskyy_operator import keys
from devskyy_operator.history.store import HistoryReader
from devskyy_operator.intake.auth import Principal, TokenTable
from devskyy_operator.intake.errors import ApiError
from devskyy_operator.metrics import ApiMetrics
from devskyy_operator.redisq import EnqueueLimits, RateLimited, Redis, scripts
from devskyy_operator.redisq.batching import ScriptBatcher
from devskyy_operator.redisq.scripts import disconnect
from devskyy_operator.settings import Settings

BEARER_SCHEME = {"type": "http", "scheme": "bearer", "description": "Per-user API token."}


@dataclass(frozen=True)
class Services:
    """Created once per app in `create_app`."""

    settings: Settings
    redis: Redis
    batcher: ScriptBatcher  # enqueues in flight together share one round trip
    tokens: TokenTable
    metrics: ApiMetrics
    limits: EnqueueLimits  # the global ones (a tier that sets none of its own has these)
    history: HistoryReader | None = None  # None without DATABASE_URL
    tier_limits: Mapping[str, EnqueueLimits] = field(default_factory=dict)

    def limits_for(self, user_id: str) -> EnqueueLimits:
        """The rate limit and queued-task cap of the user's tier."""
        return self.tier_limits.get(self.settings.tier_of(user_id), self.limits)

    async def aclose(self) -> None:
        await self.batcher.aclose()
        await disconnect(self.redis)
        if self.history is not None:
            await self.history.close()


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


async def services_dependency(request: Request) -> Services:
    """The same, as a coroutine: FastAPI runs a plain `def` dependency in a worker
    thread, and that hop cost ~15% of an enqueue request (profiled)."""
    return services(request)


ServicesDep = Annotated[Services, Depends(services_dependency)]


async def authenticated(request: Request) -> Principal:
    """The caller, or 401 with a WWW-Authenticate challenge.

    Reads the header itself (one dependency, no HTTPBearer round): the scheme is
    declared in the OpenAPI document by `app._customise_openapi` instead.
    """
    principal = services(request).tokens.authenticate(request.headers.get("authorization"))
    if principal is None:
        raise ApiError(
            401,
            "missing or invalid bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="devskyy"'},
        )
    request.state.user = principal.user_id
    return principal


async def rate_limited(request: Request) -> Principal:
    """The caller, counted against the rate limit of its tier (POST /v1/tasks counts
    inside the enqueue script instead, after validation)."""
    principal = await authenticated(request)
    svc = services(request)
    limits = svc.limits_for(principal.user_id)
    wait_ms = await scripts.RATE(
        svc.redis,
        [keys.rate_key(principal.user_id)],
        [limits.rate_limit, limits.rate_window_seconds],
    )
    if int(wait_ms) > 0:
        raise RateLimited(int(wait_ms) / 1000, limits.rate_limit, limits.tier)
    return principal


Caller = Annotated[Principal, Depends(authenticated)]
RateLimitedCaller = Annotated[Principal, Depends(rate_limited)]
