"""The /v1/workflows routes through the ASGI app against a real Redis."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import redis

from devskyy_operator import keys
from devskyy_operator.redisq import connect
from devskyy_operator.redisq.scripts import disconnect
from devskyy_operator.redisq.workflows import record_workflow_status
from tests.api.conftest import auth

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


def diag(name: str, *deps: str, user: str = "alice", **fields: Any) -> dict[str, Any]:
    step: dict[str, Any] = {
        "name": name,
        "task": {"type": "diagnostic", "input": {"user_id": user, **fields}},
    }
    if deps:
        step["dependsOn"] = list(deps)
    return step


CHAIN = {
    "steps": [
        diag("a", result={"u": "https://cdn.example/a.glb"}),
        diag("b", "a", result={"v": "{{ steps.a.outputs.u }}"}),
        diag("c", "b"),
    ]
}


async def submit(api: httpx.AsyncClient, body: Any, user: str = "alice", **params: str) -> Any:
    return await api.post("/v1/workflows", json=body, headers=auth(user), params=params)


def field_errors(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {e["field"]: e["message"] for e in response.json()["errors"]}


async def test_submit_then_read_list_and_cancel(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    response = await submit(api, CHAIN, name="launch")
    assert response.status_code == 202, response.text
    assert response.json() == {
        "id": "launch",
        "status": "pending",
        "location": "/v1/workflows/launch",
    }
    assert response.headers["location"] == "/v1/workflows/launch"
    assert redis_client.sismember(keys.WORKFLOW_CREATES, "launch")
    assert redis_client.hget(keys.workflow_key("launch"), "user_id") == "alice"

    view = (await api.get("/v1/workflows/launch", headers=auth("alice"))).json()
    assert (view["phase"], view["progress"]) == ("Pending", "0/3")
    assert [(s["name"], s["phase"]) for s in view["steps"]] == [
        ("a", "Pending"), ("b", "Pending"), ("c", "Pending"),
    ]  # fmt: skip
    assert (await api.get("/v1/workflows/launch", headers=auth("bob"))).status_code == 404
    assert (await api.get("/v1/workflows/launch", headers=auth("ops"))).status_code == 200
    listed = (await api.get("/v1/workflows", headers=auth("alice"))).json()
    assert [w["id"] for w in listed] == ["launch"]
    assert (await api.get("/v1/workflows", headers=auth("bob"))).json() == []

    again = await submit(api, CHAIN, name="launch")
    assert again.status_code == 409
    assert (await api.delete("/v1/workflows/launch", headers=auth("bob"))).status_code == 404
    cancelled = await api.delete("/v1/workflows/launch", headers=auth("alice"))
    assert cancelled.status_code == 202
    assert cancelled.json() == {"id": "launch", "outcome": "requested"}
    assert redis_client.sismember(keys.WORKFLOW_CANCELS, "launch")


async def test_read_shows_the_operators_status_copy(api: httpx.AsyncClient, redis_url: str) -> None:
    assert (await submit(api, CHAIN, name="done")).status_code == 202
    status = {
        "phase": "Failed", "progress": "1/3", "succeeded": 1, "total": 3, "failedStep": "b",
        "reason": "StepFailed", "message": "step b failed: task done-b failed: exit code 42",
        "steps": [
            {"name": "a", "phase": "Succeeded", "taskName": "done-a", "outputs": {"u": "x"}},
            {"name": "b", "phase": "Failed", "taskName": "done-b", "reason": "PermanentFailure"},
            {"name": "c", "phase": "Skipped", "reason": "DependencyFailed"},
        ],
    }  # fmt: skip
    client = connect(redis_url)
    try:
        await record_workflow_status(
            client, "done", "alice", CHAIN, status, time.time(), finished_ttl_seconds=3600
        )
        assert 0 < await client.ttl(keys.workflow_key("done")) <= 3600
    finally:
        await disconnect(client)
    view = (await api.get("/v1/workflows/done", headers=auth("alice"))).json()
    assert (view["phase"], view["progress"], view["failed_step"]) == ("Failed", "1/3", "b")
    assert view["message"] == status["message"]
    assert view["steps"][0] == {
        "name": "a", "phase": "Succeeded", "task_id": "done-a", "reason": None,
        "message": None, "outputs": {"u": "x"},
    }  # fmt: skip
    assert view["steps"][2]["reason"] == "DependencyFailed"
    refused = await api.delete("/v1/workflows/done", headers=auth("alice"))
    assert refused.status_code == 409
    assert refused.json()["detail"] == "workflow done already ended Failed"


async def test_a_cycle_is_refused_naming_the_step(
    api: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    body = {"steps": [diag("a", "c"), diag("b", "a"), diag("c", "b")]}
    assert field_errors(await submit(api, body)) == {
        "steps.0.dependsOn": "step a depends on c, a cycle: a -> c -> b -> a"
    }
    assert redis_client.scard(keys.WORKFLOW_CREATES) == 0


async def test_unknown_names_and_references_are_refused(api: httpx.AsyncClient) -> None:
    body = {"steps": [diag("a"), diag("b", "ghost")]}
    assert field_errors(await submit(api, body)) == {
        "steps.1.dependsOn": "step b depends on ghost, which is no step of this workflow"
    }
    body = {"steps": [diag("a"), diag("b", result={"x": "{{ steps.a.outputs.u }}"})]}
    errors = field_errors(await submit(api, body))
    assert errors["steps.1.task.input"].startswith(
        "step b: {{ steps.a.outputs.u }} names step a, which step b does not depend on"
    )


async def test_bad_step_input_and_unknown_fields_are_refused(api: httpx.AsyncClient) -> None:
    errors = field_errors(await submit(api, {"steps": [diag("a", exit_code="x")]}))
    assert "input.exit_code: Input should be a valid integer" in errors["steps.0.task"]
    errors = field_errors(await submit(api, {"steps": [diag("a")], "parallelism": 3}))
    assert errors == {"parallelism": "Extra inputs are not permitted"}
    errors = field_errors(await submit(api, {"steps": [diag("A")]}))
    assert list(errors) == ["steps.0.name"]
    errors = field_errors(await submit(api, {"steps": []}))
    assert list(errors) == ["steps"]


async def test_step_limits_are_those_of_a_task(api: httpx.AsyncClient) -> None:
    step = diag("big")
    step["task"]["resources"] = {"limits": {"cpu": "500"}}
    errors = field_errors(await submit(api, {"steps": [step]}))
    assert list(errors) == ["steps.0.task.resources.limits.cpu"]
    assert errors["steps.0.task.resources.limits.cpu"].startswith("step big: ")


async def test_every_step_must_be_the_callers(api: httpx.AsyncClient) -> None:
    body = {"steps": [diag("a"), diag("b", "a", user="bob")]}
    response = await submit(api, body)
    assert response.status_code == 403
    assert response.json()["detail"] == "steps.1.task.input.user_id must be the authenticated user"
