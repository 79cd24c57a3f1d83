"""The one settings object of the control components (operator, bridge, API, CLI).

Read from the environment with the prefix ``DEVSKYY_``; nested values use ``__``
(for example ``DEVSKYY_CONCURRENCY__ML_TRAINING=2``). Every default of the
control components lives here and nowhere else: lower layers take the values
as arguments. Secrets are never values here: only the names of Kubernetes
Secrets that hold them.

The per-task-type maps (``concurrency``, ``images``, ``resources``,
``scheduling``, ``result_cache``, ``retry_oom``, ``sla``) always hold
every task type: a variable such as ``DEVSKYY_CONCURRENCY__ML_TRAINING=2``
changes that one entry (``DEVSKYY_RESOURCES__ML_TRAINING__CPU_LIMIT=3`` that
one field) and the other entries keep their defaults; a key that is not a task
type is refused with its name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from devskyy_agents.models import (
    MAX_CACHE_TTL_SECONDS,
    MAX_PRIORITY,
    MAX_TIMEOUT_SECONDS,
    MIN_PRIORITY,
    REGION_PATTERN,
    SIDE_EFFECT_TYPES,
    TaskType,
)
from devskyy_operator.quantity import parse_quantity

# (Kubernetes resource name, ResourceAmounts attribute, ResourceDefaults prefix)
RESOURCE_KINDS = (
    ("cpu", "cpu", "cpu"),
    ("memory", "memory", "memory"),
    ("ephemeral-storage", "ephemeral_storage", "ephemeral"),
)


class ResourceDefaults(BaseModel):
    """Container requests and limits of a task type: defaults when the task names
    none, and the maxima it may ask for (each maximum bounds the request and the
    limit). The maxima also become the CRD's CEL rules (`crd.rules.resource_rules`).
    """

    model_config = ConfigDict(extra="forbid")

    cpu_request: str = "250m"
    memory_request: str = "256Mi"
    ephemeral_request: str = "256Mi"
    cpu_limit: str = "1"
    memory_limit: str = "1Gi"
    ephemeral_limit: str = "1Gi"
    cpu_max: str = "4"
    memory_max: str = "8Gi"
    ephemeral_max: str = "10Gi"

    @model_validator(mode="after")
    def _defaults_within_maxima(self) -> ResourceDefaults:
        for _, _, prefix in RESOURCE_KINDS:
            values = {}
            for part in ("request", "limit", "max"):
                name = f"{prefix}_{part}"
                value = parse_quantity(getattr(self, name))
                if value is None or value < 0:
                    raise ValueError(f"{name}: not a Kubernetes quantity: {getattr(self, name)!r}")
                values[part] = value
            if not values["request"] <= values["limit"] <= values["max"]:
                raise ValueError(
                    f"{prefix}: the default request must not exceed the default limit, "
                    f"nor the limit {prefix}_max"
                )
        return self


class Toleration(BaseModel):
    """A pod toleration, in the Kubernetes field names (`core/v1 Toleration`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(default=None, alias="tolerationSeconds")

    @model_validator(mode="after")
    def _valid_for_the_apiserver(self) -> Toleration:
        # The apiserver's own rules: refused here at startup, not per Job.
        if self.operator == "Exists" and self.value:
            raise ValueError("a toleration with operator Exists takes no value")
        if self.key is None and self.operator != "Exists":
            raise ValueError("a toleration without a key needs operator Exists")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError("tolerationSeconds applies to effect NoExecute only")
        return self


class TaskScheduling(BaseModel):
    """Where a task type's pods may run: a node selector and tolerations, so that
    (for example) ML tasks land on a tainted pool the cluster autoscaler grows when
    they are pending."""

    model_config = ConfigDict(extra="forbid")

    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)

    def pod_fields(self) -> dict[str, Any]:
        """The pod spec fields, omitted when empty (the scheduler's default)."""
        fields: dict[str, Any] = {}
        if self.node_selector:
            fields["nodeSelector"] = dict(self.node_selector)
        if self.tolerations:
            fields["tolerations"] = [
                t.model_dump(by_alias=True, exclude_none=True) for t in self.tolerations
            ]
        return fields


