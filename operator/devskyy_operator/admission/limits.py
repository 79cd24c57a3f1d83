"""What the current settings let a task ask for: per-type resource maxima, the
longest timeout (TASK_TIMEOUT), the schedule horizon and result caching (a type
with side effects, the longest TTL). Pure; time is passed in.

The models decide what a task is; these limits depend on the deployment
(settings, chart values), so the models cannot hold them. The API answers 422
with these problems, the operator fails a task that breaks them (InvalidSpec,
no Job) when it queues the task and again before it creates the Job, because
settings can change between the two. The CRD's CEL rules check the same
maxima (`crd.rules.resource_rules`); the apiserver has no clock, so the horizon
is checked by the API and the operator only.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from devskyy_agents.models import ResourceAmounts, TaskSpec
from devskyy_operator.cache.policy import side_effects_refused
from devskyy_operator.quantity import parse_quantity
from devskyy_operator.settings import RESOURCE_KINDS, Settings


class LimitProblem(NamedTuple):
    """One broken limit: the spec field (dotted, as the API names fields) and why."""

    field: str
    message: str


def _field_name(attribute: str) -> str:
    info = ResourceAmounts.model_fields[attribute]
    return info.alias or attribute


def resource_problems(spec: TaskSpec, settings: Settings) -> list[LimitProblem]:
    """Requests and limits the task names that exceed its type's maxima."""
    if spec.resources is None:
        return []
    defaults = settings.resources_for(spec.type)
    problems: list[LimitProblem] = []
    for part, amounts in (("requests", spec.resources.requests), ("limits", spec.resources.limits)):
        if amounts is None:
            continue
        for _, attribute, prefix in RESOURCE_KINDS:
            asked = getattr(amounts, attribute)
            if asked is None:
                continue
            maximum = str(getattr(defaults, f"{prefix}_max"))
            value, bound = parse_quantity(asked), parse_quantity(maximum)
            if value is None or bound is None or value > bound:
                problems.append(
                    LimitProblem(
                        f"resources.{part}.{_field_name(attribute)}",
                        f"{asked} is more than the maximum {maximum} of type {spec.type.value}",
                    )
                )
    return problems


def horizon_text(seconds: int) -> str:
    days, rest = divmod(seconds, 86_400)
    return f"{days} days" if not rest else f"{seconds} seconds"


def schedule_problems(
    spec: TaskSpec, settings: Settings, submitted_at: datetime
) -> list[LimitProblem]:
    """A schedule_at further ahead than the horizon, counted from submission.

    A schedule_at in the past is fine: the task is due at once.
    """
    start = spec.scheduled_for()
    horizon = settings.schedule_horizon_seconds
    if start is None or start <= submitted_at + timedelta(seconds=horizon):
        return []
    return [
        LimitProblem(
            "input.schedule_at",
            f"more than {horizon_text(horizon)} ahead (the schedule horizon); "
            "schedule the task closer to its time",
        )
    ]


def timeout_problems(spec: TaskSpec, settings: Settings) -> list[LimitProblem]:
    """A timeoutSeconds above TASK_TIMEOUT (a type's default above it is only capped,
    by the Job builder: the task did not ask for more)."""
    ceiling = settings.task_timeout_seconds
    if spec.timeout_seconds is None or spec.timeout_seconds <= ceiling:
        return []
    return [LimitProblem("timeoutSeconds", f"at most {ceiling} s here (TASK_TIMEOUT)")]


def cache_problems(spec: TaskSpec, settings: Settings) -> list[LimitProblem]:
    """A cache opt-in for a type with side effects its setting does not allow caching
    (a hit would skip the delivery), or a TTL above the type's maximum."""
    if spec.cache is None or not spec.cache.enabled:
        return []
    configured = settings.result_cache_for(spec.type)
    kind = spec.type.value
    if side_effects_refused(spec, settings):
        return [
            LimitProblem(
                "cache.enabled",
                f"type {kind} has side effects that a cached result would skip; caching it "
                f"needs result_cache.{kind}.allow_side_effects in the operator's settings",
            )
        ]
    ttl = spec.cache.ttl_seconds
    if ttl is not None and ttl > configured.max_ttl_seconds:
        return [
            LimitProblem(
                "cache.ttlSeconds",
                f"at most {configured.max_ttl_seconds} s for type {kind} "
                "(result_cache max_ttl_seconds)",
            )
        ]
    return []


def limit_problems(
    spec: TaskSpec, settings: Settings, submitted_at: datetime
) -> list[LimitProblem]:
    """Every limit the task breaks, resources first."""
    return (
        resource_problems(spec, settings)
        + timeout_problems(spec, settings)
        + schedule_problems(spec, settings, submitted_at)
        + cache_problems(spec, settings)
    )


def describe(problems: list[LimitProblem]) -> str:
    """One line for a task status and a DLQ record: `spec.<field>: <why>; ...`
    (a field already rooted in `metadata.` is named as it is)."""
    return "; ".join(
        f"{p.field if p.field.startswith('metadata.') else 'spec.' + p.field}: {p.message}"
        for p in problems
    )
