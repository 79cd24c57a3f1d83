"""The bridge as a real process (`devskyy-bridge`) and the checks every crash test ends with."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from devskyy_agents.models import parse_spec
from devskyy_operator import keys
from devskyy_operator.kube.client import KubeClient
from devskyy_operator.redisq import Redis, enqueue
from tests.support.operator_process import ComponentProcess
from tests.support.ports import free_port
from tests.support.tasks import tasks_path
from tests.support.waiting import eventually

BRIDGE = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "devskyy-bridge"


class BridgeProcess(ComponentProcess):
    """`devskyy-bridge`; ready() is True once its task cache is synced."""

    def created_total(self, task_type: str = "diagnostic") -> float:
        pattern = rf'^devskyy_bridge_created_total\{{type="{task_type}"\}} (\S+)$'
        found = re.search(pattern, self.metrics(), re.MULTILINE)
        return float(found.group(1)) if found else 0.0


def start_bridge(
    kubeconfig: Path,
    namespace: str,
    redis_url: str,
    log_dir: Path,
    extra: Mapping[str, str] | None = None,
) -> BridgeProcess:
    health, metrics = free_port(), free_port()
    env = {
        **os.environ,
        "DEVSKYY_KUBECONFIG": str(kubeconfig),
        "DEVSKYY_NAMESPACE": namespace,
        "DEVSKYY_REDIS_URL": redis_url,
        "DEVSKYY_HEALTH_PORT": str(health),
        "DEVSKYY_METRICS_PORT": str(metrics),
        "DEVSKYY_BRIDGE_INTERVAL_SECONDS": "0.2",
        "PYTHONUNBUFFERED": "1",
        **(extra or {}),
    }
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"bridge-{health}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen([str(BRIDGE)], env=env, stdout=log, stderr=subprocess.STDOUT)
    return BridgeProcess(process, health, metrics, log_path)


@contextmanager
def running_bridge(
    kubeconfig: Path,
    namespace: str,
    redis_url: str,
    log_dir: Path,
    extra: Mapping[str, str] | None = None,
) -> Iterator[BridgeProcess]:
    bridge = start_bridge(kubeconfig, namespace, redis_url, log_dir, extra)
    try:
        yield bridge
    finally:
        bridge.kill()


def diagnostic_spec(user: str = "alice", priority: int = 100, **fields: Any) -> Any:
    return parse_spec(
        {"type": "diagnostic", "input": {"user_id": user, **fields}, "priority": priority}
    )


async def enqueue_many(redis: Redis, count: int, **fields: Any) -> list[str]:
    """`count` diagnostic tasks; priorities vary so that claim order matters."""
    ids = []
    for n in range(count):
        spec = diagnostic_spec(priority=100 + n % 7, **fields)
        ids.append((await enqueue(redis, spec)).task_id)
    return ids


async def resources(kube: KubeClient, namespace: str) -> dict[str, dict[str, Any]]:
    return {item["metadata"]["name"]: item for item in await kube.list(tasks_path(namespace))}


async def all_bridged(kube: KubeClient, namespace: str, ids: list[str]) -> bool:
    return set(await resources(kube, namespace)) >= set(ids)


async def assert_each_exactly_once(
    kube: KubeClient, namespace: str, redis: Redis, ids: list[str]
) -> None:
    """Every id is one CR made from its own queue entry; the queue and leases are empty."""
    found = await resources(kube, namespace)
    assert set(found) == set(ids), (set(ids) - set(found), set(found) - set(ids))
    for task_id, item in found.items():
        annotations = item["metadata"].get("annotations") or {}
        created_at = await redis.hget(keys.task_key(task_id), "created_at")
        assert annotations[keys.ANNOTATION_SOURCE] == "api"
        assert annotations[keys.ANNOTATION_ENQUEUED_AT] == created_at
        assert item["metadata"]["labels"][keys.LABEL_TASK_TYPE] == "diagnostic"
    assert await redis.zcard(keys.queue_key("diagnostic")) == 0
    assert await redis.zcard(keys.leases_key("diagnostic")) == 0


async def wait_resource(kube: KubeClient, namespace: str, name: str) -> dict[str, Any]:
    """The CR once the bridge has created it."""

    async def found() -> dict[str, Any] | None:
        return (await resources(kube, namespace)).get(name)

    return await eventually(found, timeout=30, what=f"CR {name}")


async def admit_all(kube: KubeClient, namespace: str, ids: list[str]) -> bool:
    """Mark every waiting CR Running (what the operator's admission would do); True
    once every id has its CR."""
    found = await resources(kube, namespace)
    for name, item in found.items():
        if not (item.get("status") or {}).get("phase"):
            await kube.patch(
                tasks_path(namespace, name) + "/status", {"status": {"phase": "Running"}}
            )
    return set(found) >= set(ids)