class ResultCaching(BaseModel):
    """Result caching of a task type: a task of the same type and normalised input
    (and, for ml_prediction, model version) within the TTL gets the stored result
    without a Job. Off by default; a task may opt in (or out) with `spec.cache`."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        default=False, description="Cache every task of the type unless it opts out."
    )
    ttl_seconds: int = Field(
        default=3600, ge=1, le=MAX_CACHE_TTL_SECONDS, description="TTL when the task names none."
    )
    max_ttl_seconds: int = Field(
        default=86_400, ge=1, le=MAX_CACHE_TTL_SECONDS, description="Longest spec.cache.ttlSeconds."
    )
    allow_side_effects: bool = Field(
        default=False,
        description="Types with side effects (marketing_campaign, generate_3d, ml_training) "
        "may be cached only with this set: a hit skips the delivery, the publishing, the "
        "new model version.",
    )

    @model_validator(mode="after")
    def _ttl_within_maximum(self) -> ResultCaching:
        if self.ttl_seconds > self.max_ttl_seconds:
            raise ValueError("ttl_seconds must not exceed max_ttl_seconds")
        return self


def _default_result_cache() -> dict[str, ResultCaching]:
    return {t.value: ResultCaching() for t in TaskType}


def _default_scheduling() -> dict[str, TaskScheduling]:
    return {t.value: TaskScheduling() for t in TaskType}


def _default_resources() -> dict[str, ResourceDefaults]:
    ml = ResourceDefaults(
        cpu_request="1", memory_request="1Gi", cpu_limit="2", memory_limit="4Gi",
        cpu_max="8", memory_max="16Gi", ephemeral_max="20Gi",
    )  # fmt: skip
    light = ResourceDefaults(cpu_request="100m", memory_request="128Mi", memory_limit="512Mi")
    return {t.value: ResourceDefaults() for t in TaskType} | {
        TaskType.ML_TRAINING.value: ml,
        TaskType.ML_PREDICTION.value: ml.model_copy(update={"memory_limit": "2Gi"}),
        TaskType.DIAGNOSTIC.value: light,
    }


class SlaObjective(BaseModel):
    """The service-level objectives of a task type, counted from when the task could
    start (its enqueue, or its `schedule_at` when that is later).

    `target` of the type's tasks should meet each bound; a task that misses one gets
    the `SLABreached` condition when the bound passes and counts in
    `devskyy_sla_breaches_total`; the burn-rate alerts read `target` from
    `devskyy_sla_objective_target`.
    """

    model_config = ConfigDict(extra="forbid")

    completion_seconds: float = Field(gt=0, description="Enqueue to the end (either outcome).")
    queue_wait_seconds: float = Field(gt=0, description="Enqueue to admission (Job created).")
    target: float = Field(default=0.95, gt=0, lt=1, description="Share that must meet each.")

    @model_validator(mode="after")
    def _wait_within_completion(self) -> SlaObjective:
        if self.queue_wait_seconds > self.completion_seconds:
            raise ValueError("queue_wait_seconds must not exceed completion_seconds")
        return self


def _default_sla() -> dict[str, SlaObjective]:
    """From the seed's per-type timeouts (600/600/300/600/60, diagnostic 300 s): a task
    that runs to its timeout fails, so "finished in time" is the timeout plus the
    queue wait the type may have. Interactive predictions: the issue's example, 95 %
    within 30 s (half the 60 s timeout), at most 10 s in the queue. Provider tasks
    wait up to 2 min (their concurrency is shared with bursts), campaigns and the
    diagnostic 1 min, training 5 min (two slots, runs of up to 10 min).
    """

    def objective(timeout: int, wait: float) -> SlaObjective:
        return SlaObjective(completion_seconds=timeout + wait, queue_wait_seconds=wait)

    return {
        TaskType.GENERATE_3D.value: objective(600, 120),
        TaskType.FASHN_TRYON.value: objective(600, 120),
        TaskType.MARKETING_CAMPAIGN.value: objective(300, 60),
        TaskType.ML_TRAINING.value: objective(600, 300),
        TaskType.ML_PREDICTION.value: SlaObjective(completion_seconds=30, queue_wait_seconds=10),
        TaskType.DIAGNOSTIC.value: objective(300, 60),
    }


# A tier name is a label value (devskyy.io/tier on the CR) and a Redis hash field.
TIER_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$"


class TierPolicy(BaseModel):
    """What a user tier gets: a priority band, its own limits, a share of each type.

    The API places a requested priority (0..1000) into the band as an offset from
    its bottom, capped at its top (`admission.tiers.banded_priority`), so a tier's
    users order their own tasks and never leave their band. Limits left unset are
    the global ones (rate_limit_per_minute, max_queued_per_user).
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    priority_min: int = Field(
        ge=MIN_PRIORITY, le=MAX_PRIORITY, alias="priorityMin", description="Bottom of the band."
    )
    priority_max: int = Field(
        ge=MIN_PRIORITY, le=MAX_PRIORITY, alias="priorityMax", description="Top of the band."
    )
    rate_limit_per_minute: int | None = Field(
        default=None, ge=1, alias="rateLimitPerMinute", description="Requests per rate window."
    )
    max_queued: int | None = Field(
        default=None, ge=1, alias="maxQueued", description="Queued tasks per user at most."
    )
    concurrency_share: float = Field(
        default=1.0,
        gt=0,
        le=1,
        alias="concurrencyShare",
        description="Fraction of each type's concurrency this tier's tasks may hold at once "
        "(rounded up); 1 = no cap of its own.",
    )

    @model_validator(mode="after")
    def _band_not_empty(self) -> TierPolicy:
        if self.priority_min > self.priority_max:
            raise ValueError(
                f"priority_min {self.priority_min} is above priority_max {self.priority_max}"
            )
        return self


