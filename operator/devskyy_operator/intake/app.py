"""The API application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from psycopg_pool import PoolTimeout
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from devskyy_agents.models import TaskSpec
from devskyy_operator.history.store import HistoryReader
from devskyy_operator.intake import (
    routes_batch,
    routes_costs,
    routes_dlq,
    routes_history,
    routes_ops,
    routes_schedules,
    routes_sla,
    routes_tasks,
    routes_workflows,
)
from devskyy_operator.intake.auth import TokenTable
from devskyy_operator.intake.deps import BEARER_SCHEME, Services
from devskyy_operator.intake.errors import (
    ApiError,
    api_error_handler,
    history_down_handler,
    queue_error_handler,
    redis_down_handler,
    request_validation_handler,
)
from devskyy_operator.intake.observe import ObserveMiddleware
from devskyy_operator.intake.schedule_body import NewSchedule
from devskyy_operator.metrics import ApiMetrics
from devskyy_operator.redisq import EnqueueLimits, QueueError, connect
from devskyy_operator.redisq.batching import ScriptBatcher
from devskyy_operator.settings import Settings
from devskyy_operator.workflow.spec import WorkflowSpec


def create_app(settings: Settings) -> FastAPI:
    """An app bound to `settings`; its Redis client is closed on shutdown."""
    redis = connect(settings.redis_url.get_secret_value(), socket_timeout=5.0)
    services = Services(
        settings=settings,
        redis=redis,
        batcher=ScriptBatcher(redis),
        tokens=TokenTable.parse(
            settings.api_tokens.get_secret_value() if settings.api_tokens else None
        ),
        metrics=ApiMetrics(),
        limits=EnqueueLimits.from_settings(settings),
        tier_limits={tier: EnqueueLimits.from_settings(settings, tier) for tier in settings.tiers},
        history=(
            HistoryReader(settings.database_url.get_secret_value())
            if settings.database_url is not None
            else None
        ),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await services.aclose()

    app = FastAPI(
        title="DevSkyy Task API",
        version="0.1.0",
        description="Queue background tasks; follow their status, results and failures.",
        lifespan=lifespan,
        # Metrics are ours (Prometheus, /metrics); FastAPI's native OpenTelemetry
        # would otherwise look up the global providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.services = services
    app.include_router(routes_tasks.router)
    app.include_router(routes_history.router)
    app.include_router(routes_batch.router)
    app.include_router(routes_dlq.router)
    app.include_router(routes_ops.router)
    app.include_router(routes_sla.router)
    app.include_router(routes_workflows.router)
    app.include_router(routes_costs.router)
    app.include_router(routes_schedules.router)
    app.add_exception_handler(ApiError, api_error_handler)
    app.add_exception_handler(QueueError, queue_error_handler)
    app.add_exception_handler(RequestValidationError, request_validation_handler)
    app.add_exception_handler(RedisConnectionError, redis_down_handler)
    app.add_exception_handler(RedisTimeoutError, redis_down_handler)
    app.add_exception_handler(psycopg.Error, history_down_handler)
    app.add_exception_handler(PoolTimeout, history_down_handler)
    app.add_middleware(ObserveMiddleware, metrics=services.metrics)
    _register_task_spec_schema(app)
    return app


def _register_task_spec_schema(app: FastAPI) -> None:
    """Publish the bodies read by hand (TaskSpec, NewSchedule, WorkflowSpec), the bearer."""
    base_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = base_openapi()
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        for model in (TaskSpec, NewSchedule, WorkflowSpec):
            body_schema = model.model_json_schema(
                by_alias=True, ref_template="#/components/schemas/{model}"
            )
            schemas.update(body_schema.pop("$defs", {}))
            schemas[model.__name__] = body_schema
        components["securitySchemes"] = {"bearer": BEARER_SCHEME}
        for path, operations in schema["paths"].items():
            if path.startswith("/v1/"):
                for operation in operations.values():
                    operation["security"] = [{"bearer": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
