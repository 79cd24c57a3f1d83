"""TASK_TIMEOUT at the API door: a longer timeoutSeconds is refused, naming the field."""

from __future__ import annotations

import pytest

from tests.api.conftest import app_client, auth, settings_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def test_timeout_above_task_timeout_is_refused(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASK_TIMEOUT", "120")
    async with app_client(settings_for(redis_url)) as api:
        task = {"type": "diagnostic", "input": {"user_id": "alice"}, "timeoutSeconds": 300}
        refused = await api.post("/v1/tasks", json=task, headers=auth("alice"))
        assert refused.status_code == 422
        assert refused.json()["errors"] == [
            {"field": "timeoutSeconds", "message": "at most 120 s here (TASK_TIMEOUT)"}
        ]
        allowed = await api.post(
            "/v1/tasks", json={**task, "timeoutSeconds": 120}, headers=auth("alice")
        )
        assert allowed.status_code == 202