_TIER_ALIASES = {name: info.alias or name for name, info in TierPolicy.model_fields.items()}


def _default_tiers() -> dict[str, TierPolicy]:
    """Bands that do not overlap: a free user's best (299) is below an enterprise
    user's default (600 + 100)."""
    return {
        "free": TierPolicy(priority_min=0, priority_max=299),
        "pro": TierPolicy(priority_min=300, priority_max=599),
        "enterprise": TierPolicy(priority_min=600, priority_max=MAX_PRIORITY),
    }


Price = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=9)]


class ModelPrice(BaseModel):
    """What a language model costs, per million tokens in and out (the providers' price lists)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_per_million: Price
    output_per_million: Price


def _default_model_prices() -> dict[str, ModelPrice]:
    """List prices (USD) of the writers' default models and their usual alternatives."""
    table = {
        "gpt-4o-mini": ("0.15", "0.60"),
        "gpt-4o": ("2.50", "10.00"),
        "claude-sonnet-4-5": ("3.00", "15.00"),
        "gemini-2.5-flash": ("0.30", "2.50"),
    }
    return {
        name: ModelPrice(input_per_million=Decimal(i), output_per_million=Decimal(o))
        for name, (i, o) in table.items()
    }


class CostSettings(BaseModel):
    """Prices of a task's cost (devskyy_operator/cost): requested CPU and memory per hour
    of run time, and provider spend (tokens per model, credits per provider).

    A model is priced by its name or the longest listed prefix of it, so the dated
    names providers answer with ("gpt-4o-mini-2024-07-18") match "gpt-4o-mini".
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    cpu_core_hour: Price = Field(default=Decimal("0.04"), description="Per requested core-hour.")
    memory_gib_hour: Price = Field(
        default=Decimal("0.005"), description="Per requested GiB-hour of memory."
    )
    models: dict[str, ModelPrice] = Field(default_factory=_default_model_prices)
    credits: dict[str, Price] = Field(
        default_factory=lambda: {"tripo": Decimal("0.01"), "fashn": Decimal("0.075")},
        description="Price of one credit per provider (Tripo: $1 = 100 credits).",
    )
    index_retention_seconds: int = Field(
        default=35 * 24 * 3600,
        ge=3600,
        description="How long finished tasks' costs stay summable by GET /v1/costs (Redis).",
    )


DEFAULT_WORKER_PROCESSES = 10


class _DeclaredDefault(dict[str, int]):
    """The concurrency map nobody set: filled from WORKER_PROCESSES when validated."""


def _default_concurrency(worker_processes: int = DEFAULT_WORKER_PROCESSES) -> dict[str, int]:
    """WORKER_PROCESSES tasks of each type at once; ml_training has its own default."""
    limits = {t.value: worker_processes for t in TaskType} | {TaskType.ML_TRAINING.value: 2}
    return _DeclaredDefault(limits)


def _default_images() -> dict[str, str]:
    api_image = "ghcr.io/devskyy/task-api:0.1.0"
    ml_image = "ghcr.io/devskyy/task-ml:0.1.0"
    return {
        TaskType.GENERATE_3D.value: api_image,
        TaskType.FASHN_TRYON.value: api_image,
        TaskType.MARKETING_CAMPAIGN.value: api_image,
        TaskType.DIAGNOSTIC.value: api_image,
        TaskType.ML_TRAINING.value: ml_image,
        TaskType.ML_PREDICTION.value: ml_image,
    }


def _default_retry_oom() -> dict[str, bool]:
    """No type retries an OOM kill: the next attempt gets the same memory limit and
    the same input, so it nearly always dies the same way, after the same wait."""
    return {t.value: False for t in TaskType}


_TASK_TYPE_NAMES = frozenset(t.value for t in TaskType)
_PER_TYPE_DEFAULTS: dict[str, Callable[[], Mapping[str, Any]]] = {
    "concurrency": _default_concurrency,
    "images": _default_images,
    "resources": _default_resources,
    "scheduling": _default_scheduling,
    "sla": _default_sla,
    "result_cache": _default_result_cache,
    "retry_oom": _default_retry_oom,
}


def _over_defaults(field: str, given: Any, defaults: Mapping[str, Any] | None = None) -> Any:
    """`given` (a partial per-type map) laid over the field's defaults."""
    if not isinstance(given, Mapping):
        return given  # pydantic reports the wrong type
    unknown = sorted(str(k) for k in given if str(k) not in _TASK_TYPE_NAMES)
    if unknown:
        raise ValueError(f"{field}: unknown task type(s) {', '.join(unknown)}")
    merged = dict(_PER_TYPE_DEFAULTS[field]() if defaults is None else defaults)
    for task_type, value in given.items():
        default = merged[str(task_type)]
        if isinstance(default, BaseModel) and isinstance(value, Mapping):
            value = type(default).model_validate(default.model_dump() | dict(value))
        merged[str(task_type)] = value
    return merged


