"""The DevSkyyTask status as one model: it generates the CRD's status schema and is
the only way the operator writes status.

Builders construct a `TaskStatus` with exactly the fields a transition sets; a
field set to None is sent as null, which a merge patch turns into "remove",
and an unset field is left as it is. Messages are clipped here, once, for every
writer. Timestamps serialise as metav1.Time does (RFC 3339, seconds, UTC).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
)
from pydantic.alias_generators import to_camel

from devskyy_agents.clock import utc_iso
from devskyy_operator.cost.model import TaskCost
from devskyy_operator.crd.conditions import (
    PHASE_QUEUED,
    PHASE_RUNNING,
    TERMINAL_PHASES,
    Phase,
    SlaObjectiveName,
)

MAX_MESSAGE_CHARS = 1024  # status, condition and event messages, the DLQ error text
MAX_CONDITIONS = 16


def clip(text: str | None, limit: int = MAX_MESSAGE_CHARS) -> str:
    """A message cut to what the status (and the DLQ record) keeps."""
    return (text or "")[:limit]


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment


def _clip_text(value: Any) -> Any:
    return clip(value) if isinstance(value, str) else value


def _metav1_time(moment: datetime) -> str:
    return utc_iso(moment, timespec="seconds")


Time = Annotated[datetime, AfterValidator(_aware), PlainSerializer(_metav1_time, return_type=str)]
Int64 = Annotated[int, Field(json_schema_extra={"format": "int64"})]
Message = Annotated[str, BeforeValidator(_clip_text), Field(max_length=32768)]


class Condition(BaseModel):
    """metav1.Condition, as Kubernetes' own APIs declare it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(
        max_length=316,
        description="Condition type (Admitted, Running, Succeeded, Failed, DeadLettered).",
    )
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(max_length=1024, description="CamelCase reason of the last transition.")
    message: Message = Field(description="Human-readable details.")
    lastTransitionTime: Time = Field(description="When status last changed.")
    observedGeneration: Int64 | None = Field(
        default=None, ge=0, description="Generation the condition was set for."
    )


Conditions = Annotated[
    list[Condition],
    Field(
        max_length=MAX_CONDITIONS,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    ),
]


class TaskStatus(BaseModel):
    """Observed state, written only by the operator."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    phase: Phase | None = Field(default=None, description="Lifecycle phase.")
    reason: str | None = Field(
        default=None, max_length=128, description="CamelCase reason of the phase."
    )
    message: Message | None = Field(default=None, description="Details of the phase.")
    attempts: Int64 | None = Field(
        default=None, description="Pods started so far (first run and retries)."
    )
    exit_code: Int64 | None = Field(
        default=None, description="Exit code of the latest finished attempt."
    )
    error_type: str | None = Field(
        default=None, max_length=128, description="Error class of a failure, as in the DLQ record."
    )
    job_name: str | None = Field(
        default=None, max_length=63, description="Name of the Job running the task."
    )
    worker_host: str | None = Field(
        default=None, max_length=253, description="Node of the latest attempt."
    )
    not_before: Time | None = Field(
        default=None, description="The task is held until then (marketing schedule_at)."
    )
    queued_at: Time | None = Field(default=None, description="When the task was queued.")
    admitted_at: Time | None = Field(
        default=None, description="When the task got a slot and its Job was created."
    )
    started_at: Time | None = Field(default=None, description="When the Job started.")
    completed_at: Time | None = Field(default=None, description="When the task finished.")
    dead_lettered_at: Time | None = Field(
        default=None, description="When the DLQ record was written."
    )
    result: dict[str, JsonValue] | None = Field(
        default=None, description="Result object from the task's termination message."
    )
    sla_breached: list[SlaObjectiveName] | None = Field(
        default=None,
        max_length=2,
        description="Service-level objectives the task missed (each counted once).",
    )
    cache_hit: bool | None = Field(
        default=None, description="True: the result is a stored one, served without a Job."
    )
    cached_from: str | None = Field(
        default=None, max_length=63, description="The task that ran and produced that result."
    )
    cost: TaskCost | None = Field(
        default=None,
        description="What the finished task cost: requests x run time plus provider spend.",
    )
    observed_generation: Int64 | None = Field(
        default=None, description="Generation of the spec this status describes."
    )
    conditions: Conditions | None = Field(
        default=None,
        description="Admitted, Running, Succeeded, Failed, DeadLettered, SLABreached.",
    )

    def updated(self, **fields: Any) -> TaskStatus:
        """A copy with `fields` set too (replacing those set already), validated
        (model_copy would not validate)."""
        kept = {name: getattr(self, name) for name in self.model_fields_set}
        return TaskStatus(**(kept | fields))

    def patch(self) -> dict[str, Any]:
        """The JSON merge patch of `status`: set fields only, None as null (remove)."""
        return self.model_dump(by_alias=True, exclude_unset=True, mode="json")

    def unchanged_in(self, current: Mapping[str, Any]) -> bool:
        """True when `current` (a status read back) already holds every set field."""
        return all(current.get(key) == value for key, value in self.patch().items())


def phase_rank(phase: str | None) -> int:
    """Phases only move forward: None < Queued < Running < terminal."""
    if phase in TERMINAL_PHASES:
        return 3
    return {PHASE_QUEUED: 1, PHASE_RUNNING: 2}.get(phase or "", 0)
