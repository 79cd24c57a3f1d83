"""GET /v1/sla and `devskyy sla`: compliance per type over a window, from the tasks the
history store holds (real PostgreSQL), judged against the API's objectives."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from devskyy_agents.clock import utc_iso
from tests.api.conftest import app_client, auth, settings_for
from tests.api.live_server import TOKENS, running_api
from tests.cli.conftest import DEVSKYY

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

DIAGNOSTIC = {"diagnostic": {"completion_seconds": 60, "queue_wait_seconds": 10, "target": 0.75}}


def row(
    now: datetime,
    task_id: str,
    created: float,
    admitted: float | None,
    completed: float,
    *,
    task_type: str = "diagnostic",
    status: str = "completed",
    cancelled: bool = False,
    task_input: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A task row as the writer leaves it; times in seconds relative to `now`."""

    def at(seconds: float | None) -> datetime | None:
        return None if seconds is None else now + timedelta(seconds=seconds)

    return {
        "task_id": task_id, "user_id": "alice", "task_type": task_type, "status": status,
        "status_rank": 3, "cancelled": cancelled, "created_at": at(created),
        "admitted_at": at(admitted), "completed_at": at(completed), "updated_at": at(completed),
        "input": json.dumps(task_input or {"user_id": "alice"}),
    }  # fmt: skip


def task_rows() -> list[dict[str, Any]]:
    """The rows of the report, timed from the moment the test writes them."""
    now = datetime.now(UTC)
    return [
        row(now, "in-time", -300, -298, -270),
        row(now, "waited-long", -300, -280, -250),  # queue wait 20 s > 10 s
        row(now, "slow", -200, -199, -100),  # completion 100 s > 60 s
        row(now, "failed-fast", -200, -199, -180, status="failed"),  # on time, either outcome
        row(now, "never-admitted", -50, None, -49, status="failed"),  # refused: completion only
        row(now, "cancelled", -200, -199, -100, cancelled=True),  # not judged
        row(now, "last-night", -9000, -8990, -8000),  # ended before the window
        row(now, "predict", -100, -99, -95, task_type="ml_prediction"),  # default 30 s / 10 s
        # held until schedule_at: its clock starts there (300 s to the end < 360 s)
        row(now, "campaign", -1000, -395, -100, task_type="marketing_campaign",
            task_input={"user_id": "alice", "schedule_at": utc_iso(now - timedelta(seconds=400))}),
    ]  # fmt: skip


async def insert(database_url: str, rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0])
    statement = (
        f"INSERT INTO tasks ({', '.join(columns)}) "  # noqa: S608 - constant column names
        f"VALUES ({', '.join(f'%({c})s' for c in columns)})"
    )
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        async with conn.cursor() as cur:
            await cur.executemany(statement, rows)
        await conn.commit()


@pytest.fixture
async def api(redis_url: str, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    await insert(database_url, task_rows())
    settings = settings_for(redis_url, database_url=SecretStr(database_url), sla=DIAGNOSTIC)
    async with app_client(settings) as client:
        yield client


def by_objective(body: dict[str, Any], task_type: str) -> dict[str, dict[str, Any]]:
    return {o["objective"]: o for o in body["types"][task_type]}


async def test_compliance_per_type_and_objective(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/sla", params={"window_seconds": 3600}, headers=auth("watch"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["window_seconds"] == 3600
    diagnostic = by_objective(body, "diagnostic")
    assert diagnostic["queue_wait"] == {
        "objective": "queue_wait", "bound_seconds": 10.0, "target": 0.75, "judged": 4, "met": 3,
        "compliance": 0.75, "compliant": True,
    }  # fmt: skip
    completion = diagnostic["completion"]
    assert (completion["judged"], completion["met"]) == (5, 4)
    assert (completion["compliance"], completion["compliant"]) == (0.8, True)
    predict = by_objective(body, "ml_prediction")
    assert (predict["completion"]["judged"], predict["completion"]["met"]) == (1, 1)
    assert predict["completion"]["bound_seconds"] == 30.0
    campaign = by_objective(body, "marketing_campaign")
    assert (campaign["completion"]["met"], campaign["queue_wait"]["met"]) == (1, 1)
    idle = by_objective(body, "generate_3d")["completion"]
    assert (idle["judged"], idle["compliance"], idle["compliant"]) == (0, None, None)
    # a shorter window leaves the older tasks out; one type only
    short = await api.get(
        "/v1/sla", params={"window_seconds": 150, "type": "diagnostic"}, headers=auth("watch")
    )
    assert list(short.json()["types"]) == ["diagnostic"]
    late = by_objective(short.json(), "diagnostic")["completion"]
    assert (late["judged"], late["met"]) == (2, 1)  # slow, never-admitted


async def test_operators_only_and_the_window_is_checked(api: httpx.AsyncClient) -> None:
    mine = await api.get("/v1/sla", headers=auth("alice"))
    assert mine.status_code == 403
    for bad in ({"window_seconds": 10}, {"window_seconds": "1h"}, {"type": "mining"}):
        refused = await api.get("/v1/sla", params=bad, headers=auth("watch"))
        assert refused.status_code == 422, bad
        assert refused.json()["errors"][0]["field"] == f"query.{next(iter(bad))}"


async def test_without_history_the_report_is_unavailable(redis_url: str) -> None:
    async with app_client(settings_for(redis_url)) as client:
        response = await client.get("/v1/sla", headers=auth("watch"))
    assert response.status_code == 503


@pytest.mark.timeout(120)
async def test_devskyy_sla_cli(redis_url: str, database_url: str) -> None:
    await insert(database_url, task_rows())
    objective = json.dumps(DIAGNOSTIC)
    with running_api(redis_url, database_url=database_url, sla=objective) as live:
        env = {**os.environ, "DEVSKYY_API_URL": live.url, "DEVSKYY_API_TOKEN": TOKENS["watch"]}

        def devskyy(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [DEVSKYY, *args], env=env, capture_output=True, text=True, timeout=30
            )

        shown = devskyy("sla", "--window", "1h", "--type", "diagnostic")
        assert shown.returncode == 0, shown.stderr
        since, header, *lines = shown.stdout.splitlines()
        assert since.startswith("tasks that ended ")
        assert header.split() == [
            "TYPE", "OBJECTIVE", "BOUND", "TARGET", "JUDGED", "MET", "COMPLIANCE",
        ]  # fmt: skip
        assert [line.split() for line in lines] == [
            ["diagnostic", "queue_wait", "10s", "75.0%", "4", "3", "75.0%", "ok"],
            ["diagnostic", "completion", "60s", "75.0%", "5", "4", "80.0%", "ok"],
        ]
        short = devskyy("--json", "sla", "--window", "150")
        assert short.returncode == 0, short.stderr
        assert json.loads(short.stdout)["window_seconds"] == 150
        bad = devskyy("sla", "--window", "soon")
        assert bad.returncode == 2
        assert "not a duration" in bad.stderr
