"""DevSkyySchedule on the real control plane: runs at their time, Forbid, suspend,
restarts, history, bad schedules.

Real time, no clock offsets: a `* * * * *` schedule runs at the next minute
boundary (the tests await it, at most a minute). Where a test needs a run at
once it does what an outage does: it sets status.lastScheduleTime minutes back,
so the operator finds a missed time and starts it as CronJob would.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator import keys
from devskyy_operator.controller.schedule_plan import (
    EVENT_ALREADY_ACTIVE,
    EVENT_CREATED,
    run_name,
)
from devskyy_operator.controller.schedules import ScheduleController
from devskyy_operator.crd.task_view import parse_time
from devskyy_operator.kube.client import KubeClient
from devskyy_operator.kube.errors import Invalid
from devskyy_operator.settings import Settings
from tests.support.cluster import kubectl
from tests.support.operator_process import OperatorProcess, running_operator, start_operator
from tests.support.schedules import (
    get_schedule,
    patch_spec,
    runs_of,
    schedule_body,
    schedule_events,
    schedules_path,
    set_last_schedule_time,
)
from tests.support.tasks import create_task, diagnostic, tasks_path, wait_phase
from tests.support.waiting import eventually

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "schedules").glob("*.yaml"))
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(240),
    pytest.mark.usefixtures("devskyy_crd", "schedule_crd"),
]


@pytest.fixture
def operator(
    cluster: LocalCluster, namespace: str, redis_url: str, tmp_path: Path
) -> Iterator[OperatorProcess]:
    with running_operator(cluster, namespace, redis_url, tmp_path) as process:
        yield process


async def create_schedule(kube: KubeClient, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    return await kube.create(schedules_path(namespace), body)


async def wait_status(
    kube: KubeClient, namespace: str, name: str, check: Any, timeout: float = 90.0, what: str = ""
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        schedule = await get_schedule(kube, namespace, name)
        return schedule if check(schedule.get("status") or {}) else None

    return await eventually(probe, timeout=timeout, what=what or f"schedule {name} status")


def table_rows(table: str) -> list[dict[str, str]]:
    """`kubectl get` output as rows keyed by column (headers may hold a space)."""
    header, *lines = table.splitlines()
    starts = [m.start() for m in re.finditer(r"(?<!\S)\S+(?: \S+)*", header)]
    names = [header[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
    return [
        {n: line[a:b].strip() for n, a, b in zip(names, starts, [*starts[1:], None], strict=True)}
        for line in lines
    ]


def minute_floor(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


@pytest.mark.usefixtures("operator")
async def test_a_run_starts_at_its_time_and_history_is_pruned(
    kube: KubeClient, namespace: str, cluster: LocalCluster
) -> None:
    body = schedule_body("every-minute", "* * * * *", {"result": {"n": 1}},
                         successfulRunsHistoryLimit=1)  # fmt: skip
    created = await create_schedule(kube, namespace, body)
    uid = created["metadata"]["uid"]
    pending = await wait_status(
        kube, namespace, "every-minute", lambda s: s.get("nextScheduleTime"), timeout=30
    )
    due = parse_time(pending["status"]["nextScheduleTime"])
    born = parse_time(created["metadata"]["creationTimestamp"])
    assert due is not None
    assert born is not None
    assert due == minute_floor(due)
    assert born < due <= born + timedelta(minutes=1)

    ran = await wait_status(
        kube, namespace, "every-minute", lambda s: s.get("lastScheduleTime"), timeout=90
    )
    scheduled = parse_time(ran["status"]["lastScheduleTime"])
    assert scheduled == due
    name = run_name("every-minute", due)
    run = await wait_phase(kube, namespace, name, "Succeeded", "Failed")
    assert run["status"]["phase"] == "Succeeded", run["status"]
    assert run["status"]["result"]["result"] == {"n": 1}
    meta = run["metadata"]
    assert meta["labels"][keys.LABEL_SCHEDULE] == "every-minute"
    assert meta["annotations"][keys.ANNOTATION_SCHEDULED_AT] == ran["status"]["lastScheduleTime"]
    (owner,) = meta["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == (keys.SCHEDULE_KIND, uid, True)
    started_at = parse_time(meta["creationTimestamp"])
    assert started_at is not None
    assert started_at >= due  # not early

    done = await wait_status(
        kube, namespace, "every-minute",
        lambda s: s.get("lastSuccessfulTime") and s.get("activeCount") == 0,
        timeout=60, what="the run recorded as the last success",
    )  # fmt: skip
    following = parse_time(done["status"]["nextScheduleTime"])
    assert following is not None
    assert following > due
    table = kubectl(cluster, "get", "devskyyschedules", "-n", namespace).stdout
    (row,) = table_rows(table)
    assert list(row) == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE",
                         "NEXT SCHEDULE", "AGE"]  # fmt: skip
    assert row["NAME"] == "every-minute"
    assert row["SCHEDULE"] == "* * * * *"
    assert (row["TIMEZONE"], row["SUSPEND"], row["ACTIVE"]) == ("", "false", "0")
    assert re.match(r"^[0-9]+[smhd]", row["LAST SCHEDULE"])  # an age, as CronJob shows it
    assert row["NEXT SCHEDULE"] == done["status"]["nextScheduleTime"]
    wide = kubectl(cluster, "get", "dss", "-n", namespace, "-o", "wide").stdout
    assert "POLICY" in wide.splitlines()[0]
    assert "Allow" in wide

    # A run of the minute before, as an earlier operator left it: once it has
    # succeeded too, the limit of 1 keeps only the newest. Suspended first, so no
    # later minute's run joins in (history is kept while suspended too).
    await patch_spec(kube, namespace, "every-minute", suspend=True)
    await wait_status(kube, namespace, "every-minute", lambda s: s.get("reason") == "Suspended")
    older = run_name("every-minute", due - timedelta(minutes=1))
    earlier = diagnostic(older)
    earlier["metadata"].update(
        labels={keys.LABEL_SCHEDULE: "every-minute"},
        ownerReferences=[{**owner}],
    )
    earlier["spec"] = body["spec"]["template"]["spec"]
    await create_task(kube, namespace, earlier)

    async def pruned() -> list[str] | None:
        names = sorted(
            r["metadata"]["name"] for r in await runs_of(kube, namespace, "every-minute")
        )
        return names if older not in names else None

    names = await eventually(pruned, timeout=60, what=f"{older} pruned")
    assert names == [name]  # the newest succeeded run is kept
    events = {
        (e["reason"], e["message"]) for e in await schedule_events(kube, namespace, "every-minute")
    }
    assert (EVENT_CREATED, f"created run {name}") in events
    assert ("SuccessfulDelete", f"deleted finished run {older} (history limit)") in events


@pytest.mark.usefixtures("operator")
async def test_forbid_skips_while_a_run_is_active_and_suspend_stops_runs(
    kube: KubeClient, namespace: str
) -> None:
    body = schedule_body("forbid", "* * * * *", {"sleep_seconds": 600},
                         concurrencyPolicy="Forbid", suspend=True)  # fmt: skip
    await create_schedule(kube, namespace, body)
    await wait_status(kube, namespace, "forbid", lambda s: s.get("reason") == "Suspended")
    # Three minutes since the last run; unsuspended, the missed latest time starts at once.
    await set_last_schedule_time(
        kube, namespace, "forbid", datetime.now(UTC) - timedelta(minutes=3)
    )
    await patch_spec(kube, namespace, "forbid", suspend=False)
    started = await wait_status(
        kube, namespace, "forbid", lambda s: s.get("activeCount") == 1, timeout=30
    )
    (first,) = started["status"]["active"]
    first_time = parse_time(started["status"]["lastScheduleTime"])
    assert first_time is not None
    assert first == run_name("forbid", first_time)
    await wait_phase(kube, namespace, first, "Running")

    # The next minute comes while the first run sleeps: skipped, with an event saying why.
    async def skipped() -> list[dict[str, Any]] | None:
        events = await schedule_events(kube, namespace, "forbid")
        return [e for e in events if e["reason"] == EVENT_ALREADY_ACTIVE] or None

    (event, *_) = await eventually(skipped, timeout=90, what="the Forbid skip")
    assert first in event["message"]
    assert [r["metadata"]["name"] for r in await runs_of(kube, namespace, "forbid")] == [first]
    current = await get_schedule(kube, namespace, "forbid")
    assert parse_time(current["status"]["lastScheduleTime"]) == first_time

    # Suspended: the run ending (its deletion syncs the schedule) starts nothing,
    # though a later time is unmet.
    await patch_spec(kube, namespace, "forbid", suspend=True)
    await wait_status(kube, namespace, "forbid", lambda s: s.get("reason") == "Suspended")
    await kube.delete(tasks_path(namespace, first))
    await wait_status(kube, namespace, "forbid", lambda s: s.get("activeCount") == 0)
    assert await runs_of(kube, namespace, "forbid") == []
    suspended = await get_schedule(kube, namespace, "forbid")
    assert "nextScheduleTime" not in suspended["status"]

    # Resumed: the skipped time is still unmet (no deadline), so it starts now, once.
    await patch_spec(kube, namespace, "forbid", suspend=False)
    resumed = await wait_status(
        kube, namespace, "forbid", lambda s: s.get("activeCount") == 1, timeout=30
    )
    later = parse_time(resumed["status"]["lastScheduleTime"])
    assert later is not None
    assert later > first_time
    assert resumed["status"]["active"] == [run_name("forbid", later)]


async def test_a_restart_neither_duplicates_nor_loses_a_run(
    kube: KubeClient, namespace: str, cluster: LocalCluster, redis_url: str, tmp_path: Path
) -> None:
    """A daily schedule whose run of today was missed: it starts once, inside the
    deadline. The operator is killed and the status set back to before that run
    (a crash between creating the run and recording it): the next operator finds
    the run by its name instead of starting another."""
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    body = schedule_body("daily", "0 0 * * *", {}, startingDeadlineSeconds=2 * 86400,
                         suspend=True)  # fmt: skip
    await create_schedule(kube, namespace, body)
    await set_last_schedule_time(kube, namespace, "daily", midnight - timedelta(days=2))
    first = start_operator(cluster, namespace, redis_url, tmp_path)
    try:
        await wait_status(kube, namespace, "daily", lambda s: s.get("reason") == "Suspended")
        await patch_spec(kube, namespace, "daily", suspend=False)
        ran = await wait_status(
            kube, namespace, "daily", lambda s: s.get("lastScheduleTime", "").startswith(
                midnight.strftime("%Y-%m-%dT00:00:00")), timeout=30,
        )  # fmt: skip
        name = run_name("daily", midnight)
        assert ran["status"]["lastScheduleTime"] == midnight.strftime("%Y-%m-%dT00:00:00Z")
        await wait_phase(kube, namespace, name, "Succeeded", "Failed")
    finally:
        first.kill()
    await set_last_schedule_time(kube, namespace, "daily", midnight - timedelta(days=2))
    second = start_operator(cluster, namespace, redis_url, tmp_path)
    try:
        await wait_status(
            kube, namespace, "daily",
            lambda s: s.get("lastScheduleTime", "").startswith(midnight.strftime("%Y-%m-%d")),
            timeout=60, what="the second operator's record of today's run",
        )  # fmt: skip
        runs = await runs_of(kube, namespace, "daily")
        assert [r["metadata"]["name"] for r in runs] == [name]
        created = [
            e
            for e in await schedule_events(kube, namespace, "daily")
            if e["reason"] == EVENT_CREATED
        ]
        assert len(created) == 1, created
    finally:
        second.kill()


async def test_two_replicas_racing_start_one_run(kube: KubeClient, namespace: str) -> None:
    """Two schedule controllers (as two operators that both think they lead) sync the
    same due schedule at once against the real apiserver: both see no run and both
    create it; one gets AlreadyExists, which counts as created. One run, no error."""
    body = schedule_body("raced", "* * * * *", {})
    await create_schedule(kube, namespace, body)
    await set_last_schedule_time(kube, namespace, "raced", datetime.now(UTC) - timedelta(minutes=5))
    settings = Settings(namespace=namespace)
    one, two = ScheduleController(kube, settings), ScheduleController(kube, settings)
    plans = await asyncio.gather(one.sync("raced"), two.sync("raced"))
    # Both (or, if one listed after the other's create, the first) decided to start
    # the same scheduled time ...
    starts = {plan.start for plan in plans if plan is not None and plan.start is not None}
    assert len(starts) == 1, plans
    (start,) = starts
    runs = await runs_of(kube, namespace, "raced")
    assert [r["metadata"]["name"] for r in runs] == [run_name("raced", start)]  # ... one run
    created = [
        e for e in await schedule_events(kube, namespace, "raced") if e["reason"] == EVENT_CREATED
    ]
    assert len(created) == 1, created  # only the winner reports a creation
    status = (await get_schedule(kube, namespace, "raced"))["status"]
    assert parse_time(status["lastScheduleTime"]) == start
    assert status["active"] == [run_name("raced", start)]
    # A third pass (a restart) finds the run by its name and starts nothing.
    again = await ScheduleController(kube, settings).sync("raced")
    assert again is not None
    assert again.start is None or again.start > start  # only a new minute may start


@pytest.mark.usefixtures("operator")
async def test_bad_schedules_are_refused_or_reported(
    kube: KubeClient, namespace: str, cluster: LocalCluster
) -> None:
    # The examples as shipped pass the apiserver's schema and CEL rules.
    for example in EXAMPLES:
        done = kubectl(cluster, "apply", "--dry-run=server", "-n", namespace, "-f", str(example))
        assert "(server dry run)" in done.stdout
    # The apiserver: the shape of the expression and the task template's own rules.
    with pytest.raises(Invalid, match=r"spec\.schedule"):
        await create_schedule(kube, namespace, schedule_body("bad-shape", "every minute", {}))
    bad_template = schedule_body("bad-template", "* * * * *", {"sleep_seconds": -1})
    with pytest.raises(Invalid, match="sleep_seconds"):
        await create_schedule(kube, namespace, bad_template)
    with pytest.raises(Invalid, match=r"metadata\.name"):
        await create_schedule(kube, namespace, schedule_body("n" * 44, "* * * * *", {}))
    # Right shape, wrong values: the operator's parser names the field, and runs nothing.
    await create_schedule(kube, namespace, schedule_body("bad-minute", "61 * * * *", {}))
    await create_schedule(
        kube, namespace, schedule_body("bad-zone", "* * * * *", {}, timeZone="Mars/Olympus")
    )
    minute = await wait_status(kube, namespace, "bad-minute", lambda s: s.get("reason"))
    assert minute["status"]["reason"] == "InvalidSpec"
    assert "spec.schedule" in minute["status"]["message"]
    assert "minute: 61 is outside 0-59" in minute["status"]["message"]
    zone = await wait_status(kube, namespace, "bad-zone", lambda s: s.get("reason"))
    assert "spec.timeZone" in zone["status"]["message"]
    assert "Mars/Olympus" in zone["status"]["message"]
    assert await runs_of(kube, namespace, "bad-minute") == []
