"""The one settings object of the control components (operator, bridge, API, CLI).

Read from the environment with the prefix ``DEVSKYY_``; nested values use ``__``
(for example ``DEVSKYY_CONCURRENCY__ML_TRAINING=2``). Secrets are never values
here: only the names of Kubernetes Secrets that hold them.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from devskyy_agents.models import MAX_TIMEOUT_SECONDS, TaskType


class ResourceDefaults(BaseModel):
    """Container requests and limits for a task type when the task names none."""

    cpu_request: str = "250m"
    memory_request: str = "256Mi"
    ephemeral_request: str = "256Mi"
    cpu_limit: str = "1"
    memory_limit: str = "1Gi"
    ephemeral_limit: str = "1Gi"


def _default_resources() -> dict[str, ResourceDefaults]:
    ml = ResourceDefaults(cpu_request="1", memory_request="1Gi", cpu_limit="2", memory_limit="4Gi")
    light = ResourceDefaults(cpu_request="100m", memory_request="128Mi", memory_limit="512Mi")
    return {
        TaskType.ML_TRAINING.value: ml,
        TaskType.ML_PREDICTION.value: ml.model_copy(update={"memory_limit": "2Gi"}),
        TaskType.DIAGNOSTIC.value: light,
    }


def _default_concurrency() -> dict[str, int]:
    return {TaskType.ML_TRAINING.value: 2}


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
        default=None, description="Kubeconfig path; in-cluster config when unset."
    )

    # -- admission
    concurrency: dict[str, int] = Field(
        default_factory=_default_concurrency,
        description="Running tasks allowed at once, per task type (others: default_concurrency).",
    )
    default_concurrency: int = Field(
        default=10,
        ge=0,
        validation_alias=AliasChoices("WORKER_PROCESSES", "DEVSKYY_DEFAULT_CONCURRENCY"),
        description="WORKER_PROCESSES: tasks of one type running at once, for every type "
        "`concurrency` does not name (a Job per task: the seed's worker processes).",
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
        description="Default resources per task type (others use ResourceDefaults()).",
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
    watch_timeout_seconds: int = Field(
        default=300, ge=10, description="Server-side watch timeout; kopf reconnects after it."
    )
    dlq_ttl_seconds: int = Field(default=7 * 24 * 3600, description="DLQ record lifetime.")
    task_record_ttl_seconds: int = Field(
        default=30 * 24 * 3600, description="Lifetime of a finished task's Redis hash."
    )
    worker_host: str | None = Field(
        default=None, description="Name written as worker_host when a pod has no node yet."
    )

    # -- bridge
    bridge_window: int = Field(
        default=50, ge=1, description="Not-yet-admitted CRs per type the bridge keeps at most."
    )
    lease_seconds: float = Field(default=30.0, gt=0, description="Claim lease lifetime.")
    bridge_interval_seconds: float = Field(default=0.5, gt=0)

    # -- API
    api_tokens: SecretStr | None = Field(
        default=None,
        description="Comma-separated user_id:sha256(token) pairs accepted as bearer tokens.",
    )
    rate_limit_per_minute: int = Field(default=600, ge=1)
    max_queued_per_user: int = Field(default=10_000, ge=1)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
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

    # -- observability
    log_format: str = Field(default="text", description='"text" (seed line format) or "json".')
    metrics_port: int = Field(default=9090)
    health_port: int = Field(default=8080)

    @field_validator("concurrency", mode="after")
    @classmethod
    def _keep_type_defaults(cls, value: dict[str, int]) -> dict[str, int]:
        """Naming one type (DEVSKYY_CONCURRENCY__X) keeps the others' own defaults."""
        return _default_concurrency() | value

    def concurrency_for(self, task_type: TaskType | str) -> int:
        return self.concurrency.get(str(task_type), self.default_concurrency)

    def concurrency_limits(self) -> dict[str, int]:
        """Every task type's limit: its own, else default_concurrency (WORKER_PROCESSES)."""
        return {t.value: self.concurrency_for(t) for t in TaskType} | self.concurrency

    def resources_for(self, task_type: TaskType | str) -> ResourceDefaults:
        return self.resources.get(str(task_type), ResourceDefaults())

    def image_for(self, task_type: TaskType | str) -> str:
        return self.images[str(task_type)]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process."""
    return Settings()
