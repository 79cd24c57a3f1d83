"""Operational routes: queues, health, readiness and Prometheus metrics."""

from __future__ import annotations

import contextlib
import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from devskyy_agents.models import TaskType
from devskyy_operator import keys
from devskyy_operator.intake.deps import RateLimitedCaller, ServicesDep
from devskyy_operator.intake.errors import responses
from devskyy_operator.intake.schemas import Health, QueueList, QueueSize
from devskyy_operator.redisq import queue_sizes

router = APIRouter()


@router.get(
    "/v1/queues",
    response_model=QueueList,
    responses=responses(401, 429, 503),
    tags=["queues"],
    summary="Queued and leased tasks per type",
)
async def list_queues(_principal: RateLimitedCaller, svc: ServicesDep) -> QueueList:
    types = [t.value for t in TaskType]
    queued = await queue_sizes(svc.redis, types)
    async with svc.redis.pipeline(transaction=False) as pipe:
        for name in types:
            pipe.zcard(keys.leases_key(name))
        leased: list[int] = await pipe.execute()
    return QueueList(
        queues=[
            QueueSize(type=name, queued=queued[name], leased=count)
            for name, count in zip(types, leased, strict=True)
        ]
    )


@router.get("/healthz", response_model=Health, tags=["ops"], summary="Liveness")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": Health, "description": "Redis unreachable."}},
    tags=["ops"],
    summary="Readiness: Redis answers PING",
)
async def readyz(svc: ServicesDep) -> Response:
    try:
        await svc.redis.ping()
    except RedisError:
        return JSONResponse({"status": "redis unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
    tags=["ops"],
    summary="Prometheus metrics; worker_queue_size is read from Redis on each scrape",
)
async def metrics(svc: ServicesDep) -> Response:
    try:
        sizes = await queue_sizes(svc.redis)
    except RedisError:
        sizes = {}
    for name, size in sizes.items():
        svc.metrics.queue_size.labels(name).set(size)
    with contextlib.suppress(RedisError):
        oldest = await svc.redis.xrange(keys.HISTORY_STREAM, count=1)
        ms = int(oldest[0][0].partition("-")[0]) if oldest else None
        svc.metrics.history_age.set(0.0 if ms is None else max(0.0, time.time() - ms / 1000))
    return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)
