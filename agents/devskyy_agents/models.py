"""Task input and output models: the one contract shared by the API, the CRD and task pods.

Pydantic only, no heavy imports: the operator, the API and every task image import
this module. Inputs are strict (no coercion, unknown fields rejected) so a bad task
fails at the first door it reaches with a message naming the field.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from devskyy_agents.safety import check_public_https_url, check_relative_path


class TaskType(StrEnum):
    """Task types of the seed design, plus a diagnostic type for smoke tests."""

    GENERATE_3D = "generate_3d"
    FASHN_TRYON = "fashn_tryon"
    MARKETING_CAMPAIGN = "marketing_campaign"
    ML_TRAINING = "ml_training"
    ML_PREDICTION = "ml_prediction"
    DIAGNOSTIC = "diagnostic"


class TaskDefaults(BaseModel):
    """Per-type timeout and retry defaults (seed: 600/300/600/60 s, retries 3/2/1/2)."""

    model_config = ConfigDict(frozen=True)

    timeout_seconds: int
    retries: int


TASK_DEFAULTS: dict[TaskType, TaskDefaults] = {
    TaskType.GENERATE_3D: TaskDefaults(timeout_seconds=600, retries=3),
    TaskType.FASHN_TRYON: TaskDefaults(timeout_seconds=600, retries=3),
    TaskType.MARKETING_CAMPAIGN: TaskDefaults(timeout_seconds=300, retries=2),
    TaskType.ML_TRAINING: TaskDefaults(timeout_seconds=600, retries=1),
    TaskType.ML_PREDICTION: TaskDefaults(timeout_seconds=60, retries=2),
    TaskType.DIAGNOSTIC: TaskDefaults(timeout_seconds=300, retries=0),
}

# Types whose run changes the world beyond its result (delivers a campaign, publishes
# a 3D asset to WordPress/WooCommerce, writes a model version and moves `latest`):
# serving them from the result cache would skip that effect, so caching them must
# be allowed explicitly (Settings.result_cache[type].allow_side_effects).
SIDE_EFFECT_TYPES: frozenset[TaskType] = frozenset(
    {TaskType.MARKETING_CAMPAIGN, TaskType.GENERATE_3D, TaskType.ML_TRAINING}
)

# Bounds enforced by the models and mirrored in the CRD schema.
MAX_TIMEOUT_SECONDS = 86_400
MAX_CACHE_TTL_SECONDS = 30 * 86_400
MAX_RETRIES = 10
MIN_PRIORITY = 0
MAX_PRIORITY = 1_000
DEFAULT_PRIORITY = 100
# The one input size limit of every door, measured by `serialized_input`: the
# bytes of the input inside the spec the task pod receives.
MAX_INPUT_BYTES = 64 * 1024
# Bounds of the diagnostic task's resource probes: the largest memory and
# ephemeral-storage maxima any task type has by default (16Gi, 20Gi), so a probe
# can always reach the limit it is meant to overrun, and never much beyond it.
MAX_ALLOCATE_MIB = 16 * 1024
MAX_WRITE_MIB = 20 * 1024

# A task id is the CR name, the Job name and the Redis key suffix: a DNS-1123
# label short enough that the Job controller's pod-name suffix still fits.
TASK_ID_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,50}[a-z0-9])?$"
TASK_ID_RE = re.compile(TASK_ID_PATTERN)
USER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$"
# A region (README "Multi-region"): a DNS-1123 label, as cluster and zone names are.
REGION_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
SLUG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$"
EMAIL_PATTERN = r"^[^@\s<>,;\"']{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$"

# `echo_env` may print only variables named DIAGNOSTIC_*: a task cannot echo a
# provider key (TRIPO_API_KEY, ...) into its pod log, only a value put there for it.
DIAGNOSTIC_ENV_PATTERN = r"^DIAGNOSTIC_[A-Z0-9_]{1,52}$"
UserId = Annotated[str, StringConstraints(pattern=USER_ID_PATTERN)]
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
PublicHttpsUrl = Annotated[
    str, StringConstraints(max_length=2048), AfterValidator(check_public_https_url)
]
RelativeDataPath = Annotated[
    str, StringConstraints(min_length=1, max_length=512), AfterValidator(check_relative_path)
]

STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)


class TaskInput(BaseModel):
    """Base of every task input: who asked for it."""

    model_config = STRICT

    user_id: UserId = Field(description="User the task runs for; used for tracking and quotas.")


class Generate3DInput(TaskInput):
    """generate_3d: a 3D asset from a text prompt and/or a product image (Tripo3D)."""

    prompt: str = Field(default="", max_length=1024, description="Text description of the asset.")
    image_url: PublicHttpsUrl | None = Field(
        default=None, description="Public https image for image-to-3D; text-to-3D when absent."
    )
    style: Slug = Field(
        default="realistic", description='Look of the asset: "realistic", "cartoon", ...'
    )
    product_name: str | None = Field(
        default=None, max_length=200, description="WooCommerce product to attach the assets to."
    )
    collection: Slug = Field(
        default="SIGNATURE", description='Collection: "SIGNATURE", "BLACK", ...'
    )
    garment_type: Slug = Field(default="tee", description='Garment: "tee", "hoodie", ...')

    @model_validator(mode="after")
    def _needs_prompt_or_image(self) -> Generate3DInput:
        if not self.prompt.strip() and self.image_url is None:
            raise ValueError("either prompt or image_url is required")
        return self


class FashnTryonInput(TaskInput):
    """fashn_tryon: dress a model photo in a garment photo (FASHN virtual try-on)."""

    model_image: PublicHttpsUrl = Field(description="Public https photo of the person.")
    garment_image: PublicHttpsUrl = Field(description="Public https photo of the garment.")
    category: Literal["auto", "tops", "bottoms", "one-pieces"] = Field(
        default="auto", description="Garment category."
    )
    num_samples: int = Field(default=1, ge=1, le=4, description="Images to generate.")


# Who may write a campaign's copy; also the default fallback order.
CONTENT_PROVIDERS = ("openai", "anthropic", "google")
ContentProvider = Literal["openai", "anthropic", "google"]


class MarketingCampaignInput(TaskInput):
    """marketing_campaign: write the content (OpenAI, Anthropic or Google AI), deliver it."""

    campaign_id: Slug = Field(description="Campaign identifier.")
    campaign_type: Literal["email", "social", "seo"] = Field(description="Delivery channel.")
    recipients: list[Annotated[str, StringConstraints(min_length=1, max_length=254)]] = Field(
        min_length=1,
        max_length=10_000,
        description="Email addresses (email), channel names (social) or product ids/slugs (seo).",
    )
    content: dict[str, JsonValue] = Field(
        default_factory=dict, description="Brief for the content: subject, topic, tone, ..."
    )
    schedule_at: datetime | None = Field(
        default=None,
        description="ISO timestamp with zone; the operator holds the task until then.",
    )
    content_provider: ContentProvider | None = Field(
        default=None,
        description="Who writes the copy first; the other configured providers follow on "
        "429/5xx (MARKETING_PROVIDER_ORDER). Default: that order.",
    )

    @model_validator(mode="after")
    def _check_recipients(self) -> MarketingCampaignInput:
        if self.schedule_at is not None and self.schedule_at.tzinfo is None:
            raise ValueError("schedule_at must carry a time zone, e.g. 2026-01-05T12:00:00Z")
        if self.campaign_type == "email":
            bad = [r for r in self.recipients if not re.match(EMAIL_PATTERN, r)]
            if bad:
                raise ValueError(f"recipients: not an email address: {bad[0]!r}")
        return self


MLModelId = Literal["sentiment_analyzer", "trend_predictor", "customer_segmentation"]


class MLTrainingInput(TaskInput):
    """ml_training: train a model on a CSV/Parquet file from the datasets volume."""

    model_id: MLModelId = Field(description="Which model to train.")
    training_data_path: RelativeDataPath = Field(
        description="CSV or Parquet path relative to the datasets volume; cannot leave it."
    )
    hyperparameters: dict[str, JsonValue] = Field(
        default_factory=dict, description="Estimator hyperparameters."
    )
    epochs: int = Field(
        default=1, ge=1, le=1000, description="Passes over the data where supported."
    )


class MLPredictionInput(TaskInput):
    """ml_prediction: predict with a trained model (latest version unless pinned)."""

    model_id: MLModelId = Field(description="Which model to predict with.")
    input_data: dict[str, JsonValue] | list[dict[str, JsonValue]] = Field(
        description="One record or a list of records."
    )
    model_version: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")] | None = (
        Field(default=None, description="Model version to use; latest when absent.")
    )


class DiagnosticInput(TaskInput):
    """diagnostic: sleep, then exit with a code and a result; smoke-tests a deployment."""

    sleep_seconds: float = Field(default=0.0, ge=0, le=3600, description="Seconds to sleep.")
    exit_code: int = Field(default=0, ge=0, le=255, description="Exit code of the task process.")
    fail_attempts: int = Field(
        default=0,
        ge=0,
        le=MAX_RETRIES,
        description=(
            "Fail retryably on the first N attempts, then go on; the attempt number comes from "
            "the task's ledger, so this needs a persistent artifacts volume."
        ),
    )
    result: dict[str, JsonValue] = Field(
        default_factory=dict, description="Result reported on success."
    )
    allocate_mib: int = Field(
        default=0,
        ge=0,
        le=MAX_ALLOCATE_MIB,
        description="Allocate and touch this many MiB of memory before sleeping (an OOM probe).",
    )
    write_mib: int = Field(
        default=0,
        ge=0,
        le=MAX_WRITE_MIB,
        description=(
            "Write this many MiB to one file in the task's own artifacts directory before "
            "sleeping (an ephemeral-storage probe; the path is fixed, not chosen by the input)."
        ),
    )
    report_runtime: bool = Field(
        default=False,
        description=(
            "Add `runtime` to the result: the cgroup memory and CPU limits the task sees, "
            "its uid and gid, and its attempt number."
        ),
    )
    write_outside_volumes: bool = Field(
        default=False,
        description=(
            "Try to create a file at a fixed path of the root filesystem (outside every "
            "volume); on a read-only root this fails the task permanently with the error."
        ),
    )
    echo_env: list[Annotated[str, StringConstraints(pattern=DIAGNOSTIC_ENV_PATTERN)]] = Field(
        default_factory=list,
        max_length=8,
        description=(
            "Names of DIAGNOSTIC_* environment variables (e.g. from the task Secret) whose "
            "values the task prints, unmasked, to stdout: a smoke test of the log masking "
            "of the DLQ's log tail."
        ),
    )
    print_lines: list[Annotated[str, StringConstraints(max_length=1024)]] = Field(
        default_factory=list, max_length=32, description="Lines the task prints to stdout."
    )


INPUT_MODELS: dict[TaskType, type[TaskInput]] = {
    TaskType.GENERATE_3D: Generate3DInput,
    TaskType.FASHN_TRYON: FashnTryonInput,
    TaskType.MARKETING_CAMPAIGN: MarketingCampaignInput,
    TaskType.ML_TRAINING: MLTrainingInput,
    TaskType.ML_PREDICTION: MLPredictionInput,
    TaskType.DIAGNOSTIC: DiagnosticInput,
}


class ResourceAmounts(BaseModel):
    """Kubernetes quantities for one of requests/limits."""

    model_config = STRICT

    cpu: Annotated[str, StringConstraints(pattern=r"^([0-9]+m|[0-9]+(\.[0-9]{1,3})?)$")] | None = (
        Field(default=None, description='CPU, e.g. "500m" or "2".')
    )
    memory: Annotated[str, StringConstraints(pattern=r"^[0-9]+(Ki|Mi|Gi)?$")] | None = Field(
        default=None, description='Memory, e.g. "512Mi" or "2Gi".'
    )
    ephemeral_storage: Annotated[str, StringConstraints(pattern=r"^[0-9]+(Ki|Mi|Gi)?$")] | None = (
        Field(default=None, alias="ephemeralStorage", description='Scratch disk, e.g. "1Gi".')
    )


class TaskResources(BaseModel):
    """Requests and limits of the task container; type defaults fill the gaps."""

    model_config = STRICT

    requests: ResourceAmounts | None = Field(default=None, description="Resource requests.")
    limits: ResourceAmounts | None = Field(default=None, description="Resource limits.")


class TaskCache(BaseModel):
    """A task's result-cache choice: opt in (or out) and how old a stored result may be."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=True)

    enabled: bool = Field(
        default=True,
        description="Serve a stored result of the same type and input (true), or always run "
        "(false). Absent cache: the task type's setting.",
    )
    ttl_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_CACHE_TTL_SECONDS,
        alias="ttlSeconds",
        description="Oldest stored result accepted, and the lifetime of the one this task "
        "stores; the type's TTL when absent.",
    )

    @model_validator(mode="after")
    def _ttl_needs_cache(self) -> TaskCache:
        if self.ttl_seconds is not None and not self.enabled:
            raise ValueError("ttlSeconds applies only when enabled is true")
        return self


