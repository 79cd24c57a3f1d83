"""REDIS_URL and DATABASE_URL, the seed's names, are what the real processes read:
an API and a history writer started with nothing else find their stores."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from devskyy_operator.redisq import Redis
from tests.api.live_server import TOKENS, running_api
from tests.history.conftest import writer_process
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def test_api_and_writer_run_on_the_seed_variables(
    aredis: Redis, redis_url: str, database_url: str, tmp_path: Path
) -> None:
    seed_env = {"REDIS_URL": redis_url, "DATABASE_URL": database_url}
    headers = {"Authorization": f"Bearer {TOKENS['alice']}"}
    with (
        running_api(None, raw_env=seed_env) as live,
        writer_process(redis_url, database_url, tmp_path / "writer.log"),
    ):
        api = httpx.AsyncClient(base_url=live.url, headers=headers, timeout=10)
        body = {"type": "diagnostic", "input": {"user_id": "alice"}}
        created = await api.post("/v1/tasks", json=body)
        assert created.status_code == 202, created.text
        task_id = created.json()["id"]
        assert await aredis.hget(f"devskyy:tasks:{task_id}", "status") == "pending"

        async def recorded() -> list[str] | None:
            reply = await api.get(f"/v1/tasks/{task_id}/history")
            kinds = [e["kind"] for e in reply.json().get("events", [])]
            return kinds or None

        assert await eventually(recorded, timeout=30, what="the queued event") == ["queued"]
        listed = (await api.get("/v1/tasks")).json()
        assert [t["id"] for t in listed["tasks"]] == [task_id]
        await api.aclose()
