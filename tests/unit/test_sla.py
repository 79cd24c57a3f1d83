"""Service-level objectives, pure: settings, deadlines, verdicts, the SLABreached status."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta
from typing import Any, cast

import pytest
from pydantic import ValidationError

from devskyy_agents.models import TASK_DEFAULTS, TaskType
from devskyy_operator.admission import sla
from devskyy_operator.controller import decide as d
from devskyy_operator.controller import plan as p
from devskyy_operator.controller.reconciler import TaskReconciler
from devskyy_operator.controller.sla_timer import SlaTimer
from devskyy_operator.controller.statuses import admitted_status, sla_missed_status
from devskyy_operator.crd.conditions import get_condition
from devskyy_operator.crd.task_view import TaskView, task_view_from_body
from devskyy_operator.settings import Settings, SlaObjective
from tests.unit.factories import T0, body, job_body, job_condition, pod_body

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

SETTINGS = Settings(sla={"diagnostic": {"completion_seconds": 30, "queue_wait_seconds": 5}})
OBJECTIVE = SETTINGS.sla_for("diagnostic")


def task(
    phase: str | None = None, annotations: dict[str, str] | None = None, **status: Any
) -> TaskView:
    raw = body(annotations=annotations)  # created (queued) at T0
    raw["status"] = {"phase": phase, **status} if phase else dict(status)
    raw["metadata"]["resourceVersion"] = "7"
    return task_view_from_body(raw)


def at(seconds: float) -> Any:
    return T0 + timedelta(seconds=seconds)


def test_defaults_hold_every_type_and_follow_the_seed_timeouts() -> None:
    objectives = Settings().sla
    assert set(objectives) == {t.value for t in TaskType}
    for kind, objective in objectives.items():
        assert objective.target == 0.95
        assert objective.queue_wait_seconds < objective.completion_seconds
        if kind != "ml_prediction":
            timeout = TASK_DEFAULTS[TaskType(kind)].timeout_seconds
            assert objective.completion_seconds == timeout + objective.queue_wait_seconds
    assert objectives["ml_prediction"] == SlaObjective(completion_seconds=30, queue_wait_seconds=10)


def test_one_field_from_the_environment_keeps_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSKYY_SLA__DIAGNOSTIC__COMPLETION_SECONDS", "3")
    monkeypatch.setenv("DEVSKYY_SLA__DIAGNOSTIC__QUEUE_WAIT_SECONDS", "2")
    settings = Settings()
    assert settings.sla_for("diagnostic") == SlaObjective(
        completion_seconds=3, queue_wait_seconds=2
    )
    assert settings.sla_for("generate_3d") == SlaObjective(
        completion_seconds=720, queue_wait_seconds=120
    )


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"nightly": {"completion_seconds": 1}}, "unknown task type(s) nightly"),
        ({"diagnostic": {"queue_wait_seconds": 400}}, "queue_wait_seconds must not exceed"),
        ({"diagnostic": {"target": 1}}, "target"),
        ({"diagnostic": {"completion_secs": 1}}, "completion_secs"),
    ],
)
def test_bad_objectives_are_refused_by_name(given: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(named)):
        Settings(sla=given)


def test_a_waiting_task_misses_its_queue_wait_when_the_bound_passes() -> None:
    waiting = task("Queued")
    assert sla.next_deadline(waiting, OBJECTIVE) == at(5)
    assert sla.live_verdict(waiting, at(5), OBJECTIVE).empty  # at the bound: met
    verdict = sla.live_verdict(waiting, at(6), OBJECTIVE)
    assert verdict.judged == ("queue_wait",)
    assert verdict.missed == (sla.Miss("queue_wait", 6.0, 5.0, ended=False),)
    # both bounds passed while it waits: both are missed, each once
    both = sla.live_verdict(waiting, at(31), OBJECTIVE)
    assert [m.objective for m in both.missed] == ["queue_wait", "completion"]


def test_deadlines_move_on_as_objectives_are_decided() -> None:
    admitted = task("Running", admittedAt="2026-01-05T12:00:02Z")
    assert sla.next_deadline(admitted, OBJECTIVE) == at(30)  # the wait was decided
    flagged = task("Queued", slaBreached=["queue_wait"])
    assert sla.next_deadline(flagged, OBJECTIVE) == at(30)
    assert (
        sla.next_deadline(task("Running", slaBreached=["queue_wait", "completion"]), OBJECTIVE)
        is None
    )
    assert sla.next_deadline(task("Succeeded"), OBJECTIVE) is None
    assert sla.live_verdict(task("Failed"), at(100), OBJECTIVE).empty


def test_the_clock_starts_at_the_enqueue_or_a_later_schedule() -> None:
    enqueued = task("Queued", annotations={"devskyy.io/enqueued-at": "2026-01-05T12:00:10Z"})
    assert sla.next_deadline(enqueued, OBJECTIVE) == at(15)
    later = at(600)
    assert sla.sla_start(T0, later) == later
    assert sla.sla_start(T0, at(-60)) == T0  # a past schedule_at means now


def test_admission_decides_the_queue_wait_once() -> None:
    met = sla.admission_verdict(task("Queued"), at(4), OBJECTIVE)
    assert (met.judged, met.missed) == (("queue_wait",), ())
    late = sla.admission_verdict(task("Queued"), at(9), OBJECTIVE)
    assert late.missed == (sla.Miss("queue_wait", 9.0, 5.0, ended=True),)
    counted = sla.admission_verdict(task("Queued", slaBreached=["queue_wait"]), at(9), OBJECTIVE)
    assert counted.empty
    status = admitted_status(task("Queued"), at(9), late).patch()
    assert status["slaBreached"] == ["queue_wait"]
    breached = get_condition(status["conditions"], "SLABreached")
    assert breached is not None
    assert (breached["status"], breached["reason"]) == ("True", "QueueWaitExceeded")
    assert breached["message"] == "queue wait 9.0s, objective 5s"
    assert get_condition(status["conditions"], "Admitted") is not None
    assert "slaBreached" not in admitted_status(task("Queued"), at(4), met).patch()


def test_a_miss_while_running_keeps_the_earlier_one_and_its_reason() -> None:
    earlier = {"type": "SLABreached", "status": "True", "reason": "QueueWaitExceeded",
               "message": "queue wait 9.0s, objective 5s",
               "lastTransitionTime": "2026-01-05T12:00:09Z", "observedGeneration": 1}  # fmt: skip
    running = task("Running", admittedAt="2026-01-05T12:00:09Z", slaBreached=["queue_wait"],
                   conditions=[earlier])  # fmt: skip
    verdict = sla.live_verdict(running, at(31), OBJECTIVE)
    assert verdict.missed == (sla.Miss("completion", 31.0, 30.0, ended=False),)
    patch = sla_missed_status(running, verdict, at(31)).patch()
    assert set(patch) == {"conditions", "slaBreached"}  # nothing else changes
    assert patch["slaBreached"] == ["queue_wait", "completion"]
    [breached] = patch["conditions"]
    assert breached["reason"] == "QueueWaitExceeded"
    assert breached["lastTransitionTime"] == "2026-01-05T12:00:09Z"  # still True since then
    assert breached["message"] == (
        "queue wait 9.0s, objective 5s; completion 31.0s and counting, objective 30s"
    )


def completed(ended: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    status = {
        "conditions": [job_condition("Complete", "CompletionsReached", "done", ended)],
        "startTime": "2026-01-05T12:00:01Z",
        "completionTime": ended,
        "succeeded": 1,
    }
    output = {"task_id": "task-1", "status": "success", "result": {}}
    pod = pod_body("a", "2026-01-05T12:00:01Z", phase="Succeeded", exit_code=0,
                   message=json.dumps(output))  # fmt: skip
    return job_body(status), [pod]


def test_the_end_decides_the_completion_in_the_same_status_write() -> None:
    job, pods = completed("2026-01-05T12:00:40Z")  # 40 s after the enqueue, objective 30 s
    plan = d.decide(task("Running", jobName="task-1", attempts=1), job, pods, at(41), SETTINGS)
    assert plan.status is not None
    patch = plan.status.patch()
    assert (patch["phase"], patch["slaBreached"]) == ("Succeeded", ["completion"])
    breached = get_condition(patch["conditions"], "SLABreached")
    assert breached is not None
    assert (breached["reason"], breached["message"]) == (
        "CompletionExceeded",
        "completion 40.0s, objective 30s",
    )
    [judged] = [a for a in plan.after if isinstance(a, p.SlaJudged)]
    assert judged.verdict.missed == (sla.Miss("completion", 40.0, 30.0, ended=True),)
    # in time: judged (counted in the total), no condition
    job, pods = completed("2026-01-05T12:00:20Z")
    plan = d.decide(task("Running", jobName="task-1", attempts=1), job, pods, at(21), SETTINGS)
    assert plan.status is not None
    assert get_condition(plan.status.patch()["conditions"], "SLABreached") is None
    [judged] = [a for a in plan.after if isinstance(a, p.SlaJudged)]
    assert judged.verdict == sla.Verdict(("completion",), ())


def test_a_completion_counted_while_running_is_not_counted_again() -> None:
    job, pods = completed("2026-01-05T12:00:40Z")
    flagged = task("Running", jobName="task-1", attempts=1, slaBreached=["completion"])
    plan = d.decide(flagged, job, pods, at(41), SETTINGS)
    assert not [a for a in plan.after if isinstance(a, p.SlaJudged)]
    assert plan.status is not None
    assert "slaBreached" not in plan.status.patch()  # kept as it is


def test_compliance_counts_each_objective_of_each_task() -> None:
    def ended(admitted: float | None, done: float) -> sla.Verdict:
        return sla.ended_task_verdict(
            queued_at=T0, scheduled_for=None, objective=OBJECTIVE, completed_at=at(done),
            admitted_at=None if admitted is None else at(admitted),
        )  # fmt: skip

    report = sla.compliance("diagnostic", OBJECTIVE, [ended(1, 10), ended(6, 20), ended(2, 45),
                                                       ended(None, 1)])  # fmt: skip
    assert report.judged == {"queue_wait": 3, "completion": 4}
    assert report.met == {"queue_wait": 2, "completion": 3}
    assert report.ratio("completion") == 0.75
    assert report.compliant("completion") is False  # 0.75 < 0.95
    assert sla.compliance("diagnostic", OBJECTIVE, []).ratio("queue_wait") is None


@pytest.mark.timeout(10)
async def test_the_sla_timer_stops_at_once_while_it_sleeps_until_a_far_deadline() -> None:
    """Shutdown waits for the timer: a stop must not wait out its idle hour."""
    timer = SlaTimer(cast(TaskReconciler, None), {}, lambda _: True)
    stop = asyncio.Event()
    running = asyncio.ensure_future(timer.run(stop))
    await asyncio.sleep(0)  # it is asleep now (nothing to judge: the idle pause)
    assert not running.done()
    stop.set()
    await asyncio.wait_for(running, timeout=2)
