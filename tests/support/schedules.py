"""Creating and observing DevSkyySchedule resources in tests."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from devskyy_agents.clock import utc_iso
from devskyy_operator import keys
from devskyy_operator.kube.client import KubeClient, resource_path
from tests.support.tasks import tasks_path

SCHEDULE_CRD_FILE = (
    Path(__file__).resolve().parents[2] / "deploy" / "crds" / "devskyyschedules.devskyy.io.yaml"
)


def schedule_body(
    name: str, schedule: str, task_input: dict[str, Any], **spec: Any
) -> dict[str, Any]:
    """A schedule of diagnostic runs for user alice."""
    return {
        "apiVersion": keys.API_VERSION,
        "kind": keys.SCHEDULE_KIND,
        "metadata": {"name": name},
        "spec": {
            "schedule": schedule,
            "template": {
                "spec": {"type": "diagnostic", "input": {"user_id": "alice", **task_input}}
            },
            **spec,
        },
    }


def schedules_path(namespace: str, name: str | None = None, subresource: str | None = None) -> str:
    return resource_path(keys.API_VERSION, keys.SCHEDULE_PLURAL, namespace, name, subresource)


async def get_schedule(kube: KubeClient, namespace: str, name: str) -> dict[str, Any]:
    return await kube.get(schedules_path(namespace, name))


async def patch_spec(kube: KubeClient, namespace: str, name: str, **spec: Any) -> None:
    await kube.patch(schedules_path(namespace, name), {"spec": spec})


async def set_last_schedule_time(
    kube: KubeClient, namespace: str, name: str, moment: datetime
) -> None:
    """As an earlier operator would have left it (what an outage looks like afterwards)."""
    stamp = utc_iso(moment, timespec="seconds")
    await kube.patch(
        schedules_path(namespace, name, "status"), {"status": {"lastScheduleTime": stamp}}
    )


async def runs_of(kube: KubeClient, namespace: str, name: str) -> list[dict[str, Any]]:
    return await kube.list(tasks_path(namespace), labelSelector=f"{keys.LABEL_SCHEDULE}={name}")


async def schedule_events(kube: KubeClient, namespace: str, name: str) -> list[dict[str, Any]]:
    events = await kube.list(
        resource_path("v1", "events", namespace), fieldSelector=f"involvedObject.name={name}"
    )
    return [e for e in events if e["involvedObject"].get("kind") == keys.SCHEDULE_KIND]
