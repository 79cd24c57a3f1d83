"""The step decision: given what the step tasks show, which to create, which to
cancel, and the status of every step and of the whole. Pure, time-free.

Level-based: the controller hands in the tasks as listed now and the status it
wrote before, and carries out the plan; running it again on the same facts
gives the same plan, so a restart or a repeated event changes nothing. Finished
step statuses are kept (a finished task may be deleted later, by retention or
by hand), and so are the outputs recorded with them.

Failure policy. Stop: once a step failed, no further step starts (those still
pending are Skipped); steps already running are left to finish (cancelling a
half-done 3D generation wastes its credits and saves nothing) and the workflow
is Failed, the first failed step named, when nothing runs any more. Continue:
only the steps depending on the failed one (directly or not) are Skipped, the
independent branches go on. Cancelling (spec.cancel) deletes the running step
tasks and skips the pending steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from devskyy_agents.models import parse_spec
from devskyy_operator.crd import conditions as cond
from devskyy_operator.workflow import status as st
from devskyy_operator.workflow.dag import workflow_problems
from devskyy_operator.workflow.spec import (
    FAILURE_STOP,
    WorkflowSpec,
    WorkflowStep,
    parse_workflow_spec,
    step_task_name,
)
from devskyy_operator.workflow.templating import TemplateError, outputs_of, render


@dataclass(frozen=True)
class ObservedTask:
    """What the controller read of one step task."""

    phase: str | None  # the task's status.phase; None before the operator saw it
    owned: bool = True  # its ownerReference names this workflow (uid)
    reason: str | None = None
    message: str | None = None
    result: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class StepStart:
    step: str
    task_name: str
    spec: dict[str, Any]  # the DevSkyyTask spec, references substituted and validated


@dataclass
class WorkflowPlan:
    status: st.WorkflowStatus
    create: list[StepStart] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)  # task names to delete


def _observed(
    name: str, task_name: str, task: ObservedTask | None, before: st.StepStatus | None
) -> st.StepStatus:
    """The step as its task (or its recorded status) shows it, before any decision."""
    if before is not None and before.phase in st.STEP_DONE:
        return before
    if task is None:
        if before is not None and before.phase == st.STEP_RUNNING:
            return st.StepStatus(
                name=name, phase=st.STEP_CANCELLED, task_name=task_name,
                reason=st.REASON_TASK_DELETED,
                message=f"task {task_name} was deleted before it finished",
            )  # fmt: skip
        return st.StepStatus(name=name, phase=st.STEP_PENDING)
    if not task.owned:
        return st.StepStatus(
            name=name, phase=st.STEP_PENDING, reason=st.REASON_TASK_NAME_TAKEN,
            message=f"a task named {task_name} exists that this workflow does not own; "
            "the step starts once it is gone",
        )  # fmt: skip
    if task.phase == cond.PHASE_SUCCEEDED:
        return st.StepStatus(
            name=name, phase=st.STEP_SUCCEEDED, task_name=task_name,
            reason=st.REASON_SUCCEEDED, outputs=outputs_of(task.result),
        )  # fmt: skip
    if task.phase == cond.PHASE_FAILED:
        return st.StepStatus(
            name=name, phase=st.STEP_FAILED, task_name=task_name,
            reason=task.reason or st.REASON_STEP_FAILED,
            message=f"task {task_name} failed: {task.message or task.reason or 'no reason given'}",
        )  # fmt: skip
    return st.StepStatus(
        name=name, phase=st.STEP_RUNNING, task_name=task_name,
        task_phase=task.phase, reason=st.REASON_RUNNING,
    )  # fmt: skip


def render_step(step: WorkflowStep, workflow: str, done: Mapping[str, st.StepStatus]) -> StepStart:
    """The step's task spec with the outputs substituted, checked as a whole TaskSpec
    (the type's input model included); ValueError naming the step otherwise."""
    outputs = {name: dict(s.outputs or {}) for name, s in done.items()}
    try:
        spec = step.task.task_spec()
        spec["input"] = render(spec["input"], outputs)
        parse_spec(spec)
    except (TemplateError, ValueError) as exc:
        raise ValueError(f"step {step.name}: {exc}") from None
    return StepStart(step.name, step_task_name(workflow, step.name), spec)


def decide(
    workflow: str,
    spec: WorkflowSpec,
    tasks: Mapping[str, ObservedTask],
    previous: Mapping[str, st.StepStatus],
    generation: int | None = None,
) -> WorkflowPlan:
    """`tasks` and `previous` are keyed by step name."""
    steps: dict[str, st.StepStatus] = {}
    for step in spec.steps:
        task_name = step_task_name(workflow, step.name)
        steps[step.name] = _observed(
            step.name, task_name, tasks.get(step.name), previous.get(step.name)
        )
    plan = WorkflowPlan(status=_summary(spec, steps, generation))
    if spec.cancel:
        for name, now in steps.items():
            if now.phase == st.STEP_RUNNING:
                plan.cancel.append(now.task_name or step_task_name(workflow, name))
                steps[name] = now.model_copy(
                    update={"phase": st.STEP_CANCELLED, "reason": st.REASON_WORKFLOW_CANCELLED,
                            "task_phase": None, "message": "cancelled with the workflow"}
                )  # fmt: skip
            elif now.phase == st.STEP_PENDING:
                steps[name] = _skipped(name, st.REASON_WORKFLOW_CANCELLED, "workflow cancelled")
            elif now.reason == st.REASON_TASK_DELETED and name not in _done(previous):
                # deleted by an earlier pass of this cancel whose status write was lost
                steps[name] = now.model_copy(update={"reason": st.REASON_WORKFLOW_CANCELLED})
        plan.status = _summary(spec, steps, generation, cancelled=True)
        return plan
    for step in spec.steps:
        now = steps[step.name]
        if now.phase != st.STEP_PENDING or now.reason == st.REASON_TASK_NAME_TAKEN:
            continue
        failed_deps = [d for d in step.depends_on if steps[d].phase in st.STEP_UNSUCCESSFUL]
        if failed_deps:
            steps[step.name] = _skipped(
                step.name, st.REASON_DEPENDENCY_FAILED,
                f"not started: step {failed_deps[0]} did not succeed",
            )  # fmt: skip
            continue
        failed = _first_failed(spec, steps)
        if failed is not None and spec.failure_policy == FAILURE_STOP:
            steps[step.name] = _skipped(
                step.name, st.REASON_WORKFLOW_STOPPED,
                f"not started: step {failed} failed and failurePolicy is Stop",
            )  # fmt: skip
            continue
        if any(steps[d].phase != st.STEP_SUCCEEDED for d in step.depends_on):
            continue  # still waiting
        done = {d: steps[d] for d in steps if steps[d].phase == st.STEP_SUCCEEDED}
        try:
            start = render_step(step, workflow, done)
        except ValueError as exc:
            steps[step.name] = st.StepStatus(
                name=step.name, phase=st.STEP_FAILED,
                reason=st.REASON_INVALID_STEP_INPUT, message=str(exc),
            )  # fmt: skip
            continue
        plan.create.append(start)
        steps[step.name] = st.StepStatus(
            name=step.name, phase=st.STEP_RUNNING, task_name=start.task_name,
            reason=st.REASON_RUNNING,
        )  # fmt: skip
    plan.status = _summary(spec, steps, generation)
    return plan


def _done(previous: Mapping[str, st.StepStatus]) -> set[str]:
    return {name for name, step in previous.items() if step.phase in st.STEP_DONE}


def _skipped(name: str, reason: str, message: str) -> st.StepStatus:
    return st.StepStatus(name=name, phase=st.STEP_SKIPPED, reason=reason, message=message)


def _first_failed(spec: WorkflowSpec, steps: Mapping[str, st.StepStatus]) -> str | None:
    """The first step (in spec order) that failed or was cancelled on its own."""
    for step in spec.steps:
        now = steps[step.name]
        if now.phase == st.STEP_FAILED or (
            now.phase == st.STEP_CANCELLED and now.reason != st.REASON_WORKFLOW_CANCELLED
        ):
            return step.name
    return None


def _summary(
    spec: WorkflowSpec,
    steps: Mapping[str, st.StepStatus],
    generation: int | None,
    *,
    cancelled: bool = False,
) -> st.WorkflowStatus:
    ordered = [steps[s.name] for s in spec.steps]
    succeeded = sum(1 for s in ordered if s.phase == st.STEP_SUCCEEDED)
    failed = _first_failed(spec, steps)
    finished = all(s.phase in st.STEP_DONE for s in ordered)
    reason, message = st.REASON_RUNNING, None
    if cancelled:
        phase, reason, message = st.WORKFLOW_CANCELLED, st.REASON_WORKFLOW_CANCELLED, None
    elif not finished:
        phase = st.WORKFLOW_RUNNING
        if failed is not None:
            message = f"step {failed} failed; waiting for the running steps"
    elif failed is not None:
        phase, reason = st.WORKFLOW_FAILED, st.REASON_STEP_FAILED
        message = f"step {failed} failed: {steps[failed].message or steps[failed].reason}"
    else:
        phase, reason = st.WORKFLOW_SUCCEEDED, st.REASON_SUCCEEDED
    return st.WorkflowStatus(
        phase=phase,
        progress=f"{succeeded}/{len(ordered)}",
        succeeded=succeeded,
        total=len(ordered),
        failed_step=failed,
        reason=reason,
        message=message,
        observed_generation=generation,
        steps=ordered,
    )


def invalid(
    spec_steps: list[str], step: str | None, message: str, generation: int | None
) -> st.WorkflowStatus:
    """The status of a workflow refused as a whole (models or DAG rules): nothing starts."""
    return st.WorkflowStatus(
        phase=st.WORKFLOW_FAILED,
        progress=f"0/{len(spec_steps)}",
        succeeded=0,
        total=len(spec_steps),
        failed_step=step,
        reason=st.REASON_INVALID_WORKFLOW,
        message=message,
        observed_generation=generation,
        steps=[
            st.StepStatus(
                name=name,
                phase=st.STEP_FAILED if name == step else st.STEP_SKIPPED,
                reason=st.REASON_INVALID_WORKFLOW,
            )
            for name in spec_steps
        ],
    )


def refusal(raw: Mapping[str, Any], generation: int | None) -> st.WorkflowStatus | None:
    """The Failed status of a spec the models or the DAG rules refuse, or None when it is
    valid. The API refuses such a spec at submission; this is the kubectl door, where
    the apiserver checks only the schema."""
    names = [str(s.get("name", "")) for s in raw.get("steps") or () if isinstance(s, Mapping)]
    try:
        spec = parse_workflow_spec(dict(raw))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = err["loc"]
        index = loc[1] if len(loc) > 1 and loc[0] == "steps" else None
        step = names[index] if isinstance(index, int) and index < len(names) else None
        where = ".".join(str(p) for p in loc)
        label = f"step {step}: " if step else ""
        return invalid(names, step, f"{label}spec.{where}: {err['msg']}", generation)
    problems = workflow_problems(spec)
    if problems:
        return invalid(names, problems[0].step, problems[0].message, generation)
    return None
