"""`devskyy top`: the pure frame, and the real console script against a real API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from devskyy_operator.cli.top import CLEAR, Snapshot, render
from devskyy_operator.deadletter.final_failure import record_final_failure
from devskyy_operator.deadletter.record import FinalFailure
from devskyy_operator.redisq import Redis, claim, enqueue
from devskyy_operator.redisq.task_store import mark_processing
from devskyy_operator.settings import Settings
from tests.api.live_server import TOKENS, LiveApi, running_api
from tests.cli.conftest import DEVSKYY
from tests.queue.conftest import aredis, diagnostic_spec
from tests.support.redis_server import RedisServer

__all__ = ["aredis"]

SNAPSHOT = Snapshot(
    taken_at="2026-01-05 12:00:00Z",
    user="alice",
    queues=[
        {"type": "diagnostic", "queued": 7, "leased": 1},
        {"type": "ml_training", "queued": 0, "leased": 0},
    ],
    running=[
        {
            "id": "task-run1",
            "type": "diagnostic",
            "tier": "pro",
            "started_at": "2026-01-05T11:59:00Z",
            "attempts": 2,
            "worker_host": "node-a",
        },
    ],
    pending=[
        {
            "id": "task-p1",
            "type": "diagnostic",
            "tier": "free",
            "priority": 9,
            "queue": {"position": 2, "queued": 7, "estimated_wait_seconds": 120.4},
        },
        {
            "id": "task-p2",
            "type": "diagnostic",
            "priority": 1,
            "queue": {"position": 6, "queued": 7, "estimated_wait_seconds": None},
        },
        {"id": "task-p3", "type": "diagnostic", "tier": "enterprise", "priority": 1},
    ],
    failures=[
        {
            "task_id": "task-f1",
            "task_type": "generate_3d",
            "failed_at": "2026-01-05T11:00:00Z",
            "reason": "BackoffLimitExceeded",
            "error": "provider returned 503 " + "x" * 200,
        },
    ],
)


@pytest.mark.unit
@pytest.mark.timeout(10)
def test_render_a_known_snapshot() -> None:
    frame = render(SNAPSHOT, 100)
    rows = [line.split() for line in frame.splitlines()]
    assert frame.splitlines()[0] == "devskyy top  2026-01-05 12:00:00Z  user alice"
    assert rows[1][:6] == ["queued", "7", "leased", "1", "running", "1"]
    assert ["diagnostic", "7", "1"] in rows
    assert ["ml_training", "0", "0"] in rows
    assert ["task-run1", "diagnostic", "pro", "2026-01-05T11:59:00Z", "2", "node-a"] in rows
    assert ["task-p1", "diagnostic", "free", "9", "3/7", "120s"] in rows
    assert ["task-p2", "diagnostic", "-", "1", "7/7", "unknown"] in rows  # no tier: kubectl
    assert ["task-p3", "diagnostic", "enterprise", "1", "-", "-"] in rows
    assert ["PENDING", "(3)"] in rows
    assert ["RECENT", "FAILURES", "(1)"] in rows
    failure = next(r for r in rows if r and r[0] == "task-f1")
    assert failure[1:5] == [
        "generate_3d",
        "2026-01-05T11:00:00Z",
        "BackoffLimitExceeded",
        "provider",
    ]
    assert max(len(line) for line in frame.splitlines()) == 100


@pytest.mark.unit
@pytest.mark.timeout(10)
def test_render_cuts_to_narrow_terminals_and_survives_empty_data() -> None:
    assert max(len(line) for line in render(SNAPSHOT, 40).splitlines()) <= 40
    empty = render(Snapshot(taken_at="t", user="u"), 80)
    assert "RUNNING (0)" in empty
    assert "RECENT FAILURES (0)" in empty
    assert Snapshot.from_dict(SNAPSHOT.as_dict()) == SNAPSHOT


# ------------------------------------------------------------------ the real CLI


@pytest.fixture(scope="module")
def top_api(redis_server: RedisServer) -> Iterator[LiveApi]:
    with running_api(redis_server.url, rate_limit_per_minute="100000") as live:
        yield live


def cli_env(api: LiveApi) -> dict[str, str]:
    return {**os.environ, "DEVSKYY_API_URL": api.url, "DEVSKYY_API_TOKEN": TOKENS["alice"],
            "COLUMNS": "160"}  # fmt: skip


@pytest.fixture
async def seeded(aredis: Redis) -> list[str]:
    """Three queued tasks, one of them then running, and one dead letter."""
    tier = {"tier": "pro"}
    ids = [
        (await enqueue(aredis, diagnostic_spec(priority=p), extra_fields=tier)).task_id
        for p in (5, 3, 1)
    ]
    [running] = await claim(aredis, "diagnostic", 1, 300)
    await mark_processing(aredis, running.task_id, "2026-01-05T12:00:00Z", "node-z", 1)
    failure = FinalFailure(
        task_id="task-dead1", task_type="diagnostic", user_id="alice", namespace="ns",
        task_data={}, reason="BackoffLimitExceeded", error="boom", error_type="Crash",
        failed_at=datetime(2026, 1, 5, 11, 0, tzinfo=UTC), attempts=3, exit_code=3,
        worker_host="node-z",
    )  # fmt: skip
    assert await record_final_failure(aredis, failure, Settings())
    return ids


@pytest.mark.integration
@pytest.mark.timeout(60)
def test_top_once_shows_queues_running_pending_and_failures(
    top_api: LiveApi, seeded: list[str]
) -> None:
    ids = seeded
    run = subprocess.run(  # stdout is not a terminal: one frame, no loop
        [DEVSKYY, "top"], env=cli_env(top_api), capture_output=True, text=True,
        timeout=30, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    rows = [line.split() for line in run.stdout.splitlines()]
    assert ["diagnostic", "2", "1"] in rows  # queued, leased
    running = next(r for r in rows if r and r[0] == ids[0])
    assert running[1:] == ["diagnostic", "pro", "2026-01-05T12:00:00Z", "1", "node-z"]
    pending = {r[0]: r[2:3] + r[4:] for r in rows if r and r[0] in ids[1:]}
    assert pending == {ids[1]: ["pro", "1/2", "unknown"], ids[2]: ["pro", "2/2", "unknown"]}
    assert [
        "task-dead1",
        "diagnostic",
        "2026-01-05T11:00:00.000000Z",  # the task hash's format (devskyy_agents.clock)
        "BackoffLimitExceeded",
        "boom",
    ] in rows

    as_json = subprocess.run(
        [DEVSKYY, "--json", "top", "--once"], env=cli_env(top_api), capture_output=True,
        text=True, timeout=30, check=True,
    )  # fmt: skip
    body = json.loads(as_json.stdout)
    assert [t["id"] for t in body["running"]] == ids[:1]
    positions = {t["id"]: t["queue"]["position"] for t in body["pending"]}
    assert positions == {ids[1]: 0, ids[2]: 1}


@pytest.mark.integration
@pytest.mark.timeout(60)
@pytest.mark.usefixtures("seeded")
def test_top_redraws_until_interrupted(top_api: LiveApi) -> None:
    process = subprocess.Popen(
        [DEVSKYY, "top", "--watch", "--interval", "0.2"], env=cli_env(top_api),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    seen = ""
    while seen.count(CLEAR) < 3:
        line = process.stdout.readline()
        assert line, "devskyy top stopped drawing"
        seen += line
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert seen.count("QUEUES") >= 2
    assert "QUEUES" in out  # the last frame stays on screen
