"""GET /v1/tasks and GET /v1/tasks/{id}/history from the history store: users see
their own tasks only (another's is a 404), operator tokens see all, and a cursor
pages through 10,000 tasks in one stable order while new tasks keep arriving."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from devskyy_operator import keys
from devskyy_operator.redisq import Redis, enqueue
from devskyy_operator.redisq.batching import ScriptBatcher
from tests.api.conftest import app_client, auth, settings_for
from tests.api.live_server import TOKENS, running_api
from tests.cli.conftest import DEVSKYY
from tests.history.conftest import event_count, running_writer
from tests.history.lifecycle import fail_after_retry, queued, spec, succeed
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration]


@pytest.fixture
async def api(redis_url: str, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_for(redis_url, database_url=SecretStr(database_url))
    async with app_client(settings) as client:
        yield client


async def _written(database_url: str, count: int) -> None:
    async def enough() -> bool:
        return await event_count(database_url) >= count

    await eventually(enough, timeout=120, what=f"{count} events in PostgreSQL")


@pytest.mark.timeout(120)
async def test_another_users_task_and_history_are_404(
    api: httpx.AsyncClient, aredis: Redis, redis_url: str, database_url: str
) -> None:
    mine = await queued(aredis, "alice")
    await fail_after_retry(aredis, mine, "alice")
    theirs = await queued(aredis, "bob")
    await succeed(aredis, theirs)
    async with running_writer(redis_url, database_url):
        await _written(database_url, 7 + 4)
    history = await api.get(f"/v1/tasks/{mine}/history", headers=auth("alice"))
    assert history.status_code == 200
    body = history.json()
    assert [e["kind"] for e in body["events"]] == [
        "queued", "admitted", "running", "attempt_failed", "running", "dead_lettered", "failed",
    ]  # fmt: skip
    assert body["task"]["error"] == "upstream 503"
    assert body["task"]["reason"] == "BackoffLimitExceeded"
    assert body["events"][3]["attempt"] == 1
    assert body["events"][3]["exit_code"] == 75
    for path in (f"/v1/tasks/{mine}/history", f"/v1/tasks/{mine}"):
        refused = await api.get(path, headers=auth("bob"))
        assert refused.status_code == 404, path
        assert "upstream" not in refused.text
    # Redis forgets the record; the history still answers its owner, and only them.
    await aredis.delete(keys.task_key(mine))
    remembered = await api.get(f"/v1/tasks/{mine}", headers=auth("alice"))
    assert remembered.status_code == 200
    assert remembered.json()["status"] == "failed"
    assert (await api.get(f"/v1/tasks/{mine}", headers=auth("bob"))).status_code == 404
    # Lists: a user gets their own; an operator token everyone's, or one user's.
    alice = (await api.get("/v1/tasks", headers=auth("alice"))).json()["tasks"]
    assert [t["id"] for t in alice] == [mine]
    watched = (await api.get("/v1/tasks", headers=auth("watch"))).json()["tasks"]
    assert {t["id"] for t in watched} == {mine, theirs}
    only_bob = await api.get("/v1/tasks", params={"user_id": "bob"}, headers=auth("watch"))
    assert [t["id"] for t in only_bob.json()["tasks"]] == [theirs]
    assert (await api.get(f"/v1/tasks/{theirs}/history", headers=auth("watch"))).is_success
    # An operator token reads but does not act for others.
    assert (await api.delete(f"/v1/tasks/{theirs}", headers=auth("watch"))).status_code == 404
    assert (await api.get("/v1/tasks?user_id=bob", headers=auth("alice"))).status_code == 403


@pytest.mark.timeout(120)
async def test_filters(
    api: httpx.AsyncClient, aredis: Redis, redis_url: str, database_url: str
) -> None:
    done = await queued(aredis, "alice")
    await succeed(aredis, done)
    before_ml = datetime.now().astimezone()
    ml = (await enqueue(aredis, spec("alice", "ml_prediction"))).task_id
    waiting = await queued(aredis, "alice")
    async with running_writer(redis_url, database_url):
        await _written(database_url, 4 + 2)

    async def ids(**params: str) -> list[str]:
        response = await api.get("/v1/tasks", params=params, headers=auth("alice"))
        assert response.status_code == 200, response.text
        return [t["id"] for t in response.json()["tasks"]]

    assert await ids() == [waiting, ml, done]
    assert await ids(type="ml_prediction") == [ml]
    assert await ids(status="completed") == [done]
    assert await ids(status="pending", type="diagnostic") == [waiting]
    assert await ids(created_after=before_ml.isoformat()) == [waiting, ml]
    assert await ids(created_before=before_ml.isoformat()) == [done]
    bad = await api.get("/v1/tasks", params={"cursor": "nope"}, headers=auth("alice"))
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.cursor"
    wrong_type = await api.get("/v1/tasks", params={"type": "mining"}, headers=auth("alice"))
    assert wrong_type.status_code == 422


@pytest.mark.timeout(300)
async def test_pages_through_10000_tasks_in_stable_order(
    api: httpx.AsyncClient, aredis: Redis, redis_url: str, database_url: str
) -> None:
    batcher = ScriptBatcher(aredis)
    total = 10_000
    try:
        for _ in range(total // 500):
            await asyncio.gather(*(enqueue(batcher, spec("alice")) for _n in range(500)))
    finally:
        await batcher.aclose()
    expected = await _newest_first(aredis)
    assert len(expected) == total
    async with running_writer(redis_url, database_url, history_batch_size=1000):
        started = time.monotonic()
        await _written(database_url, total)
        drained = time.monotonic() - started
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
            page = (await api.get("/v1/tasks", params=params, headers=auth("alice"))).json()
            seen += [t["id"] for t in page["tasks"]]
            pages += 1
            if pages == 3:  # newer tasks arriving mid-way must not shift the pages
                for _ in range(25):
                    await queued(aredis, "alice")
            cursor = page["next_cursor"]
            if cursor is None:
                break
    print(f"wrote {total} transitions in {drained:.1f} s; {pages} pages")
    assert pages == total // 500
    assert len(set(seen)) == len(seen) == total
    assert seen == expected


async def _newest_first(redis: Redis) -> list[str]:
    """The order the API must return, computed from Redis: created_at, then id, descending."""
    ids = await redis.zrange(keys.user_tasks_key("alice"), 0, -1)
    async with redis.pipeline(transaction=False) as pipe:
        for task_id in ids:
            pipe.hget(keys.task_key(task_id), "created_at")
        created = await pipe.execute()
    keyed = sorted(zip(created, ids, strict=True), reverse=True)
    return [task_id for _, task_id in keyed]


@pytest.mark.timeout(120)
async def test_devskyy_history_cli(
    aredis: Redis, redis_url: str, database_url: str, tmp_path: Path
) -> None:
    """The real `devskyy` against a real API process with the history store."""
    done = await queued(aredis, "alice")
    await succeed(aredis, done)
    failed = await queued(aredis, "alice")
    await fail_after_retry(aredis, failed, "alice")
    other = await queued(aredis, "bob")
    async with running_writer(redis_url, database_url):
        await _written(database_url, 4 + 7 + 1)
    with running_api(redis_url, database_url=database_url) as live:
        env = {**os.environ, "DEVSKYY_API_URL": live.url, "DEVSKYY_API_TOKEN": TOKENS["alice"]}

        def devskyy(*args: str, as_user: str = "alice") -> subprocess.CompletedProcess[str]:
            run_env = {**env, "DEVSKYY_API_TOKEN": TOKENS[as_user]}
            return subprocess.run(
                [DEVSKYY, *args], env=run_env, capture_output=True, text=True, timeout=30
            )

        table = devskyy("history")
        assert table.returncode == 0, table.stderr
        header, *lines = table.stdout.splitlines()
        assert header.split()[:4] == ["ID", "TYPE", "STATUS", "USER_ID"]
        assert [line.split()[0] for line in lines] == [failed, done]
        only_failed = json.loads(devskyy("--json", "history", "--status", "failed").stdout)
        assert [t["id"] for t in only_failed["tasks"]] == [failed]
        paged = devskyy("history", "-n", "1")
        assert "more: --cursor " in paged.stdout
        everything = json.loads(devskyy("--json", "history", "-n", "1", "--all").stdout)
        assert [t["id"] for t in everything["tasks"]] == [failed, done]
        events = devskyy("history", failed)
        assert events.returncode == 0, events.stderr
        kinds = [line.split()[1] for line in events.stdout.splitlines()[2:]]
        assert kinds == [
            "queued", "admitted", "running", "attempt_failed", "running", "dead_lettered",
            "failed",
        ]  # fmt: skip
        refused = devskyy("history", other)
        assert refused.returncode == 1
        assert "404" in refused.stderr
        watched = json.loads(devskyy("--json", "history", as_user="watch").stdout)
        assert {t["id"] for t in watched["tasks"]} == {done, failed, other}
