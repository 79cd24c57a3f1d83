"""The DevSkyyWorkflow status: per step and for the whole. Generates the CRD's status
schema and is the only shape the controller writes."""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from pydantic.alias_generators import to_camel

from devskyy_operator.crd.status import Int64, Message
from devskyy_operator.workflow.spec import MAX_STEPS

StepPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Skipped", "Cancelled"]
STEP_PENDING: Final = "Pending"  # waiting for the steps it depends on
STEP_RUNNING: Final = "Running"  # its task exists and has not finished
STEP_SUCCEEDED: Final = "Succeeded"
STEP_FAILED: Final = "Failed"
STEP_SKIPPED: Final = "Skipped"  # never started: a dependency failed, or the workflow stopped
STEP_CANCELLED: Final = "Cancelled"  # its task was stopped (workflow cancelled, or deleted)
STEP_DONE = frozenset({STEP_SUCCEEDED, STEP_FAILED, STEP_SKIPPED, STEP_CANCELLED})
STEP_UNSUCCESSFUL = frozenset({STEP_FAILED, STEP_SKIPPED, STEP_CANCELLED})

WorkflowPhase = Literal["Running", "Succeeded", "Failed", "Cancelled"]
WORKFLOW_RUNNING: Final = "Running"
WORKFLOW_SUCCEEDED: Final = "Succeeded"
WORKFLOW_FAILED: Final = "Failed"
WORKFLOW_CANCELLED: Final = "Cancelled"
WORKFLOW_DONE = frozenset({WORKFLOW_SUCCEEDED, WORKFLOW_FAILED, WORKFLOW_CANCELLED})

# --- reasons (step and workflow)
REASON_DEPENDENCY_FAILED = "DependencyFailed"  # a step it depends on did not succeed
REASON_WORKFLOW_STOPPED = "WorkflowStopped"  # failurePolicy Stop after another step failed
REASON_WORKFLOW_CANCELLED = "WorkflowCancelled"  # spec.cancel
REASON_INVALID_STEP_INPUT = "InvalidStepInput"  # a reference or the substituted input is bad
REASON_TASK_DELETED = "TaskDeleted"  # the step task vanished before it finished
REASON_TASK_NAME_TAKEN = "TaskNameTaken"  # a task of that name exists, not this workflow's
REASON_INVALID_WORKFLOW = "InvalidWorkflow"  # the spec fails the models or the DAG rules
REASON_STEP_FAILED = "StepFailed"
REASON_SUCCEEDED = "Succeeded"
REASON_RUNNING = "Running"

_CAMEL = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class StepStatus(BaseModel):
    model_config = _CAMEL

    name: str = Field(max_length=63, description="Step name.")
    phase: StepPhase = Field(description="Step phase.")
    task_name: str | None = Field(default=None, max_length=63, description="The step's task.")
    task_phase: str | None = Field(
        default=None, max_length=32, description="The phase of the step's task while it runs."
    )
    reason: str | None = Field(default=None, max_length=128, description="CamelCase reason.")
    message: Message | None = Field(default=None, description="Details (a failure's cause).")
    outputs: dict[str, JsonValue] | None = Field(
        default=None, description="Outputs of the finished step (its task's result object)."
    )


class WorkflowStatus(BaseModel):
    """Observed state, written only by the operator."""

    model_config = _CAMEL

    phase: WorkflowPhase = Field(description="Workflow phase.")
    progress: str = Field(max_length=16, description='Steps succeeded of all, e.g. "3/5".')
    succeeded: Int64 = Field(ge=0, description="Steps succeeded.")
    total: Int64 = Field(ge=0, description="Steps in the workflow.")
    failed_step: str | None = Field(
        default=None, max_length=63, description="The first step that failed."
    )
    reason: str | None = Field(default=None, max_length=128, description="CamelCase reason.")
    message: Message | None = Field(default=None, description="Details of the phase.")
    observed_generation: Int64 | None = Field(
        default=None, description="Generation of the spec this status describes."
    )
    steps: list[StepStatus] = Field(
        default_factory=list,
        max_length=MAX_STEPS,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
        description="Per step, in the order of spec.steps.",
    )

    def patch(self) -> dict[str, Any]:
        """The merge patch of `status`: every field, None as null (remove)."""
        body: dict[str, Any] = self.model_dump(by_alias=True, mode="json")
        body["steps"] = [
            s.model_dump(by_alias=True, mode="json", exclude_none=True) for s in self.steps
        ]
        return body

    def same_as(self, current: dict[str, Any] | None) -> bool:
        """True when `current` (the status read back) already says all of this."""
        if not current:
            return False
        wanted = {k: v for k, v in self.patch().items() if v is not None}
        return {k: v for k, v in current.items() if k in wanted or v is not None} == wanted


def previous_steps(status: dict[str, Any] | None) -> dict[str, StepStatus]:
    """The step statuses of a status read back; unreadable ones are dropped (redecided)."""
    found: dict[str, StepStatus] = {}
    for raw in (status or {}).get("steps") or ():
        try:
            step = StepStatus.model_validate(raw)
        except ValueError:
            continue
        found[step.name] = step
    return found
