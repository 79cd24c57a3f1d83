"""Response bodies of /v1/workflows (the request body is `workflow.spec.WorkflowSpec`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from devskyy_operator.redisq.workflows import WorkflowRecord


class WorkflowAccepted(BaseModel):
    id: str = Field(description="The workflow name; its step tasks are named <id>-<step>.")
    status: Literal["pending"]
    location: str


class StepView(BaseModel):
    name: str
    phase: str = Field(description="Pending, Running, Succeeded, Failed, Skipped or Cancelled.")
    task_id: str | None = Field(default=None, description="The step's task (GET /v1/tasks/<id>).")
    reason: str | None = None
    message: str | None = None
    outputs: dict[str, Any] | None = None


class WorkflowView(BaseModel):
    id: str
    user_id: str
    phase: str = Field(
        description="Pending (submitted, not yet created), Running, Succeeded, Failed, Cancelled."
    )
    progress: str = Field(description='Steps succeeded of all, e.g. "3/5".')
    failed_step: str | None = None
    reason: str | None = None
    message: str | None = None
    steps: list[StepView]
    submitted_at: float = Field(description="Epoch seconds.")


class WorkflowCancelResult(BaseModel):
    id: str
    outcome: Literal["requested"] = Field(
        description="The bridge sets spec.cancel; the operator stops the running steps."
    )


def workflow_view(record: WorkflowRecord) -> WorkflowView:
    status = record.status or {}
    names = [str(s.get("name", "")) for s in record.spec.get("steps") or ()]
    shown = {s.get("name"): s for s in status.get("steps") or ()}
    steps = [
        StepView(
            name=name,
            phase=str(shown.get(name, {}).get("phase", "Pending")),
            task_id=shown.get(name, {}).get("taskName"),
            reason=shown.get(name, {}).get("reason"),
            message=shown.get(name, {}).get("message"),
            outputs=shown.get(name, {}).get("outputs"),
        )
        for name in names
    ]
    return WorkflowView(
        id=record.name,
        user_id=record.user_id,
        phase=record.phase,
        progress=str(status.get("progress") or f"0/{len(names)}"),
        failed_step=status.get("failedStep"),
        reason=status.get("reason"),
        message=status.get("message"),
        steps=steps,
        submitted_at=record.submitted_at,
    )