class TaskSpec(BaseModel):
    """The desired task: `spec` of a DevSkyyTask and the body of `POST /v1/tasks`."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=True)

    type: TaskType = Field(description="Task type; selects the input schema and the agent.")
    input: dict[str, JsonValue] = Field(description="Task input; its schema depends on type.")
    priority: int = Field(
        default=DEFAULT_PRIORITY,
        ge=MIN_PRIORITY,
        le=MAX_PRIORITY,
        description="Higher runs first; FIFO within a priority.",
    )
    timeout_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_TIMEOUT_SECONDS,
        alias="timeoutSeconds",
        description="Wall-clock limit for the whole task; the type default when absent.",
    )
    retries: int | None = Field(
        default=None,
        ge=0,
        le=MAX_RETRIES,
        description="Retries after a retryable failure; the type default when absent.",
    )
    resources: TaskResources | None = Field(
        default=None, description="Container resources; the type defaults when absent."
    )
    region: Annotated[str, StringConstraints(pattern=REGION_PATTERN, max_length=63)] | None = Field(
        default=None,
        description="Region whose bridge alone may claim the task (a DNS label); "
        "none: the bridges without a region.",
    )
    cache: TaskCache | None = Field(
        default=None, description="Result caching of this task; the type's setting when absent."
    )

    @field_validator("input")
    @classmethod
    def _input_fits(cls, value: dict[str, JsonValue]) -> dict[str, JsonValue]:
        size = len(serialized_input(value))
        if size > MAX_INPUT_BYTES:
            raise ValueError(f"larger than {MAX_INPUT_BYTES} bytes serialized ({size} bytes)")
        return value

    @model_validator(mode="after")
    def _input_matches_type(self) -> TaskSpec:
        try:
            self.parsed_input()
        except ValidationError as exc:
            problems = "; ".join(
                f"input.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                if err["loc"]
                else f"input: {err['msg']}"
                for err in exc.errors()
            )
            raise ValueError(f"input does not match type {self.type.value}: {problems}") from None
        return self

    def parsed_input(self) -> TaskInput:
        """The input validated against the model of its type (JSON mode, see parse_spec)."""
        return parse_input(self.type, self.input)

    def scheduled_for(self) -> datetime | None:
        """The earliest start (marketing `schedule_at`), or None: due at once."""
        parsed = self.parsed_input()
        return parsed.schedule_at if isinstance(parsed, MarketingCampaignInput) else None

    @property
    def user_id(self) -> str:
        value = self.input.get("user_id")
        return value if isinstance(value, str) else ""

    def effective_timeout(self) -> int:
        return self.timeout_seconds or TASK_DEFAULTS[self.type].timeout_seconds

    def effective_retries(self) -> int:
        return self.retries if self.retries is not None else TASK_DEFAULTS[self.type].retries


def serialized_input(value: Any) -> str:
    """JSON as the task pod receives it (compact, ASCII): what MAX_INPUT_BYTES measures.

    Non-ASCII characters count as their \\uXXXX escapes, so the limit bounds the
    bytes that travel, whatever the script of the text.
    """
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def parse_spec(raw: dict[str, Any]) -> TaskSpec:
    """Validate a spec coming from JSON (the API, a CR, the pod's spec file).

    JSON has no enum or datetime types, so strict mode is applied in JSON mode,
    which accepts strings for those while still refusing e.g. "3" for an int.
    """
    return parse_spec_json(json.dumps(raw))


def parse_spec_json(text: str) -> TaskSpec:
    """`parse_spec` of a spec already in JSON text (the operator keeps a task's spec so)."""
    return TaskSpec.model_validate_json(text)


def parse_input(task_type: TaskType, raw: dict[str, Any]) -> TaskInput:
    """Validate one task input coming from JSON."""
    return INPUT_MODELS[task_type].model_validate_json(json.dumps(raw))


# ----------------------------------------------------------------- outputs (seed schemas)


class OutputBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["success", "failed"]
    completed_at: str = Field(description="ISO timestamp.")


class Generate3DResult(BaseModel):
    task_id: str
    model_url: str
    texture_url: str
    preview_url: str
    wordpress_media_ids: list[int] | None = None


class Generate3DOutput(OutputBase):
    task_id: str
    result: Generate3DResult


class FashnTryonResult(BaseModel):
    prediction_id: str
    images: list[str]


class FashnTryonOutput(OutputBase):
    task_id: str
    result: FashnTryonResult


class MarketingResult(BaseModel):
    sent_count: int
    failed_count: int
    campaign_type: str
    sent_at: str


class MarketingCampaignOutput(OutputBase):
    campaign_id: str
    result: MarketingResult


class ClassMetrics(BaseModel):
    """One label's figures on the held-out rows."""

    precision: float
    recall: float
    f1_score: float
    support: int = Field(description="Held-out rows with this label.")
    predicted: int = Field(description="Held-out rows the model gave this label.")


class MLTrainingResult(BaseModel):
    """The seed's six figures first; precision, recall and f1_score are macro
    averages over the classes, measured on held-out rows."""

    accuracy: float
    precision: float
    recall: float
    f1_score: float
    epochs_completed: int
    training_samples: int
    model_version: str | None = None
    macro_f1: float | None = Field(
        default=None, description="Held-out macro-F1 (= f1_score), for classifiers."
    )
    per_class: dict[str, ClassMetrics] | None = Field(
        default=None, description="Held-out figures per label, for classifiers."
    )
    extra_metrics: dict[str, Any] | None = None


class MLTrainingOutput(OutputBase):
    model_id: str
    result: MLTrainingResult


class MLPredictionResult(BaseModel):
    predictions: dict[str, Any] | list[Any]
    model_version: str


class MLPredictionOutput(OutputBase):
    model_id: str
    result: MLPredictionResult


class DiagnosticOutput(OutputBase):
    task_id: str
    result: dict[str, Any]
    # With `report_runtime`: limits, uid/gid, attempt (runtime_probe.RuntimeReport + attempt).
    runtime: dict[str, Any] | None = None
