"""Nothing the local cluster starts outlives it, and two clusters do not meet.

A parent killed by SIGKILL takes every process along (control plane, node
daemons, shims and containers) and leaves no link, no cgroup tree behind; a
private cluster runs next to the suite's cluster on a node slot of its own
and stops without touching it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path

import pytest

from devskyy_devcluster.images import ImageSet
from devskyy_devcluster.launcher import LocalCluster
from devskyy_devcluster.node import cgroup_hierarchies
from devskyy_operator.kube.client import KubeClient, resource_path
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

# A process that starts a private cluster, runs a pod that sleeps with a marker in
# its command line, prints what it started, then waits to be killed.
STARTER = """
import asyncio, json, sys, time
from pathlib import Path
from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator.kube.client import KubeClient, resource_path

workdir, marker, image = sys.argv[1:4]
cluster = LocalCluster(Path(workdir)).start()

async def run_pod():
    async with KubeClient.from_env(str(cluster.kubeconfig)) as kube:
        code = f"import time; time.sleep(600)  # {marker}"
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sleeper"},
               "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False,
                        "containers": [{"name": "c", "image": image,
                                        "command": ["python3", "-c", code]}]}}
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
node = cluster.the_node
pids = [p.pid for p in cluster.processes.values()] + [node.process.pid, node.init_pid]
print(json.dumps({"pids": pids, "link": node.addresses.host_link,
                  "cgroup": node.addresses.cgroup_root}), flush=True)
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


def _cgroups(root: str) -> list[Path]:
    return [h / root.lstrip("/") for h in cgroup_hierarchies() if (h / root.lstrip("/")).exists()]


def _link_exists(name: str) -> bool:
    return Path(f"/sys/class/net/{name}").exists()


async def test_sigkilled_parent_takes_the_whole_cluster_and_its_pods_along(
    tmp_path: Path, images: ImageSet
) -> None:
    marker = f"devskyy-lifecycle-{uuid.uuid4().hex}"
    starter = await asyncio.create_subprocess_exec(
        sys.executable, "-c", STARTER, str(tmp_path / "cluster"), marker, images.base,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert starter.stdout is not None
        started = json.loads((await asyncio.wait_for(starter.stdout.readline(), 240)).decode())
        pids = started["pids"]
        assert len(pids) >= 6  # etcd, apiserver, controller-manager, scheduler, unshare, init
        assert all(_alive(p) for p in pids)
        assert [p for p in _marked(marker) if p != starter.pid]  # the container's process runs
        assert _link_exists(started["link"])
        assert _cgroups(started["cgroup"])
        starter.kill()  # SIGKILL: no cleanup code of the starter runs
        await asyncio.wait_for(starter.wait(), 30)

        async def all_gone() -> bool:
            return (
                not any(_alive(p) for p in pids)
                and not _marked(marker)
                and not _link_exists(started["link"])
                and not _cgroups(started["cgroup"])
            )

        await eventually(all_gone, timeout=90, what="every process, the link and the cgroups")
    finally:
        if starter.returncode is None:
            starter.kill()
            await starter.wait()


async def _run_to_end(kube: KubeClient, image: str, name: str) -> str:
    body = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False,
                 "containers": [{"name": "c", "image": image, "command": ["true"]}]},
    }  # fmt: skip

    async def created() -> bool:
        try:  # the namespace's ServiceAccount appears shortly after start
            await kube.create(resource_path("v1", "pods", "default"), body)
        except Exception:
            return False
        return True

    await eventually(created, timeout=30, what=f"pod {name} created")

    async def ended() -> str | None:
        pod = await kube.get(resource_path("v1", "pods", "default", name))
        phase = (pod.get("status") or {}).get("phase")
        return str(phase) if phase in ("Succeeded", "Failed") else None

    return await eventually(ended, timeout=120, interval=0.2, what=f"pod {name} to end")


async def test_a_private_cluster_runs_beside_the_suites_and_stops_cleanly(
    cluster: LocalCluster, kube: KubeClient, tmp_path: Path, images: ImageSet
) -> None:
    assert cluster.the_node is not None
    private = LocalCluster(tmp_path / "private", images=images)
    await asyncio.to_thread(private.start)
    try:
        assert private.the_node is not None
        mine, theirs = private.the_node.addresses, cluster.the_node.addresses
        assert mine.slot != theirs.slot
        assert mine.host_ip != theirs.host_ip
        assert mine.cgroup_root != theirs.cgroup_root
        async with KubeClient.from_env(str(private.kubeconfig)) as private_kube:
            assert await _run_to_end(private_kube, images.base, "private") == "Succeeded"
    finally:
        await asyncio.to_thread(private.stop)
    assert not _link_exists(mine.host_link)
    assert not _cgroups(mine.cgroup_root)
    # The suite's node still runs pods: nothing of it was shared with the private one.
    name = f"after-{uuid.uuid4().hex[:8]}"
    assert await _run_to_end(kube, images.base, name) == "Succeeded"
    await kube.delete(resource_path("v1", "pods", "default", name))
