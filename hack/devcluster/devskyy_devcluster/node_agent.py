"""A local node agent: a Ready Node whose pods run as sandboxed local processes.

It does the part of a kubelet our tests need: registers the Node, watches pods
bound to it, runs them (see pod_worker), reports status truthfully, kills
processes of deleted pods and removes their objects. Images are not pulled:
every container runs from the Python environment the agent itself runs in.
Pods share the host network (pod IP 127.0.0.1), like hostNetwork pods.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from devskyy_devcluster.pod_env import NodeContext
from devskyy_devcluster.pod_status import rfc3339
from devskyy_devcluster.pod_worker import PodWorker, _now
from devskyy_devcluster.sandbox import root_entries
from devskyy_operator.kube.client import ApiError, KubeClient, resource_path
from devskyy_operator.kube.config import load_kubeconfig
from devskyy_operator.kube.errors import api_error

log = logging.getLogger("devskyy.node")
HEARTBEAT_SECONDS = 20.0


def node_manifest(name: str, cpu: str, memory: str, pods: int) -> dict[str, Any]:
    capacity = {"cpu": cpu, "memory": memory, "pods": str(pods), "ephemeral-storage": "100Gi"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "devskyy.io/local-node": "true",
            },
        },
        "spec": {},
        "status": {"capacity": capacity, "allocatable": capacity},
    }


def node_status(cpu: str, memory: str, pods: int) -> dict[str, Any]:
    now = rfc3339(_now())
    capacity = {"cpu": cpu, "memory": memory, "pods": str(pods), "ephemeral-storage": "100Gi"}
    ok = {"status": "False", "lastHeartbeatTime": now, "lastTransitionTime": now}
    return {
        "capacity": capacity,
        "allocatable": capacity,
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "devskyy local node agent is posting ready status",
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            },
            {"type": "MemoryPressure", "reason": "KubeletHasSufficientMemory", **ok},
            {"type": "DiskPressure", "reason": "KubeletHasNoDiskPressure", **ok},
            {"type": "PIDPressure", "reason": "KubeletHasSufficientPID", **ok},
        ],
        "nodeInfo": {
            "machineID": "devskyy-local",
            "systemUUID": "devskyy-local",
            "bootID": "devskyy-local",
            "kernelVersion": os.uname().release,
            "osImage": "local processes (bubblewrap)",
            "containerRuntimeVersion": "local://bwrap",
            "kubeletVersion": "v1.34.4",
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }


def _terminal(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


class NodeAgent:
    def __init__(self, kube: KubeClient, node: NodeContext, cpu: str, memory: str, pods: int):
        self.kube = kube
        self.node = node
        self.capacity = (cpu, memory, pods)
        self.workers: dict[str, tuple[PodWorker, asyncio.Task[None]]] = {}
        self.roots = root_entries()

    async def register(self) -> None:
        path = resource_path("v1", "nodes")
        await self.kube.create_or_get(path, node_manifest(self.node.node_name, *self.capacity))
        # TaintNodesByCondition adds not-ready taints at creation; we are our own
        # node lifecycle controller, so clear them once we report Ready.
        await self.heartbeat()
        await self.kube.patch(f"{path}/{self.node.node_name}", {"spec": {"taints": None}})

    async def heartbeat(self) -> None:
        path = resource_path("v1", "nodes", name=self.node.node_name, subresource="status")
        await self.kube.patch(path, {"status": node_status(*self.capacity)})

    async def run(self, stop: asyncio.Event) -> None:
        await self.register()
        beat = asyncio.create_task(self._heartbeats(stop))
        try:
            await self._watch_pods(stop)
        finally:
            beat.cancel()
            await self.shutdown()

    async def _heartbeats(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), HEARTBEAT_SECONDS)
            with contextlib.suppress(Exception):
                await self.heartbeat()

    async def _watch_pods(self, stop: asyncio.Event) -> None:
        path = resource_path("v1", "pods")
        selector = f"spec.nodeName={self.node.node_name}"
        first = True
        while not stop.is_set():
            try:
                listing = await self.kube.get(path, {"fieldSelector": selector})
                seen = set()
                for pod in listing.get("items") or []:
                    seen.add(pod["metadata"]["uid"])
                    await self.handle(pod, adopt=first)
                for uid in set(self.workers) - seen:
                    self._forget(uid)
                first = False
                version = listing["metadata"]["resourceVersion"]
                watch = self.kube.watch(path, version, timeout_seconds=60, fieldSelector=selector)
                events = asyncio.ensure_future(_drain(watch, self))
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({events, stopper}, return_when=asyncio.FIRST_COMPLETED)
                for task in (events, stopper):
                    task.cancel()
                if events.done() and not events.cancelled() and events.exception():
                    raise events.exception()  # type: ignore[misc]
            except (ApiError, OSError, Exception) as exc:
                if stop.is_set():
                    return
                log.warning("pod watch failed, relisting: %r", exc)
                await asyncio.sleep(0.5)

    async def handle(self, pod: dict[str, Any], adopt: bool = False, deleted: bool = False) -> None:
        uid = pod["metadata"]["uid"]
        entry = self.workers.get(uid)
        if deleted:
            self._forget(uid)
            return
        if pod["metadata"].get("deletionTimestamp"):
            if entry:
                entry[0].request_termination(pod["metadata"].get("deletionGracePeriodSeconds"))
            elif not _terminal(pod) or pod["metadata"].get("finalizers") is None:
                await self._remove(pod)
            return
        if entry or _terminal(pod):
            return
        if adopt and (pod.get("status") or {}).get("containerStatuses"):
            await self._fail_orphan(pod)
            return
        worker = PodWorker(self.kube, pod, self.node, self.roots)
        self.workers[uid] = (worker, asyncio.create_task(worker.run()))

    async def _fail_orphan(self, pod: dict[str, Any]) -> None:
        """A pod that ran under a previous agent lost its processes with it."""
        status = dict(pod.get("status") or {})
        now = rfc3339(_now())
        status["phase"] = "Failed"
        status["reason"] = "NodeAgentRestarted"
        status["message"] = "the node agent restarted; the pod's processes ended with it"
        status["containerStatuses"] = [
            {
                **c,
                "ready": False,
                "started": False,
                "state": {"terminated": {"exitCode": 137, "reason": "Error", "finishedAt": now}},
            }
            for c in status.get("containerStatuses") or []
        ]
        path = resource_path(
            "v1", "pods", pod["metadata"]["namespace"], pod["metadata"]["name"], "status"
        )
        with contextlib.suppress(ApiError):
            await self.kube.patch(path, {"status": status})

    async def _remove(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        body = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": meta["uid"]},
        }
        with contextlib.suppress(ApiError):
            await self.kube.request(
                "DELETE", resource_path("v1", "pods", meta["namespace"], meta["name"]), body=body
            )

    def _forget(self, uid: str) -> None:
        entry = self.workers.pop(uid, None)
        if entry and not entry[1].done():
            entry[0].request_termination(0)

    async def shutdown(self) -> None:
        """Kill every pod's processes (SIGTERM to the agent stops its pods)."""
        for worker, _ in self.workers.values():
            worker.request_termination(0)
        tasks = [task for _, task in self.workers.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _drain(watch: Any, agent: NodeAgent) -> None:
    async for event in watch:
        kind = event.get("type")
        if kind == "ERROR":
            raise api_error(int(event["object"].get("code", 500)), event["object"], "WATCH", "pods")
        if kind == "BOOKMARK":
            continue
        await agent.handle(event["object"], deleted=kind == "DELETED")


async def amain(args: argparse.Namespace) -> None:
    config = load_kubeconfig(args.kubeconfig)
    server = urlsplit(config.server)
    node = NodeContext(
        node_name=args.node_name,
        apiserver_host=server.hostname or "127.0.0.1",
        apiserver_port=server.port or 443,
        state_dir=Path(args.state_dir),
    )
    node.state_dir.mkdir(parents=True, exist_ok=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with KubeClient(config) as kube:
        await NodeAgent(kube, node, args.cpu, args.memory, args.pods).run(stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--node-name", default="devskyy-local")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--cpu", default="16", help="advertised CPU capacity")
    parser.add_argument("--memory", default="64Gi", help="advertised memory capacity")
    parser.add_argument("--pods", type=int, default=250, help="advertised pod capacity")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s - %(name)s - %(levelname)s - %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    asyncio.run(amain(args))


if __name__ == "__main__":
    main()
