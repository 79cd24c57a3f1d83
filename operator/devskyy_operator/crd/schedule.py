"""The DevSkyySchedule resource as models: spec (API body and CR spec) and status.

Field names and meanings are Kubernetes CronJob's, so users read them as they
already know them; runs are DevSkyyTasks instead of Jobs, hence
`successfulRunsHistoryLimit` / `failedRunsHistoryLimit`. The template's
`spec` is a TaskSpec: the same model (and, in the CRD, the same schema and
CEL rules) as a task's, so a schedule can only hold a task that would be
accepted on its own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from devskyy_agents.models import TaskSpec
from devskyy_operator import cron
from devskyy_operator.crd.status import Int64, Message, Time

ConcurrencyPolicy = Literal["Allow", "Forbid", "Replace"]
ALLOW: ConcurrencyPolicy = "Allow"
FORBID: ConcurrencyPolicy = "Forbid"
REPLACE: ConcurrencyPolicy = "Replace"

# Kubernetes CronJob's defaults.
DEFAULT_SUCCESSFUL_HISTORY = 3
DEFAULT_FAILED_HISTORY = 1
MAX_HISTORY = 100
# A run is named <schedule>-<unix minutes> (8 digits until the year 2160) and must
# be a task id (52 characters): 43 are left for the schedule's name.
MAX_SCHEDULE_NAME = 43
SCHEDULE_NAME_PATTERN = rf"^[a-z0-9]([-a-z0-9]{{0,{MAX_SCHEDULE_NAME - 2}}}[a-z0-9])?$"
MAX_ACTIVE_LISTED = 100

_STRICT = ConfigDict(
    strict=True, extra="forbid", frozen=True, populate_by_name=True, alias_generator=to_camel
)


class RunTemplate(BaseModel):
    """What each run is created from."""

    model_config = _STRICT

    spec: TaskSpec = Field(description="The DevSkyyTask spec of every run.")


class ScheduleSpec(BaseModel):
    """The desired schedule: `spec` of a DevSkyySchedule and the body of `POST /v1/schedules`."""

    model_config = _STRICT

    schedule: str = Field(
        min_length=1,
        max_length=128,
        description="Cron expression, 5 fields (minute hour day-of-month month day-of-week) "
        "or @hourly/@daily/@weekly/@monthly/@yearly.",
    )
    time_zone: str | None = Field(
        default=None,
        max_length=64,
        description="IANA time zone the schedule is read in (e.g. Europe/Berlin); UTC when absent.",
    )
    template: RunTemplate = Field(description="The task each run creates.")
    concurrency_policy: ConcurrencyPolicy = Field(
        default=ALLOW,
        description="Allow: runs may overlap. Forbid: skip a run while one is active. "
        "Replace: delete the active runs and start the new one.",
    )
    starting_deadline_seconds: Int64 | None = Field(
        default=None,
        ge=0,
        description="A run that could not start within this many seconds of its time is "
        "skipped (counted as missed); no deadline when absent.",
    )
    suspend: bool = Field(default=False, description="Start no new runs; active runs go on.")
    successful_runs_history_limit: int = Field(
        default=DEFAULT_SUCCESSFUL_HISTORY,
        ge=0,
        le=MAX_HISTORY,
        description="Succeeded runs to keep; older ones are deleted.",
    )
    failed_runs_history_limit: int = Field(
        default=DEFAULT_FAILED_HISTORY,
        ge=0,
        le=MAX_HISTORY,
        description="Failed runs to keep; older ones are deleted.",
    )

    @field_validator("schedule")
    @classmethod
    def _parses(cls, value: str) -> str:
        cron.parse(value)  # CronError is a ValueError: pydantic names the field
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        cron.zone(value)
        return value

    def parsed(self) -> tuple[cron.Cron, ZoneInfo]:
        """The expression and the zone it is read in (both validated already)."""
        return cron.parse(self.schedule), cron.zone(self.time_zone)


ActiveRuns = Annotated[list[str], Field(max_length=MAX_ACTIVE_LISTED)]


class ScheduleStatus(BaseModel):
    """Observed state, written only by the operator (a merge patch of the set fields)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    last_schedule_time: Time | None = Field(
        default=None, description="Scheduled time of the latest run started."
    )
    last_successful_time: Time | None = Field(
        default=None, description="When the latest successful run finished."
    )
    next_schedule_time: Time | None = Field(
        default=None, description="When the next run is due (absent while suspended)."
    )
    active: ActiveRuns | None = Field(default=None, description="Names of the unfinished runs.")
    active_count: Int64 | None = Field(default=None, description="Number of unfinished runs.")
    reason: str | None = Field(
        default=None, max_length=128, description="Why no run starts (InvalidSpec, Suspended)."
    )
    message: Message | None = Field(default=None, description="Details of the reason.")
    observed_generation: Int64 | None = Field(
        default=None, description="Generation of the spec this status describes."
    )

    def patch(self) -> dict[str, object]:
        """The JSON merge patch of `status`: set fields only, None as null (remove)."""
        return self.model_dump(by_alias=True, exclude_unset=True, mode="json")


def parse_schedule_spec(raw: Mapping[str, Any]) -> ScheduleSpec:
    """Validate a schedule spec coming from JSON (the API, a CR); as models.parse_spec,
    strict in JSON mode."""
    return ScheduleSpec.model_validate_json(json.dumps(dict(raw)))
