"""Response bodies of the HTTP API (the request body is `models.TaskSpec`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from devskyy_operator.crd.conditions import SlaObjectiveName

TaskStatus = Literal["pending", "processing", "completed", "failed"]


class FieldError(BaseModel):
    field: str = Field(description='Dotted path of the offending field, e.g. "input.epochs".')
    message: str


class Problem(BaseModel):
    """Every error response."""

    detail: str
    errors: list[FieldError] | None = None
    errors_omitted: int | None = Field(
        default=None, description="Field errors left out of `errors` (it lists the first ones)."
    )


class TaskAccepted(BaseModel):
    id: str
    status: TaskStatus
    location: str


class BatchItemAccepted(TaskAccepted):
    replayed: bool = Field(description="True when its Idempotency-Key returned an earlier task.")


class BatchAccepted(BaseModel):
    tasks: list[BatchItemAccepted] = Field(description="In the order of the request's items.")


class QueueInfo(BaseModel):
    position: int = Field(description="0 = claimed next.")
    queued: int = Field(description="Tasks in this type's queue.")
    estimated_wait_seconds: float | None = Field(
        description="Position / recent throughput; null without recent completions."
    )


class TaskView(BaseModel):
    id: str
    type: str
    status: str
    user_id: str
    priority: int = Field(description="The priority it is queued with (in its tier's band).")
    created_at: str
    started_at: str
    completed_at: str
    worker_host: str
    attempts: int
    tier: str = Field(default="", description="The user tier; empty for kubectl tasks.")
    requested_priority: int | None = Field(
        default=None, description="The priority asked for, before its tier placed it."
    )
    result: Any = None
    error: str = ""
    cancelled: bool = False
    cancel_requested: bool = False
    cache_hit: bool = Field(
        default=False, description="The result is a stored one (result cache): no Job ran."
    )
    cached_from: str = Field(default="", description="With cache_hit: the task that ran.")
    queue: QueueInfo | None = None
    cost: Any = Field(
        default=None,
        description="A finished task's cost: currency, total, resource, providers (decimal "
        "strings, six places), run_seconds and provider_lines.",
    )


class HistoryTask(TaskView):
    """A task as the history store keeps it: the live view's fields and the outcome's."""

    source: str = ""
    admitted_at: str = ""
    reason: str = ""
    error_type: str = ""
    exit_code: int | None = None
    run_seconds: float | None = Field(default=None, description="Job start to end.")
    resources: Any = Field(default=None, description="Container requests and limits it ran with.")
    retry_of: str = ""
    retried_as: str = ""
    dead_lettered_at: str = ""


class TaskPage(BaseModel):
    tasks: list[HistoryTask]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (older) page; null on the last page."
    )


class TaskEventView(BaseModel):
    kind: Literal[
        "queued", "admitted", "running", "attempt_failed", "succeeded", "failed", "cancelled",
        "dead_lettered", "retried",
    ]  # fmt: skip
    at: str
    attempts: int | None = None
    attempt: int | None = Field(default=None, description="Its attempt (running, attempt_failed).")
    reason: str = ""
    error: str = ""
    error_type: str = ""
    exit_code: int | None = None
    worker_host: str = ""
    result: Any = None
    resources: Any = None
    run_seconds: float | None = None
    retried_as: str = ""


class TaskHistory(BaseModel):
    task: HistoryTask
    events: list[TaskEventView]


class CancelResult(BaseModel):
    id: str
    outcome: Literal["cancelled", "requested"]


class QueueSize(BaseModel):
    type: str
    queued: int
    leased: int


class QueueList(BaseModel):
    queues: list[QueueSize]


class DeadLetterView(BaseModel):
    task_id: str
    task_type: str
    user_id: str
    error: str
    error_type: str
    failed_at: str
    worker_host: str
    attempts: int | None
    reason: str
    exit_code: int | None
    termination_message: str
    task_data: Any = None
    log_pod: str = ""  # the failed attempt's pod
    log_tail: str = ""  # its last log lines, secrets masked, bounded (settings.dlq_log_tail_*)


class DeadLetterList(BaseModel):
    dead_letters: list[DeadLetterView]


class CostGroupView(BaseModel):
    key: str = Field(description="The user id or the task type.")
    total: str = Field(description="Decimal string, six places.")
    tasks: int


class CostSummary(BaseModel):
    """Costs of the tasks that finished in [since, until], summed per group."""

    currency: str
    since: str
    until: str
    group_by: Literal["user", "type"]
    total: str = Field(description="Sum of the groups: decimal string, six places.")
    tasks: int
    groups: list[CostGroupView] = Field(description="Most expensive first.")


class Health(BaseModel):
    status: str


class ObjectiveCompliance(BaseModel):
    """One objective of one task type over the window."""

    objective: SlaObjectiveName
    bound_seconds: float
    target: float
    judged: int = Field(description="Tasks that ended in the window and were judged.")
    met: int
    compliance: float | None = Field(description="met / judged; null when none was judged.")
    compliant: bool | None = Field(description="compliance >= target; null when none judged.")


class SlaReport(BaseModel):
    """SLA compliance per task type of the tasks that ended in [since, until)."""

    since: str
    until: str
    window_seconds: int
    types: dict[str, list[ObjectiveCompliance]]


class ScheduleView(BaseModel):
    """A schedule as the API stores it, with the status its DevSkyySchedule reports."""

    name: str
    user_id: str = Field(description="Owner: every run is this user's task.")
    created_at: str
    spec: Any = Field(description="The DevSkyySchedule spec (camelCase, as the CR carries it).")
    applied: bool = Field(
        description="False while the bridge has not yet applied the latest change to the CR."
    )
    status: Any = Field(
        default=None,
        description="The CR's status as the bridge last saw it (lastScheduleTime, "
        "nextScheduleTime, active, ...); null until it has.",
    )


class ScheduleList(BaseModel):
    schedules: list[ScheduleView] = Field(description="By name.")