class Settings(BaseSettings):
    """Configuration of the operator, the bridge and the API."""

    model_config = SettingsConfigDict(
        env_prefix="DEVSKYY_",
        env_nested_delimiter="__",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    # -- where things are (the seed's names first; DEVSKYY_* names are aliases)
    redis_url: SecretStr = Field(
        default=SecretStr("redis://127.0.0.1:6379/0"),
        validation_alias=AliasChoices("REDIS_URL", "DEVSKYY_REDIS_URL"),
        description="Redis URL, REDIS_URL (may hold a password, hence secret).",
    )
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "DEVSKYY_DATABASE_URL"),
        description="PostgreSQL URL of the task history, DATABASE_URL; unset = no history.",
    )
    namespace: str = Field(default="default", description="Namespace of tasks and their Jobs.")
    kubeconfig: str | None = Field(
        default=None,
        description="Kubeconfig path(s); unset: $KUBECONFIG, then in-cluster, then ~/.kube/config.",
    )

    # -- admission
    worker_processes: int = Field(
        default=DEFAULT_WORKER_PROCESSES,
        ge=0,
        validation_alias=AliasChoices("WORKER_PROCESSES", "DEVSKYY_WORKER_PROCESSES"),
        description="WORKER_PROCESSES: the concurrency of every task type that `concurrency` "
        "does not set (a Job per task: the seed's worker processes); ml_training: 2.",
    )
    concurrency: dict[str, int] = Field(
        default_factory=_default_concurrency,
        validate_default=True,  # so `_every_task_type` applies worker_processes
        description=(
            "Running tasks allowed at once, per task type. 0 holds the type: its tasks"
            " are accepted and stay Queued until the limit is raised."
        ),
    )
    shards: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Operator shards: a task belongs to shard sha256(name) mod shards, one "
        "Lease per shard, each replica holds a fair share and admits its shards' tasks within "
        "limit/shards of every concurrency limit. 1: one Lease, one acting replica.",
    )
    task_timeout_seconds: int = Field(
        default=600,
        ge=1,
        le=MAX_TIMEOUT_SECONDS,
        validation_alias=AliasChoices("TASK_TIMEOUT", "DEVSKYY_TASK_TIMEOUT_SECONDS"),
        description="TASK_TIMEOUT: the longest a task may run (its Job's activeDeadlineSeconds "
        "is its own or its type's timeout, never more); the API refuses longer ones.",
    )
    task_threads: int = Field(
        default=4,
        ge=1,
        le=256,
        validation_alias=AliasChoices("WORKER_THREADS", "DEVSKYY_TASK_THREADS"),
        description="WORKER_THREADS: threads inside a task pod (WORKER_THREADS, OMP/BLAS "
        "thread pools, scikit-learn's n_jobs).",
    )
    # -- the Jobs
    images: dict[str, str] = Field(
        default_factory=_default_images, description="Task image per task type."
    )
    image_pull_policy: str = Field(default="IfNotPresent")
    resources: dict[str, ResourceDefaults] = Field(
        default_factory=_default_resources,
        description="Default and maximum resources per task type (others use ResourceDefaults()).",
    )
    scheduling: dict[str, TaskScheduling] = Field(
        default_factory=_default_scheduling,
        description="Node selector and tolerations of each task type's pods (none by default).",
    )
    sla: dict[str, SlaObjective] = Field(
        default_factory=_default_sla,
        description="Service-level objectives per task type (completion, queue wait, target).",
    )
    result_cache: dict[str, ResultCaching] = Field(
        default_factory=_default_result_cache,
        description="Result caching per task type (off everywhere by default).",
    )
    retry_oom: dict[str, bool] = Field(
        default_factory=_default_retry_oom,
        description="Whether an OOM-killed attempt of the type is retried (burning a retry) "
        "or fails the task at once with reason OOMKilled (the default for every type).",
    )
    pending_deadline_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How long a task pod may stay Pending with a problem (ImagePullBackOff, "
        "Unschedulable) before the task fails with reason ImagePullFailed / Unschedulable and "
        "its Job is deleted; long enough for a pull retry and a cluster-autoscaler scale-up.",
    )
    schedule_horizon_seconds: int = Field(
        default=90 * 24 * 3600,
        ge=60,
        description="How far ahead a marketing schedule_at may lie (a past one means now).",
    )
    task_command: list[str] = Field(
        default_factory=lambda: ["devskyy-task"],
        description="Entrypoint of task containers.",
    )
    task_secret_name: str | None = Field(
        default=None,
        description="Secret whose keys (TRIPO_API_KEY, ...) task pods get by reference.",
    )
    task_config_map: str | None = Field(
        default=None,
        description="ConfigMap with non-secret task settings (OPENAI_BASE_URL, SMTP_HOST, ...).",
    )
    task_service_account: str | None = Field(
        default=None, description="ServiceAccount of task pods (no token is mounted)."
    )
    datasets_claim: str | None = Field(
        default=None, description="PVC mounted read-only at /data/datasets in ML pods."
    )
    models_claim: str | None = Field(
        default=None, description="PVC mounted at /data/models in ML pods."
    )
    artifacts_claim: str | None = Field(
        default=None, description="PVC mounted at /data/artifacts for large results."
    )
    task_run_as_user: int = Field(default=10001, description="Non-root uid of task containers.")

    # -- lifecycle
    job_retention_seconds: int = Field(
        default=3600,
        ge=0,
        description="Delete a finished Job this long after its outcome is recorded.",
    )
    resync_seconds: float = Field(
        default=10.0, gt=0, description="Level-based reconcile period of every task."
    )
    schedule_resync_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Longest sleep of the schedule loop; it wakes at each schedule's next time "
        "and on every change of a schedule or its runs, this is only the safety net.",
    )
    watch_timeout_seconds: int = Field(
        default=300,
        ge=10,
        description="Server-side timeout of the operator's and the bridge's watches.",
    )
    dlq_ttl_seconds: int = Field(default=7 * 24 * 3600, description="DLQ record lifetime.")
    dlq_log_tail_lines: int = Field(
        default=50,
        ge=0,
        le=10_000,
        description="Last lines of the failed attempt's log kept in its DLQ record (0: none).",
    )
    dlq_log_tail_bytes: int = Field(
        default=8192,
        ge=0,
        le=1024 * 1024,
        description="At most this many bytes of that log tail (the newest are kept).",
    )
    task_record_ttl_seconds: int = Field(
        default=30 * 24 * 3600, description="Lifetime of a finished task's Redis hash."
    )
    worker_host: str | None = Field(
        default=None, description="Name written as worker_host when a pod has no node yet."
    )

    # -- bridge
    region: str | None = Field(
        default=None,
        pattern=REGION_PATTERN,
        max_length=63,
        description="The region this bridge serves: it claims only tasks whose spec.region "
        "names it (their own Redis queues); unset: only tasks without a region (queue:<type>).",
    )
    bridge_window: int = Field(
        default=50, ge=1, description="Not-yet-admitted CRs per type the bridge keeps at most."
    )
    lease_seconds: float = Field(default=30.0, gt=0, description="Claim lease lifetime.")
    bridge_interval_seconds: float = Field(default=0.5, gt=0)
    sweep_interval_seconds: float = Field(
        default=30.0, gt=0, description="Period of the bridge's sweeper passes."
    )
    max_schedules_per_user: int = Field(
        default=100, ge=1, description="Schedules one user may own (POST /v1/schedules: 403)."
    )
    schedule_status_interval_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often the bridge copies DevSkyySchedule statuses into Redis for "
        "GET /v1/schedules (also right after it applied a change).",
    )
    sweep_grace_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How long a task must look orphaned before the sweeper acts on it.",
    )
    bridge_stop_grace_seconds: float = Field(
        default=10.0,
        gt=0,
        description="On SIGTERM, how long the cycle in progress may still create CRs before it "
        "is cut short and its claims go back to the queue (keep it below the pod's "
        "termination grace period, 30 s in the chart).",
    )

    # -- API
    api_tokens: SecretStr | None = Field(
        default=None,
        description="Comma-separated user_id:sha256(token) pairs accepted as bearer tokens.",
    )
    rate_limit_per_minute: int = Field(default=600, ge=1)
    max_queued_per_user: int = Field(default=10_000, ge=1)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    max_batch_tasks: int = Field(
        default=100, ge=1, le=10_000, description="Tasks one POST /v1/tasks:batch may carry."
    )
    max_batch_body_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="Largest POST /v1/tasks:batch body."
    )
    rate_window_seconds: int = Field(
        default=60, ge=1, description="Fixed window of rate_limit_per_minute."
    )
    idempotency_ttl_seconds: int = Field(
        default=24 * 3600, ge=1, description="How long an Idempotency-Key maps to its task."
    )
    throughput_window_seconds: float = Field(
        default=600.0, gt=0, description="Recent completions used to estimate queue wait."
    )
    api_host: str = Field(default="127.0.0.1", description="Bind address of devskyy-api.")
    api_port: int = Field(default=8000, description="Port of devskyy-api.")
    api_stop_grace_seconds: int = Field(
        default=20,
        ge=1,
        description="On SIGTERM, how long requests in flight may still finish (keep it below "
        "the pod's termination grace period, 30 s in the chart).",
    )

    # -- user tiers (priority bands, per-tier limits and concurrency shares)
    tiers: dict[str, TierPolicy] = Field(
        default_factory=_default_tiers,
        description="User tiers by name, JSON (DEVSKYY_TIERS); entries given are laid over "
        "the built-in free, pro and enterprise by name (a new name adds a tier).",
    )
    user_tiers: dict[str, str] = Field(
        default_factory=dict,
        description='Tier of each user id, JSON (DEVSKYY_USER_TIERS=\'{"alice": "pro"}\'); '
        "users not listed are in default_tier.",
    )
    default_tier: str = Field(default="free", description="Tier of users not in user_tiers.")

    # -- history (devskyy-history: Redis stream -> PostgreSQL)
    history_batch_size: int = Field(
        default=500, ge=1, le=10_000, description="Transitions written per transaction."
    )
    history_claim_idle_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Entries a stopped writer held are taken over after this long.",
    )
    history_retry_max_seconds: float = Field(
        default=5.0, gt=0, description="Longest pause between writes while PostgreSQL is down."
    )
    history_stream_max_events: int = Field(
        default=1_000_000,
        ge=1000,
        description="Unwritten transitions Redis keeps at most; beyond, the oldest are dropped.",
    )
    history_retention_days: int = Field(
        default=400, ge=0, description="Keep tasks this long after their last change (0 = ever)."
    )
    history_retention_batch: int = Field(
        default=1000, ge=1, description="Tasks deleted per retention transaction."
    )
    history_retention_interval_seconds: float = Field(
        default=3600.0, gt=0, description="Pause between retention runs."
    )
    history_consumer: str | None = Field(
        default=None, description="Consumer name of this writer; the host (pod) name when unset."
    )

    # -- cost attribution
    cost: CostSettings = Field(
        default_factory=CostSettings,
        description="Prices of task costs (DEVSKYY_COST__CPU_CORE_HOUR=0.05, "
        'DEVSKYY_COST__MODELS=\'{"gpt-4o-mini": {"input_per_million": "0.15", ...}}\').',
    )

    # -- observability
    log_format: str = Field(default="text", description='"text" (seed line format) or "json".')
    metrics_port: int = Field(default=9090)
    health_port: int = Field(default=8080)

    @field_validator(
        "concurrency",
        "images",
        "resources",
        "scheduling",
        "result_cache",
        "retry_oom",
        "sla",
        mode="before",
    )
    @classmethod
    def _every_task_type(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name == "concurrency":
            workers = info.data.get("worker_processes", DEFAULT_WORKER_PROCESSES)
            given = {} if isinstance(value, _DeclaredDefault) else value
            return dict(_over_defaults("concurrency", given, _default_concurrency(workers)))
        return _over_defaults(str(info.field_name), value)

    @field_validator("concurrency")
    @classmethod
    def _no_negative_limit(cls, value: dict[str, int]) -> dict[str, int]:
        negative = sorted(t for t, limit in value.items() if limit < 0)
        if negative:
            raise ValueError(f"concurrency of {', '.join(negative)} must be 0 or more")
        return value

    @model_validator(mode="after")
    def _every_shard_has_a_slot(self) -> Settings:
        """Each shard admits its part of a limit: a limit below the shard count would
        leave some shards without a slot of that type (their tasks would never run)."""
        short = sorted(t for t, n in self.concurrency.items() if 0 < n < self.shards)
        if short:
            raise ValueError(
                f"concurrency of {', '.join(short)} is below shards={self.shards}: every shard "
                "needs a slot of each type it may run (raise the limit or lower shards)"
            )
        return self

    @field_validator("tiers", mode="before")
    @classmethod
    def _tiers_over_defaults(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value  # pydantic reports the wrong type
        merged: dict[str, Any] = dict(_default_tiers())
        for name, given in value.items():
            default = merged.get(str(name))
            if isinstance(default, TierPolicy) and isinstance(given, Mapping):
                # Field names and aliases both accepted: merged under the alias.
                given = default.model_dump(by_alias=True) | {
                    _TIER_ALIASES.get(str(k), str(k)): v for k, v in given.items()
                }
            merged[str(name)] = given
        return merged

    @model_validator(mode="after")
    def _tiers_known(self) -> Settings:
        bad = sorted(n for n in self.tiers if not re.fullmatch(TIER_NAME_PATTERN, n))
        if bad:
            raise ValueError(f"tiers: {', '.join(bad)}: a tier name is a DNS-1123 label")
        if self.default_tier not in self.tiers:
            raise ValueError(f"default_tier: unknown tier {self.default_tier!r}")
        unknown = sorted(f"{u}={t}" for u, t in self.user_tiers.items() if t not in self.tiers)
        if unknown:
            raise ValueError(f"user_tiers: unknown tier for {', '.join(unknown)}")
        return self

    def tier_of(self, user_id: str) -> str:
        """The tier a user's tasks are queued in."""
        return self.user_tiers.get(user_id, self.default_tier)

    @field_validator("result_cache")
    @classmethod
    def _side_effects_allowed(cls, value: dict[str, ResultCaching]) -> dict[str, ResultCaching]:
        refused = sorted(
            t.value
            for t in SIDE_EFFECT_TYPES
            if value[t.value].enabled and not value[t.value].allow_side_effects
        )
        if refused:
            raise ValueError(
                f"result_cache of {', '.join(refused)}: the type has side effects; "
                "enabled needs allow_side_effects"
            )
        return value

    def result_cache_for(self, task_type: TaskType | str) -> ResultCaching:
        return self.result_cache[str(task_type)]

    def resources_for(self, task_type: TaskType | str) -> ResourceDefaults:
        return self.resources[str(task_type)]

    def scheduling_for(self, task_type: TaskType | str) -> TaskScheduling:
        return self.scheduling[str(task_type)]

    def sla_for(self, task_type: TaskType | str) -> SlaObjective:
        return self.sla[str(task_type)]

    def image_for(self, task_type: TaskType | str) -> str:
        return self.images[str(task_type)]

    def retries_oom(self, task_type: TaskType | str) -> bool:
        return self.retry_oom[str(task_type)]
