"""Creating and observing DevSkyyTask resources in tests."""

from __future__ import annotations

from typing import Any

from devskyy_operator import keys
from devskyy_operator.kube.client import KubeClient, resource_path
from tests.support.waiting import eventually


def task_body(name: str, task_type: str, task_input: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": keys.API_VERSION,
        "kind": keys.KIND,
        "metadata": {"name": name},
        "spec": {"type": task_type, "input": task_input, **spec},
    }


def diagnostic(name: str, user: str = "alice", **fields: Any) -> dict[str, Any]:
    spec = {k: fields.pop(k) for k in ("priority", "retries", "timeoutSeconds") if k in fields}
    return task_body(name, "diagnostic", {"user_id": user, **fields}, **spec)


def tasks_path(namespace: str, name: str | None = None) -> str:
    return resource_path(keys.API_VERSION, keys.PLURAL, namespace, name)


async def create_task(kube: KubeClient, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    return await kube.create(tasks_path(namespace), body)


async def get_task(kube: KubeClient, namespace: str, name: str) -> dict[str, Any]:
    return await kube.get(tasks_path(namespace, name))


async def wait_phase(
    kube: KubeClient, namespace: str, name: str, *phases: str, timeout: float = 120.0
) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        task = await get_task(kube, namespace, name)
        return task if (task.get("status") or {}).get("phase") in phases else None

    return await eventually(reached, timeout=timeout, what=f"task {name} to reach {phases}")


async def jobs_of(kube: KubeClient, namespace: str) -> list[dict[str, Any]]:
    return await kube.list(resource_path("batch/v1", "jobs", namespace))
