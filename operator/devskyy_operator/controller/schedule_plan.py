"""What a schedule does now: a pure function of (spec, now, last run, the runs).

The decisions and their order are Kubernetes CronJob's (`syncCronJob` of the
cronjob controller v2): prune history; nothing more while suspended; the most
recent unmet scheduled time since the last run (or the creation), not older
than the starting deadline; a warning beyond 100 missed times, which still
starts only the most recent one; skip a time whose run exists already; Forbid
skips while a run is active, Replace deletes the active runs first. A run is
named `<schedule>-<unix minutes>`, so whoever creates it twice gets
AlreadyExists: restarts and replicas cannot start a run twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from devskyy_operator import keys
from devskyy_operator.crd.conditions import PHASE_SUCCEEDED, TERMINAL_PHASES
from devskyy_operator.crd.schedule import (
    FORBID,
    MAX_ACTIVE_LISTED,
    REPLACE,
    ScheduleSpec,
    ScheduleStatus,
)
from devskyy_operator.crd.task_view import parse_time
from devskyy_operator.cron import Cron

MAX_MISSED = 100  # CronJob's: beyond this many missed times, warn (clock skew?)
REASON_SUSPENDED = "Suspended"
EVENT_CREATED = "SuccessfulCreate"
EVENT_DELETED = "SuccessfulDelete"
EVENT_MISSED = "MissSchedule"
EVENT_TOO_MANY_MISSED = "TooManyMissedTimes"
EVENT_ALREADY_ACTIVE = "RunAlreadyActive"


@dataclass(frozen=True)
class Run:
    """A run (DevSkyyTask) of the schedule, as the cluster shows it."""

    name: str
    scheduled_at: datetime
    phase: str | None = None
    completed_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.phase in TERMINAL_PHASES


@dataclass(frozen=True)
class Event:
    reason: str
    message: str
    warning: bool = False


@dataclass(frozen=True)
class Plan:
    start: datetime | None = None  # create the run of this scheduled time
    delete_active: tuple[str, ...] = ()  # Replace: these go first
    prune: tuple[str, ...] = ()  # finished runs beyond the history limits
    events: tuple[Event, ...] = ()
    wake_at: datetime | None = None  # when to look again (None: on the next change)
    status: ScheduleStatus = field(default_factory=ScheduleStatus)


def minutes(moment: datetime) -> int:
    return int(moment.timestamp()) // 60


def run_name(schedule: str, scheduled_at: datetime) -> str:
    """CronJob's job name: the schedule's name and the scheduled time in unix minutes."""
    return f"{schedule}-{minutes(scheduled_at)}"


def scheduled_time_from_name(schedule: str, name: str) -> datetime | None:
    """Read the scheduled time back from a run's name (None if not one of ours)."""
    prefix = f"{schedule}-"
    digits = name[len(prefix) :] if name.startswith(prefix) else ""
    return datetime.fromtimestamp(int(digits) * 60, UTC) if digits.isdigit() else None


def count_missed(
    cron: Cron, zone: ZoneInfo, earliest: datetime, now: datetime, limit: int = MAX_MISSED + 1
) -> int:
    """Scheduled times in (earliest, now], counted up to `limit`."""
    count, moment = 0, earliest
    while count < limit:
        following = cron.next_after(moment, zone)
        if following is None or following > now:
            break
        count, moment = count + 1, following
    return count


def prune(runs: Sequence[Run], keep_succeeded: int, keep_failed: int) -> tuple[str, ...]:
    """Finished runs beyond the limits, oldest first (by scheduled time)."""
    doomed: list[str] = []
    for succeeded, keep in ((True, keep_succeeded), (False, keep_failed)):
        done = sorted(
            (r for r in runs if r.finished and (r.phase == PHASE_SUCCEEDED) == succeeded),
            key=lambda r: (r.scheduled_at, r.name),
        )
        doomed += [r.name for r in done[: max(len(done) - keep, 0)]]
    return tuple(doomed)


