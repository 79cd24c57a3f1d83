"""Nothing the local cluster starts outlives it: clean stop, and a parent killed by SIGKILL."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import pytest

from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

# A process that starts a private cluster, runs a pod that sleeps with a marker in
# its command line, prints the pids it started, then waits to be killed.
STARTER = """
import asyncio, sys, time
from pathlib import Path
from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator.kube.client import KubeClient, resource_path

marker = sys.argv[2]
cluster = LocalCluster(Path(sys.argv[1])).start()

async def run_pod():
    async with KubeClient.from_env(str(cluster.kubeconfig)) as kube:
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sleeper"},
               "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False,
                        "containers": [{"name": "c", "image": "local/sh",
                                        "command": ["sh", "-c", f"exec sleep 600 # {marker}"]}]}}
        while True:  # the namespace's ServiceAccount appears shortly after start
            try:
                await kube.create(resource_path("v1", "pods", "default"), pod)
                break
            except Exception:
                await asyncio.sleep(0.2)
        while True:
            got = await kube.get(resource_path("v1", "pods", "default", "sleeper"))
            if (got.get("status") or {}).get("phase") == "Running":
                return
            await asyncio.sleep(0.1)

asyncio.run(run_pod())
print(" ".join(str(p.pid) for p in cluster.processes.values()), flush=True)
time.sleep(3600)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def _marked(marker: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker in (proc / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


async def test_sigkilled_parent_takes_the_whole_cluster_and_its_pods_along(
    tmp_path: Path,
) -> None:
    marker = f"devskyy-lifecycle-{uuid.uuid4().hex}"
    starter = await asyncio.create_subprocess_exec(
        sys.executable, "-c", STARTER, str(tmp_path / "cluster"), marker,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert starter.stdout is not None
        line = (await asyncio.wait_for(starter.stdout.readline(), 180)).decode()
        pids = [int(p) for p in line.split()]
        assert len(pids) >= 5  # etcd, apiserver, controller-manager, scheduler, node agent
        assert all(_alive(p) for p in pids)
        assert [p for p in _marked(marker) if p != starter.pid]  # the pod's process runs
        starter.kill()  # SIGKILL: no cleanup code of the starter runs
        await asyncio.wait_for(starter.wait(), 30)

        async def all_gone() -> bool:
            return not any(_alive(p) for p in pids) and not _marked(marker)

        await eventually(all_gone, timeout=60, what="every cluster and pod process to exit")
    finally:
        if starter.returncode is None:
            starter.kill()
            await starter.wait()
