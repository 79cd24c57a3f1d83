"""POST /v1/schedules -> Redis -> bridge -> DevSkyySchedule -> the real operator, and
the CR's status back through the bridge into GET /v1/schedules/{name}."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator import keys
from devskyy_operator.controller.schedule_plan import REASON_SUSPENDED
from devskyy_operator.kube.client import KubeClient
from devskyy_operator.kube.errors import NotFound
from tests.api.conftest import app_client, auth, settings_for
from tests.bridge.support import running_bridge
from tests.support.operator_process import running_operator
from tests.support.schedules import get_schedule, schedule_body, schedules_path
from tests.support.waiting import eventually

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(150),
    pytest.mark.usefixtures("devskyy_crd", "schedule_crd"),
]
FAST = {"DEVSKYY_SCHEDULE_STATUS_INTERVAL_SECONDS": "0.5"}


async def test_api_schedule_becomes_a_cr_and_its_status_comes_back(
    cluster: LocalCluster, namespace: str, redis_url: str, tmp_path: Path, kube: KubeClient
) -> None:
    body = {
        "name": "nightly",
        "spec": {
            "schedule": "0 3 * * *",
            "timeZone": "Europe/Berlin",
            "template": {"spec": {"type": "diagnostic", "input": {"user_id": "alice"}}},
        },
    }
    alice = auth("alice")
    async with app_client(settings_for(redis_url)) as api:
        created = await api.post("/v1/schedules", json=body, headers=alice)
        assert created.status_code == 201, created.text
        with (
            running_operator(cluster, namespace, redis_url, tmp_path),
            running_bridge(cluster.kubeconfig, namespace, redis_url, tmp_path, FAST),
        ):

            async def view() -> dict[str, Any]:
                response = await api.get("/v1/schedules/nightly", headers=alice)
                assert response.status_code == 200, response.text
                found: dict[str, Any] = response.json()
                return found

            async def next_time_shown() -> bool:
                shown = await view()
                return shown["applied"] and bool((shown["status"] or {}).get("nextScheduleTime"))

            await eventually(next_time_shown, timeout=60, what="status in GET /v1/schedules")
            resource = await get_schedule(kube, namespace, "nightly")
            assert resource["spec"]["timeZone"] == "Europe/Berlin"
            assert resource["metadata"]["labels"][keys.LABEL_USER] == "alice"
            assert (await view())["status"]["nextScheduleTime"] == resource["status"][
                "nextScheduleTime"
            ]

            suspended = await api.patch(
                "/v1/schedules/nightly", json={"suspend": True}, headers=alice
            )
            assert suspended.status_code == 200, suspended.text

            async def suspend_reached_the_cr() -> bool:
                found = await get_schedule(kube, namespace, "nightly")
                return found["spec"]["suspend"] is True

            await eventually(suspend_reached_the_cr, timeout=30, what="suspend on the CR")

            async def suspended_status_shown() -> bool:
                return ((await view())["status"] or {}).get("reason") == REASON_SUSPENDED

            await eventually(suspended_status_shown, timeout=30, what="Suspended in the API")

            # A CR made with kubectl is left alone, even when the API is given its name.
            await kube.create(schedules_path(namespace), schedule_body("by-hand", "0 4 * * *", {}))
            clash = {**body, "name": "by-hand", "spec": {**body["spec"], "suspend": True}}
            assert (await api.post("/v1/schedules", json=clash, headers=alice)).status_code == 201

            async def clash_settled() -> bool:
                response = await api.get("/v1/schedules/by-hand", headers=alice)
                return bool(response.json()["applied"])

            await eventually(clash_settled, timeout=30, what="the clash settled")
            by_hand = await get_schedule(kube, namespace, "by-hand")
            assert by_hand["spec"]["schedule"] == "0 4 * * *"
            assert "suspend" not in by_hand["spec"] or by_hand["spec"]["suspend"] is False
            assert (await api.delete("/v1/schedules/by-hand", headers=alice)).status_code == 204

            assert (await api.delete("/v1/schedules/nightly", headers=alice)).status_code == 204

            async def cr_gone() -> bool:
                try:
                    await get_schedule(kube, namespace, "nightly")
                except NotFound:
                    return True
                return False

            await eventually(cr_gone, timeout=30, what="CR deleted")
            assert (await api.get("/v1/schedules/nightly", headers=alice)).status_code == 404
            await get_schedule(kube, namespace, "by-hand")  # still there
            listed = (await api.get("/v1/schedules", headers=auth("ops"))).json()["schedules"]
            assert listed == []
