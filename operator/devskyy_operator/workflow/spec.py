"""The DevSkyyWorkflow spec: named steps, each a task template, forming a DAG.

One model for the API body, the CRD's schema (workflow/definition.py) and the
controller's parse of a resource, as TaskSpec is for tasks. The structure is
checked here; what spans steps (dependsOn, output references) in `dag`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from devskyy_agents.models import TaskSpec, parse_input
from devskyy_operator.workflow.templating import has_reference

# <workflow>-<step> is the step task's name, a task id (at most 52 characters).
WORKFLOW_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,29}[a-z0-9])?$"  # <= 31
STEP_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,18}[a-z0-9])?$"  # <= 20
MAX_STEPS = 20

StepName = Annotated[str, StringConstraints(pattern=STEP_NAME_PATTERN, max_length=20)]
FailurePolicy = Literal["Stop", "Continue"]
FAILURE_STOP: FailurePolicy = "Stop"
FAILURE_CONTINUE: FailurePolicy = "Continue"


def step_task_name(workflow: str, step: str) -> str:
    """The deterministic name of a step's DevSkyyTask: a restart finds it, never a twin."""
    return f"{workflow}-{step}"


def templated_fields(task_input: dict[str, Any]) -> set[str]:
    """Top-level input fields holding an output reference (filled in at start)."""
    return {name for name, value in task_input.items() if has_reference(value)}


class StepTask(TaskSpec):
    """A step's task: a DevSkyyTask spec whose input may hold output references.

    Fields without a reference are validated now against the type's model, as
    a task's are; the referenced ones once substituted, before the step task is
    created (the full TaskSpec check)."""

    @model_validator(mode="after")
    def _input_matches_type(self) -> StepTask:  # replaces TaskSpec's check
        templated = templated_fields(self.input)
        known = {k: v for k, v in self.input.items() if k not in templated}
        try:
            parse_input(self.type, known)
        except ValidationError as exc:
            problems = [
                f"input.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                if err["loc"]
                else f"input: {err['msg']}"
                for err in exc.errors()
                if not (templated and (not err["loc"] or err["loc"][0] in templated))
            ]
            if problems:
                raise ValueError(
                    f"input does not match type {self.type.value}: {'; '.join(problems)}"
                ) from None
        return self

    def task_spec(self) -> dict[str, Any]:
        """As a DevSkyyTask spec (JSON, aliases, unset fields left out)."""
        spec: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return spec


class WorkflowStep(BaseModel):
    """One named step: a task, started once every step it depends on succeeded."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=True)

    name: StepName = Field(description="Step name; the step task is named <workflow>-<name>.")
    depends_on: list[StepName] = Field(
        default_factory=list,
        alias="dependsOn",
        max_length=MAX_STEPS,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description="Steps that must succeed first; each must be listed before this one.",
    )
    task: StepTask = Field(
        description="The DevSkyyTask spec of the step; its input may reference outputs of "
        "the steps it depends on: {{ steps.<step>.outputs.<field> }}."
    )


class WorkflowSpec(BaseModel):
    """The desired workflow: `spec` of a DevSkyyWorkflow and the body of POST /v1/workflows."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=True)

    steps: list[WorkflowStep] = Field(
        min_length=1,
        max_length=MAX_STEPS,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
        description="The steps, each after the steps it depends on.",
    )
    failure_policy: FailurePolicy = Field(
        default=FAILURE_STOP,
        alias="failurePolicy",
        description="Stop: after a failure start no further step (running ones finish). "
        "Continue: skip only the steps that depend on the failed one.",
    )
    cancel: bool = Field(
        default=False,
        description="Set to true to cancel: running steps are stopped, no further one starts.",
    )

    @property
    def user_id(self) -> str:
        """Who the workflow runs for: the user of its first step."""
        return self.steps[0].task.user_id

    def step(self, name: str) -> WorkflowStep:
        return next(s for s in self.steps if s.name == name)


def parse_workflow_spec(raw: dict[str, Any]) -> WorkflowSpec:
    """Validate a spec coming from JSON (a resource, the API), strict in JSON mode."""
    return WorkflowSpec.model_validate_json(json.dumps(raw))