def plan_schedule(
    name: str,
    spec: ScheduleSpec,
    *,
    now: datetime,
    created_at: datetime,
    last_schedule_time: datetime | None,
    last_successful_time: datetime | None,
    runs: Sequence[Run],
    generation: int | None = None,
) -> Plan:
    cron, zone = spec.parsed()
    active = sorted(r.name for r in runs if not r.finished)
    successes = [r.completed_at or r.scheduled_at for r in runs if r.phase == PHASE_SUCCEEDED]
    if last_successful_time is not None:
        successes.append(last_successful_time)
    doomed = prune(runs, spec.successful_runs_history_limit, spec.failed_runs_history_limit)
    status: dict[str, object] = {
        "last_schedule_time": last_schedule_time,
        "last_successful_time": max(successes) if successes else None,
        "observed_generation": generation,
        "reason": None,
        "message": None,
    }
    if spec.suspend:
        return Plan(
            prune=doomed,
            status=_status(status, active, None, reason=REASON_SUSPENDED, message="suspend: true"),
        )
    following = cron.next_after(now, zone)
    events: list[Event] = []
    since = last_schedule_time or created_at
    scheduled = cron.latest_at_or_before(now, zone)
    if scheduled is None or scheduled <= since:
        return Plan(prune=doomed, wake_at=following, status=_status(status, active, following))
    deadline = spec.starting_deadline_seconds
    if deadline is not None and scheduled + timedelta(seconds=deadline) < now:
        events.append(Event(EVENT_MISSED, f"missed scheduled time {_show(scheduled)}", True))
        return Plan(
            prune=doomed, events=tuple(events), wake_at=following,
            status=_status(status, active, following),
        )  # fmt: skip
    earliest = since if deadline is None else max(since, now - timedelta(seconds=deadline))
    missed = count_missed(cron, zone, earliest, now)
    if missed > MAX_MISSED:
        events.append(
            Event(
                EVENT_TOO_MANY_MISSED,
                f"too many missed start times (more than {MAX_MISSED}); starting only the "
                "latest. Set or decrease startingDeadlineSeconds or check clock skew",
                True,
            )
        )
    new_name = run_name(name, scheduled)
    if any(r.name == new_name for r in runs) or last_schedule_time == scheduled:
        status["last_schedule_time"] = max(scheduled, last_schedule_time or scheduled)
        return Plan(
            prune=doomed, events=tuple(events), wake_at=following,
            status=_status(status, active, following),
        )  # fmt: skip
    if spec.concurrency_policy == FORBID and active:
        events.append(
            Event(EVENT_ALREADY_ACTIVE, f"not starting the {_show(scheduled)} run: "
                  f"concurrencyPolicy Forbid and {', '.join(active)} still running")
        )  # fmt: skip
        return Plan(
            prune=doomed, events=tuple(events), wake_at=following,
            status=_status(status, active, following),
        )  # fmt: skip
    replaced = tuple(active) if spec.concurrency_policy == REPLACE else ()
    still_active = [n for n in active if n not in replaced] + [new_name]
    status["last_schedule_time"] = scheduled
    return Plan(
        start=scheduled,
        delete_active=replaced,
        prune=doomed,
        events=tuple(events),
        wake_at=following,
        status=_status(status, sorted(still_active), following),
    )


def _status(
    fields: Mapping[str, object],
    active: Sequence[str],
    following: datetime | None,
    reason: str | None = None,
    message: str | None = None,
) -> ScheduleStatus:
    return ScheduleStatus.model_validate(
        {
            **fields,
            "active": list(active)[:MAX_ACTIVE_LISTED],  # activeCount has them all
            "active_count": len(active),
            "next_schedule_time": following,
            "reason": reason,
            "message": message,
        }
    )


def _show(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_run(schedule: Mapping[str, Any], scheduled_at: datetime) -> dict[str, Any]:
    """The DevSkyyTask of one run: the template's spec as written, owned by the schedule
    (deleting the schedule deletes its runs), labelled with it and its time."""
    meta = schedule.get("metadata") or {}
    name = str(meta.get("name"))
    return {
        "apiVersion": keys.API_VERSION,
        "kind": keys.KIND,
        "metadata": {
            "name": run_name(name, scheduled_at),
            "namespace": meta.get("namespace"),
            "labels": {keys.LABEL_SCHEDULE: name},
            "annotations": {keys.ANNOTATION_SCHEDULED_AT: _show(scheduled_at)},
            "ownerReferences": [
                {
                    "apiVersion": keys.API_VERSION,
                    "kind": keys.SCHEDULE_KIND,
                    "name": name,
                    "uid": meta.get("uid"),
                    "controller": True,
                }
            ],
        },
        "spec": dict(((schedule.get("spec") or {}).get("template") or {}).get("spec") or {}),
    }


def run_from_body(schedule: str, body: Mapping[str, Any]) -> Run | None:
    """A task body as a Run of `schedule`; None when it carries no scheduled time."""
    meta = body.get("metadata") or {}
    name = str(meta.get("name") or "")
    status = body.get("status") or {}
    scheduled = parse_time((meta.get("annotations") or {}).get(keys.ANNOTATION_SCHEDULED_AT))
    scheduled = scheduled or scheduled_time_from_name(schedule, name)
    if scheduled is None:
        return None
    return Run(name, scheduled, status.get("phase"), parse_time(status.get("completedAt")))
