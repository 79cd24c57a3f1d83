"""Workflows, pure: DAG validation, the output reference language, the step decision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from devskyy_operator.controller.workflows import observed_task, step_task_body
from devskyy_operator.crd.conditions import PHASE_SUCCEEDED
from devskyy_operator.workflow import status as st
from devskyy_operator.workflow.dag import workflow_problems
from devskyy_operator.workflow.decide import ObservedTask, WorkflowPlan, decide, refusal
from devskyy_operator.workflow.spec import WorkflowSpec, parse_workflow_spec
from devskyy_operator.workflow.templating import TemplateError, outputs_of, references, render

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]


def diag(name: str, *deps: str, **fields: Any) -> dict[str, Any]:
    step: dict[str, Any] = {
        "name": name,
        "task": {"type": "diagnostic", "input": {"user_id": "ada", **fields}},
    }
    if deps:
        step["dependsOn"] = list(deps)
    return step


def spec(*steps: dict[str, Any], **extra: Any) -> WorkflowSpec:
    return parse_workflow_spec({"steps": list(steps), **extra})


def messages(workflow: WorkflowSpec) -> list[str]:
    return [p.message for p in workflow_problems(workflow)]


# ----------------------------------------------------------------- DAG validation


def test_a_chain_in_dependency_order_is_valid() -> None:
    assert workflow_problems(spec(diag("a"), diag("b", "a"), diag("c", "a", "b"))) == []


def test_a_cycle_is_named_with_its_path() -> None:
    problems = workflow_problems(spec(diag("a", "c"), diag("b", "a"), diag("c", "b")))
    assert problems[0].step == "a"
    assert problems[0].field == "steps.0.dependsOn"
    assert problems[0].message == "step a depends on c, a cycle: a -> c -> b -> a"


def test_an_unknown_name_is_refused_naming_both() -> None:
    assert messages(spec(diag("a"), diag("b", "nope"))) == [
        "step b depends on nope, which is no step of this workflow"
    ]


def test_self_dependency_and_later_listing_are_refused() -> None:
    assert messages(spec(diag("a", "a"))) == ["step a depends on itself"]
    assert messages(spec(diag("a", "b"), diag("b"))) == [
        "step a depends on b, which must be listed before it"
    ]


def test_a_step_listed_twice_is_refused() -> None:
    assert messages(spec(diag("a"), diag("a"))) == ["step a is listed twice"]


def test_references_must_name_a_step_depended_on() -> None:
    workflow = spec(
        diag("a", result={"u": "x"}),
        diag("b", result={"v": "{{ steps.a.outputs.u }}"}),
    )
    assert messages(workflow) == [
        "step b: {{ steps.a.outputs.u }} names step a, which step b does not depend on "
        "(add it to dependsOn)"
    ]
    through = spec(diag("a"), diag("b", "a"), diag("c", "b", result={"v": "{{steps.a.outputs.u}}"}))
    assert workflow_problems(through) == []


def test_malformed_reference_is_refused_at_submission() -> None:
    workflow = spec(diag("a"), diag("b", "a", result={"v": "{{ steps.a.output.u }}"}))
    assert messages(workflow) == [
        "step b: '{{ steps.a.output.u }}' is not a reference; write "
        "{{ steps.<step>.outputs.<field> }}"
    ]


def test_step_input_is_checked_except_the_referenced_fields() -> None:
    good = {
        "name": "mail",
        "task": {
            "type": "marketing_campaign",
            "input": {
                "user_id": "ada", "campaign_id": "c", "campaign_type": "email",
                "recipients": "{{ steps.a.outputs.addresses }}",
            },
        },
    }  # fmt: skip
    parse_workflow_spec({"steps": [diag("a"), {**good, "dependsOn": ["a"]}]})
    bad = {**good, "task": {**good["task"], "input": {**good["task"]["input"], "campaign_id": 5}}}
    with pytest.raises(ValidationError, match=r"input\.campaign_id: Input should be a valid str"):
        parse_workflow_spec({"steps": [bad]})


def test_step_names_must_fit_the_task_name() -> None:
    with pytest.raises(ValidationError, match=r"steps\.0\.name"):
        spec(diag("a" * 21))
    with pytest.raises(ValidationError, match=r"steps\.0\.name"):
        spec(diag("Upper"))


# ----------------------------------------------------------------- templating

OUTPUTS = {
    "asset": {"model_url": "https://cdn.example/m.glb", "media": [5, 6], "count": 2, "ok": True},
}


def test_a_whole_value_reference_keeps_its_type() -> None:
    assert render("{{ steps.asset.outputs.media }}", OUTPUTS) == [5, 6]
    assert render({"n": "{{steps.asset.outputs.count}}"}, OUTPUTS) == {"n": 2}
    assert render(["{{ steps.asset.outputs.media.1 }}"], OUTPUTS) == [6]


def test_an_embedded_reference_is_written_as_text() -> None:
    text = "Model {{ steps.asset.outputs.model_url }} ({{ steps.asset.outputs.count }}, "
    text += "{{ steps.asset.outputs.ok }})"
    assert render(text, OUTPUTS) == "Model https://cdn.example/m.glb (2, true)"


def test_a_substituted_value_is_not_read_again() -> None:
    outputs = {"a": {"x": "{{ steps.a.outputs.y }}", "y": "no"}}
    assert render("<{{ steps.a.outputs.x }}>", outputs) == "<{{ steps.a.outputs.y }}>"


def test_other_braces_and_keys_are_left_alone() -> None:
    value = {"{{ steps.asset.outputs.count }}": "Hi {{name}}, {first}"}
    assert render(value, OUTPUTS) == value


def test_unknown_field_names_what_there_is() -> None:
    with pytest.raises(TemplateError, match=r"has no field 'modelurl' \(it has: count, media"):
        render("{{ steps.asset.outputs.modelurl }}", OUTPUTS)


def test_unknown_step_and_bad_index_are_errors() -> None:
    with pytest.raises(TemplateError, match="step 'seo' has no outputs"):
        render("{{ steps.seo.outputs.sent_count }}", OUTPUTS)
    with pytest.raises(TemplateError, match="is a list of 2; '7' is no index"):
        render("{{ steps.asset.outputs.media.7 }}", OUTPUTS)
    with pytest.raises(TemplateError, match="is a int, not an object"):
        render("{{ steps.asset.outputs.count.x }}", OUTPUTS)


def test_a_list_cannot_be_written_into_text() -> None:
    with pytest.raises(TemplateError, match="names a list; only a string, number or boolean"):
        render("ids: {{ steps.asset.outputs.media }}", OUTPUTS)


def test_references_are_found_and_malformed_ones_refused() -> None:
    found = references({"a": ["x {{ steps.s1.outputs.f.0 }}"], "b": 3})
    assert [(r.step, r.path) for r in found] == [("s1", ("f", "0"))]
    with pytest.raises(TemplateError):
        references("{{ steps.s1 }}")


def test_outputs_are_the_result_object_of_the_seed_output() -> None:
    output = {"status": "success", "completed_at": "t", "task_id": "x", "result": {"a": 1}}
    assert outputs_of(output) == {"a": 1}
    assert outputs_of({"status": "success", "completed_at": "t", "n": 2}) == {"n": 2}
    assert outputs_of(None) == {}


# ----------------------------------------------------------------- the step decision

CHAIN = (diag("a", result={"u": "x"}), diag("b", "a", result={"v": "{{ steps.a.outputs.u }}"}),
         diag("c", "b"))  # fmt: skip


def run(
    workflow: WorkflowSpec, tasks: dict[str, ObservedTask], before: WorkflowPlan | None = None
) -> WorkflowPlan:
    previous = {s.name: s for s in before.status.steps} if before else {}
    return decide("wf", workflow, tasks, previous)


def phases(plan: WorkflowPlan) -> dict[str, str]:
    return {s.name: s.phase for s in plan.status.steps}


def done(result: dict[str, Any] | None = None) -> ObservedTask:
    return ObservedTask(PHASE_SUCCEEDED, result={"status": "success", "result": result or {}})


def test_only_steps_without_dependencies_start_first() -> None:
    plan = run(spec(*CHAIN, diag("d")), {})
    assert [s.task_name for s in plan.create] == ["wf-a", "wf-d"]
    assert phases(plan) == {"a": "Running", "b": "Pending", "c": "Pending", "d": "Running"}
    assert (plan.status.phase, plan.status.progress) == ("Running", "0/4")


def test_a_step_starts_with_the_outputs_substituted_once_its_dependency_succeeded() -> None:
    workflow = spec(*CHAIN)
    first = run(workflow, {})
    second = run(workflow, {"a": done({"u": "https://x"})}, first)
    assert [(s.task_name, s.spec["input"]["result"]) for s in second.create] == [
        ("wf-b", {"v": "https://x"})
    ]
    assert second.status.steps[0].outputs == {"u": "https://x"}
    assert second.status.progress == "1/3"


def test_deciding_again_on_the_same_facts_creates_nothing_new() -> None:
    workflow = spec(*CHAIN)
    first = run(workflow, {})
    again = run(workflow, {"a": ObservedTask(None)}, first)
    assert again.create == []
    assert again.status == first.status


def test_a_failed_middle_step_skips_its_dependants_and_fails_the_workflow() -> None:
    workflow = spec(*CHAIN)
    failed = ObservedTask("Failed", reason="PermanentFailure", message="exit code 42")
    plan = run(workflow, {"a": done(), "b": failed}, run(workflow, {}))
    assert plan.create == []
    assert phases(plan) == {"a": "Succeeded", "b": "Failed", "c": "Skipped"}
    assert plan.status.steps[2].reason == st.REASON_DEPENDENCY_FAILED
    assert plan.status.phase == "Failed"
    assert plan.status.failed_step == "b"
    assert plan.status.message == "step b failed: task wf-b failed: exit code 42"
    assert plan.status.progress == "1/3"


def test_stop_starts_no_independent_step_but_lets_running_ones_finish() -> None:
    workflow = spec(diag("a"), diag("b"), diag("c", "b"), diag("late", "a"))
    failed = ObservedTask("Failed", reason="PermanentFailure")
    plan = run(workflow, {"a": done(), "b": ObservedTask("Running")}, run(workflow, {}))
    assert [s.step for s in plan.create] == ["late"]
    workflow = spec(diag("a"), diag("b"), diag("c", "b"), diag("late", "a"), diag("x", "a"))
    plan = run(workflow, {"a": ObservedTask("Running"), "b": failed}, run(workflow, {}))
    assert plan.cancel == []  # a keeps running
    assert plan.status.phase == "Running"
    plan = run(workflow, {"a": done(), "b": failed}, plan)
    assert plan.create == []
    assert phases(plan) == {
        "a": "Succeeded", "b": "Failed", "c": "Skipped", "late": "Skipped", "x": "Skipped",
    }  # fmt: skip
    assert plan.status.steps[3].reason == st.REASON_WORKFLOW_STOPPED
    assert (plan.status.phase, plan.status.failed_step) == ("Failed", "b")


def test_continue_runs_the_independent_branches() -> None:
    workflow = spec(
        diag("a"), diag("b"), diag("c", "b"), diag("late", "a"), failurePolicy="Continue"
    )
    failed = ObservedTask("Failed", reason="PermanentFailure")
    plan = run(workflow, {"a": done(), "b": failed}, run(workflow, {}))
    assert [s.step for s in plan.create] == ["late"]
    assert phases(plan)["c"] == "Skipped"
    assert plan.status.phase == "Running"
    plan = run(workflow, {"a": done(), "b": failed, "late": done()}, plan)
    assert (plan.status.phase, plan.status.failed_step, plan.status.progress) == (
        "Failed", "b", "2/4",
    )  # fmt: skip


def test_cancel_deletes_running_steps_and_skips_the_rest() -> None:
    workflow = spec(*CHAIN)
    started = run(workflow, {})
    cancelled = spec(*CHAIN, cancel=True)
    plan = run(cancelled, {"a": ObservedTask("Running")}, started)
    assert plan.cancel == ["wf-a"]
    assert plan.create == []
    assert phases(plan) == {"a": "Cancelled", "b": "Skipped", "c": "Skipped"}
    assert plan.status.phase == "Cancelled"
    assert plan.status.failed_step is None


def test_a_cancel_whose_status_write_was_lost_is_still_a_cancel() -> None:
    started = run(spec(*CHAIN), {})
    plan = run(spec(*CHAIN, cancel=True), {}, started)  # a's task already deleted
    assert plan.cancel == []
    assert plan.status.steps[0].reason == st.REASON_WORKFLOW_CANCELLED
    assert (plan.status.phase, plan.status.failed_step) == ("Cancelled", None)


def test_a_step_task_deleted_by_hand_counts_as_a_failure() -> None:
    workflow = spec(*CHAIN)
    plan = run(workflow, {}, run(workflow, {}))  # a was created, now gone
    assert phases(plan) == {"a": "Cancelled", "b": "Skipped", "c": "Skipped"}
    assert plan.status.steps[0].reason == st.REASON_TASK_DELETED
    assert (plan.status.phase, plan.status.failed_step) == ("Failed", "a")


def test_finished_steps_keep_their_status_once_their_task_is_gone() -> None:
    workflow = spec(*CHAIN)
    plan = run(workflow, {"a": done({"u": "y"})}, run(workflow, {}))
    later = run(workflow, {"b": ObservedTask("Running")}, plan)  # a's task deleted by retention
    assert phases(later) == {"a": "Succeeded", "b": "Running", "c": "Pending"}
    assert later.status.steps[0].outputs == {"u": "y"}


def test_a_task_of_the_name_not_owned_is_waited_for() -> None:
    plan = run(spec(diag("a")), {"a": ObservedTask("Succeeded", owned=False)})
    assert plan.create == []
    assert plan.status.steps[0].reason == st.REASON_TASK_NAME_TAKEN
    assert plan.status.phase == "Running"


def test_an_unknown_output_fails_the_step_without_creating_it() -> None:
    workflow = spec(diag("a"), diag("b", "a", result={"v": "{{ steps.a.outputs.nope }}"}))
    plan = run(workflow, {"a": done({"u": 1})}, run(workflow, {}))
    assert plan.create == []
    assert plan.status.steps[1].phase == "Failed"
    assert plan.status.steps[1].reason == st.REASON_INVALID_STEP_INPUT
    assert plan.status.steps[1].message == (
        "step b: {{ steps.a.outputs.nope }}: steps.a.outputs has no field 'nope' (it has: u)"
    )
    assert (plan.status.phase, plan.status.failed_step) == ("Failed", "b")


def test_a_substituted_input_must_still_match_the_type() -> None:
    workflow = spec(diag("a"), diag("b", "a", exit_code="{{ steps.a.outputs.code }}"))
    plan = run(workflow, {"a": done({"code": "three"})}, run(workflow, {}))
    assert plan.create == []
    assert plan.status.steps[1].reason == st.REASON_INVALID_STEP_INPUT
    assert "input.exit_code: Input should be a valid integer" in (
        plan.status.steps[1].message or ""
    )
    ok = run(workflow, {"a": done({"code": 3})}, run(workflow, {}))
    assert ok.create[0].spec["input"]["exit_code"] == 3


def test_all_succeeded_is_succeeded() -> None:
    workflow = spec(*CHAIN)
    plan = run(workflow, {"a": done(), "b": done(), "c": done()}, run(workflow, {}))
    assert (plan.status.phase, plan.status.progress, plan.status.failed_step) == (
        "Succeeded", "3/3", None,
    )  # fmt: skip


def test_the_shipped_example_is_a_valid_workflow() -> None:
    example = Path(__file__).resolve().parents[2] / "examples/workflows/launch-3d-product.yaml"
    body = yaml.safe_load(example.read_text())
    assert body["kind"] == "DevSkyyWorkflow"
    workflow = parse_workflow_spec(body["spec"])
    assert workflow_problems(workflow) == []
    assert [s.name for s in workflow.steps] == ["asset", "seo", "announce"]


# ----------------------------------------------------------------- the kubectl door


def test_a_kubectl_cycle_is_refused_naming_the_step() -> None:
    status = refusal({"steps": [diag("a", "b"), diag("b", "a")]}, 2)
    assert status is not None
    assert (status.phase, status.reason, status.failed_step) == ("Failed", "InvalidWorkflow", "a")
    assert status.message == "step a depends on b, a cycle: a -> b -> a"
    assert [(s.name, s.phase) for s in status.steps] == [("a", "Failed"), ("b", "Skipped")]
    assert status.observed_generation == 2


def test_a_model_error_names_the_step_and_field() -> None:
    status = refusal({"steps": [diag("a"), diag("b", "a", exit_code="x")]}, 1)
    assert status is not None
    assert status.failed_step == "b"
    assert (status.message or "").startswith("step b: spec.steps.1.task: ")
    assert "input.exit_code: Input should be a valid integer" in (status.message or "")


def test_a_valid_spec_is_not_refused() -> None:
    assert refusal({"steps": list(CHAIN)}, 1) is None


def test_the_step_task_is_named_labelled_and_owned() -> None:
    workflow = {"metadata": {"name": "wf", "namespace": "ns", "uid": "u-1"}}
    start = run(spec(*CHAIN), {}).create[0]
    body = step_task_body(workflow, start)
    assert body["metadata"]["name"] == "wf-a"
    assert body["metadata"]["labels"] == {
        "devskyy.io/workflow": "wf", "devskyy.io/workflow-step": "a",
    }  # fmt: skip
    (owner,) = body["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("DevSkyyWorkflow", "u-1", True)
    assert body["spec"] == start.spec
    theirs = observed_task({"metadata": {"ownerReferences": [{"uid": "other"}]}}, "u-1")
    assert not theirs.owned
    ours = observed_task(
        {"metadata": {"ownerReferences": [{"uid": "u-1"}]}, "status": {"phase": "Running"}}, "u-1"
    )
    assert (ours.owned, ours.phase) == (True, "Running")


def test_a_step_may_override_retries_and_timeout_as_a_task_can() -> None:
    own = diag("a")
    own["task"] |= {"retries": 5, "timeoutSeconds": 90}
    (start,) = run(spec(own), {}).create
    assert (start.spec["retries"], start.spec["timeoutSeconds"]) == (5, 90)
    (default,) = run(spec(diag("a")), {}).create
    assert "retries" not in default.spec  # the type default applies, as for a task
    assert "timeoutSeconds" not in default.spec
