"""/v1/schedules through the ASGI app on a real redis-server: validation naming the
field, conflicts, ownership, and the bridge's to-do entry written with each change."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import redis

from devskyy_operator import keys
from tests.api.conftest import app_client, auth, settings_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


def new_schedule(name: str = "nightly", user: str = "alice", **spec: Any) -> dict[str, Any]:
    return {
        "name": name,
        "spec": {
            "schedule": "0 3 * * *",
            "timeZone": "Europe/Berlin",
            "template": {"spec": {"type": "diagnostic", "input": {"user_id": user}}},
            **spec,
        },
    }


def fields_of(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    return [e["field"] for e in response.json()["errors"]]


async def test_create_read_patch_delete(api: httpx.AsyncClient, redis_client: redis.Redis) -> None:
    created = await api.post("/v1/schedules", json=new_schedule(), headers=auth("alice"))
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/v1/schedules/nightly"
    view = created.json()
    assert view["user_id"] == "alice"
    assert view["spec"]["concurrencyPolicy"] == "Allow"  # the CR's defaults, filled in
    assert view["spec"]["timeZone"] == "Europe/Berlin"
    assert view["applied"] is False
    assert view["status"] is None
    first_revision = redis_client.hget(keys.SCHEDULE_CHANGES, "nightly")
    assert first_revision is not None

    again = await api.post("/v1/schedules", json=new_schedule(), headers=auth("alice"))
    assert again.status_code == 409

    suspended = await api.patch(
        "/v1/schedules/nightly",
        content=b'{"suspend": true, "timeZone": null}',
        headers={**auth("alice"), "Content-Type": "application/merge-patch+json"},
    )
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["spec"]["suspend"] is True
    assert "timeZone" not in suspended.json()["spec"]  # null removes (RFC 7396)
    assert redis_client.hget(keys.SCHEDULE_CHANGES, "nightly") != first_revision

    redis_client.hset(keys.SCHEDULE_STATUS, "nightly", json.dumps({"active": ["nightly-1"]}))
    redis_client.hdel(keys.SCHEDULE_CHANGES, "nightly")
    shown = (await api.get("/v1/schedules/nightly", headers=auth("alice"))).json()
    assert shown["status"] == {"active": ["nightly-1"]}
    assert shown["applied"] is True

    deleted = await api.delete("/v1/schedules/nightly", headers=auth("alice"))
    assert deleted.status_code == 204
    assert (await api.get("/v1/schedules/nightly", headers=auth("alice"))).status_code == 404
    assert redis_client.hget(keys.SCHEDULE_CHANGES, "nightly") is not None  # bridge deletes CR
    assert (await api.delete("/v1/schedules/nightly", headers=auth("alice"))).status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"schedule": "61 * * * *"}, "spec.schedule"),
        ({"schedule": "* * *"}, "spec.schedule"),
        ({"timeZone": "Mars/Olympus"}, "spec.timeZone"),
        ({"concurrencyPolicy": "Sometimes"}, "spec.concurrencyPolicy"),
        ({"startingDeadlineSeconds": -1}, "spec.startingDeadlineSeconds"),
        ({"surprise": 1}, "spec.surprise"),
        (
            {"template": {"spec": {"type": "diagnostic", "input": {"user_id": "alice", "x": 1}}}},
            "spec.template.spec.input.x",
        ),
        ({"template": {"spec": {"type": "nope", "input": {}}}}, "spec.template.spec.type"),
    ],
)
async def test_bad_schedule_is_422_naming_the_field(
    api: httpx.AsyncClient, redis_client: redis.Redis, change: dict[str, Any], field: str
) -> None:
    response = await api.post("/v1/schedules", json=new_schedule(**change), headers=auth("alice"))
    assert field in fields_of(response), response.text
    assert redis_client.hlen(keys.SCHEDULES) == 0
    assert redis_client.hlen(keys.SCHEDULE_CHANGES) == 0


async def test_bad_name_and_bad_patch_are_422(api: httpx.AsyncClient) -> None:
    bad_name = await api.post(
        "/v1/schedules", json=new_schedule("Not_A_Name"), headers=auth("alice")
    )
    assert fields_of(bad_name) == ["name"]
    assert (await api.post("/v1/schedules", json=new_schedule(), headers=auth("alice"))).is_success
    for patch, field in (({"suspend": "yes"}, "suspend"), ({"timeZone": "Nowhere/X"}, "timeZone")):
        response = await api.patch("/v1/schedules/nightly", json=patch, headers=auth("alice"))
        assert field in fields_of(response)
    still = (await api.get("/v1/schedules/nightly", headers=auth("alice"))).json()
    assert still["spec"]["suspend"] is False
    assert still["spec"]["timeZone"] == "Europe/Berlin"


async def test_ownership(api: httpx.AsyncClient) -> None:
    for_bob = await api.post("/v1/schedules", json=new_schedule(user="bob"), headers=auth("alice"))
    assert for_bob.status_code == 403
    mine = await api.post("/v1/schedules", json=new_schedule("a-one"), headers=auth("alice"))
    assert mine.status_code == 201
    by_admin = await api.post(
        "/v1/schedules", json=new_schedule("b-one", user="bob"), headers=auth("ops")
    )
    assert by_admin.status_code == 201
    assert by_admin.json()["user_id"] == "bob"

    listed = (await api.get("/v1/schedules", headers=auth("alice"))).json()["schedules"]
    assert [s["name"] for s in listed] == ["a-one"]
    everyone = (await api.get("/v1/schedules", headers=auth("ops"))).json()["schedules"]
    assert [s["name"] for s in everyone] == ["a-one", "b-one"]
    assert (await api.get("/v1/schedules/b-one", headers=auth("alice"))).status_code == 404
    patch = await api.patch("/v1/schedules/b-one", json={"suspend": True}, headers=auth("alice"))
    assert patch.status_code == 404
    assert (await api.delete("/v1/schedules/b-one", headers=auth("alice"))).status_code == 404
    give_away = {"template": {"spec": {"type": "diagnostic", "input": {"user_id": "bob"}}}}
    moved = await api.patch("/v1/schedules/a-one", json=give_away, headers=auth("alice"))
    assert moved.status_code == 403
    assert (await api.get("/v1/schedules")).status_code == 401


async def test_a_user_owns_at_most_the_configured_number(
    redis_url: str, redis_client: redis.Redis
) -> None:
    async with app_client(settings_for(redis_url, max_schedules_per_user=2)) as api:
        for name in ("one", "two"):
            created = await api.post(
                "/v1/schedules", json=new_schedule(name), headers=auth("alice")
            )
            assert created.status_code == 201
        third = await api.post("/v1/schedules", json=new_schedule("three"), headers=auth("alice"))
        assert third.status_code == 403
        assert "2 schedules" in third.json()["detail"]
        assert redis_client.hget(keys.SCHEDULES, "three") is None
        # Changing one's own schedule is not a new one; bob has his own allowance.
        patched = await api.patch(
            "/v1/schedules/one", json={"suspend": True}, headers=auth("alice")
        )
        assert patched.status_code == 200
        for_bob = await api.post(
            "/v1/schedules", json=new_schedule("bobs", user="bob"), headers=auth("bob")
        )
        assert for_bob.status_code == 201
        assert (await api.delete("/v1/schedules/two", headers=auth("alice"))).status_code == 204
        assert redis_client.smembers(keys.user_schedules_key("alice")) == {"one"}
        again = await api.post("/v1/schedules", json=new_schedule("three"), headers=auth("alice"))
        assert again.status_code == 201
