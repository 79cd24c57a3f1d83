"""What spans the steps of a workflow: names, dependsOn, output references. Pure.

The rule: a step depends only on steps listed before it, which makes every
workflow a DAG (no cycle can be written). The API refuses a workflow breaking it
and the controller fails one created with kubectl (the CRD cannot say which step,
see workflow/definition.py), both with these messages: a cycle named as one, an
unknown name as unknown, the step at fault first.
A reference `{{ steps.X.outputs... }}` must name a step the referring step
depends on (directly or through others), so X has finished when it starts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from devskyy_operator.workflow.spec import WorkflowSpec, WorkflowStep
from devskyy_operator.workflow.templating import TemplateError, references


@dataclass(frozen=True)
class Problem:
    step: str  # the step at fault
    field: str  # e.g. "steps.2.dependsOn"
    message: str  # names the step


def _cycle_through(start: str, graph: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A dependency path from `start` back to itself, if there is one."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for dep in graph.get(node, ()):
            if dep == start:
                return [*path, start]
            if dep not in seen:
                seen.add(dep)
                stack.append((dep, [*path, dep]))
    return None


def ancestors(spec: WorkflowSpec) -> dict[str, set[str]]:
    """Per step, every step it depends on directly or through others (valid specs)."""
    found: dict[str, set[str]] = {}
    for step in spec.steps:
        mine: set[str] = set()
        for dep in step.depends_on:
            mine |= {dep, *found.get(dep, set())}
        found[step.name] = mine
    return found


def dependency_problems(steps: Sequence[WorkflowStep]) -> list[Problem]:
    names = [s.name for s in steps]
    graph = {s.name: list(s.depends_on) for s in steps}
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, step in enumerate(steps):
        if step.name in seen:
            problems.append(
                Problem(step.name, f"steps.{index}.name", f"step {step.name} is listed twice")
            )
        seen.add(step.name)
        for dep in step.depends_on:
            where = f"steps.{index}.dependsOn"
            if dep not in names:
                message = f"step {step.name} depends on {dep}, which is no step of this workflow"
            elif dep == step.name:
                message = f"step {step.name} depends on itself"
            elif names.index(dep) > index:
                cycle = _cycle_through(step.name, graph)
                message = (
                    f"step {step.name} depends on {dep}, a cycle: {' -> '.join(cycle)}"
                    if cycle
                    else f"step {step.name} depends on {dep}, which must be listed before it"
                )
            else:
                continue
            problems.append(Problem(step.name, where, message))
    return problems


def reference_problems(spec: WorkflowSpec) -> list[Problem]:
    upstream = ancestors(spec)
    problems: list[Problem] = []
    for index, step in enumerate(spec.steps):
        where = f"steps.{index}.task.input"
        try:
            refs = references(step.task.input)
        except TemplateError as exc:
            problems.append(Problem(step.name, where, f"step {step.name}: {exc}"))
            continue
        for ref in refs:
            if ref.step not in upstream[step.name]:
                problems.append(
                    Problem(
                        step.name,
                        where,
                        f"step {step.name}: {ref.text} names step {ref.step}, which step "
                        f"{step.name} does not depend on (add it to dependsOn)",
                    )
                )
    return problems


def workflow_problems(spec: WorkflowSpec) -> list[Problem]:
    """Everything wrong across the steps, each naming its step; empty when valid."""
    problems = dependency_problems(spec.steps)
    return problems or reference_problems(spec)
