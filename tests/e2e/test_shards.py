"""A sharded operator: two replicas, two shards, one Lease per shard.

Each replica acts only on the tasks of the shard it holds (the Job it creates
names it, `devskyy.io/admitted-by`, and only it logs the task's admission), and
when one is killed the other takes its shard once the Lease expires — not
before — with no task lost or run twice.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator import keys
from devskyy_operator.admission.shards import shard_of
from devskyy_operator.controller.leader import LeaderElector
from devskyy_operator.controller.shards import shard_lease_name
from devskyy_operator.crd.task_view import parse_time
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.kube.errors import NotFound
from tests.support.cluster import job_pods
from tests.support.operator_process import OperatorProcess, start_operator
from tests.support.tasks import create_task, diagnostic, get_task, jobs_of, wait_phase
from tests.support.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300), pytest.mark.usefixtures("devskyy_crd")]

SHARDS = 2
PER_SHARD = 6
LEASE_SECONDS = LeaderElector.lease_seconds
# The survivor looks every retry_seconds; the Lease it waits for expires at most
# lease_seconds after the killed replica's last renewal (before the kill).
TAKEOVER_BOUND = LEASE_SECONDS + LeaderElector.retry_seconds + 3


def names_per_shard(prefix: str) -> dict[int, list[str]]:
    """PER_SHARD task names of each shard (the burst covers both shards evenly)."""
    found: dict[int, list[str]] = {s: [] for s in range(SHARDS)}
    i = 0
    while any(len(v) < PER_SHARD for v in found.values()):
        name = f"{prefix}-{i:03d}"
        if len(found[shard_of(name, SHARDS)]) < PER_SHARD:
            found[shard_of(name, SHARDS)].append(name)
        i += 1
    return found


def operator(
    cluster: LocalCluster, namespace: str, redis_url: str, tmp_path: Path, host: str, limit: int
) -> OperatorProcess:
    extra = {
        "HOSTNAME": host,
        "DEVSKYY_SHARDS": str(SHARDS),
        "DEVSKYY_CONCURRENCY__DIAGNOSTIC": str(limit),
    }
    return start_operator(cluster, namespace, redis_url, tmp_path, extra)


async def holders(kube: KubeClient, namespace: str) -> dict[int, dict[str, Any]]:
    """Each shard's Lease spec (absent shards: no Lease yet)."""
    out: dict[int, dict[str, Any]] = {}
    for shard in range(SHARDS):
        path = resource_path(
            "coordination.k8s.io/v1", "leases", namespace, shard_lease_name(shard, SHARDS)
        )
        try:
            out[shard] = (await kube.get(path))["spec"]
        except NotFound:
            continue
    return out


async def one_shard_each(
    kube: KubeClient, namespace: str, first: str, second: str
) -> dict[int, str] | None:
    specs = await holders(kube, namespace)
    held = {s: str(spec.get("holderIdentity") or "") for s, spec in specs.items()}
    hosts = sorted(h.rsplit("-", 1)[0] for h in held.values() if h)
    return held if len(held) == SHARDS and hosts == sorted([first, second]) else None


def admissions(process: OperatorProcess) -> Counter[str]:
    """Tasks this replica logged as admitted ("Processing task X", once per Job created)."""
    return Counter(
        line.split("Processing task ", 1)[1].split(" ", 1)[0]
        for line in process.log().splitlines()
        if "Processing task " in line
    )


async def test_each_replica_admits_exactly_the_tasks_of_its_shard(
    kube: KubeClient, namespace: str, redis_url: str, cluster: LocalCluster, tmp_path: Path
) -> None:
    alpha = operator(cluster, namespace, redis_url, tmp_path, "alpha", limit=8)
    beta: OperatorProcess | None = None
    try:
        await eventually(lambda: asyncio.to_thread(alpha.ready), timeout=60, what="alpha to act")
        beta = operator(cluster, namespace, redis_url, tmp_path, "beta", limit=8)
        held = await eventually(
            lambda: one_shard_each(kube, namespace, "alpha", "beta"), timeout=60,
            what="alpha to hand shard 1 over to beta",
        )  # fmt: skip
        assert held[0].startswith("alpha-")  # shard 0 moves last
        by_shard = names_per_shard("burst")
        names = [n for shard_names in by_shard.values() for n in shard_names]
        await asyncio.gather(
            *(create_task(kube, namespace, diagnostic(n, sleep_seconds=1)) for n in names)
        )
        for name in names:
            task = await wait_phase(kube, namespace, name, "Succeeded", "Failed", timeout=180)
            assert task["status"]["phase"] == "Succeeded", task["status"]

        assert await one_shard_each(kube, namespace, "alpha", "beta") == held  # no move
        jobs = {j["metadata"]["name"]: j for j in await jobs_of(kube, namespace)}
        assert sorted(jobs) == sorted(names)  # one Job per task, none extra
        logged = {"alpha": admissions(alpha), "beta": admissions(beta)}
        for shard, shard_names in by_shard.items():
            holder = held[shard]
            host = holder.rsplit("-", 1)[0]
            other = "beta" if host == "alpha" else "alpha"
            for name in shard_names:
                annotations = jobs[name]["metadata"].get("annotations") or {}
                assert annotations.get(keys.ANNOTATION_ADMITTED_BY) == holder, name
                assert logged[host][name] == 1, name
                assert logged[other][name] == 0, name
                assert len(await job_pods(kube, namespace, name)) == 1, name
        assert sum(logged["alpha"].values()) == sum(logged["beta"].values()) == PER_SHARD
    finally:
        alpha.kill()
        if beta is not None:
            beta.kill()


async def test_a_killed_replicas_shard_is_taken_over_after_its_lease_with_nothing_lost(
    kube: KubeClient, namespace: str, redis_url: str, cluster: LocalCluster, tmp_path: Path
) -> None:
    # 2 of each shard run at once, so at the kill some run and most wait.
    alpha = operator(cluster, namespace, redis_url, tmp_path, "alpha", limit=4)
    beta: OperatorProcess | None = None
    try:
        await eventually(lambda: asyncio.to_thread(alpha.ready), timeout=60, what="alpha to act")
        beta = operator(cluster, namespace, redis_url, tmp_path, "beta", limit=4)
        held = await eventually(
            lambda: one_shard_each(kube, namespace, "alpha", "beta"), timeout=60,
            what="one shard each",
        )  # fmt: skip
        victim_shard = next(s for s, h in held.items() if h.startswith("beta-"))
        by_shard = names_per_shard("kill")
        names = [n for shard_names in by_shard.values() for n in shard_names]
        await asyncio.gather(
            *(create_task(kube, namespace, diagnostic(n, sleep_seconds=2)) for n in names)
        )
        await wait_phase(kube, namespace, by_shard[victim_shard][0], "Running", "Succeeded")

        beta.kill()  # SIGKILL: no release, the Lease must expire
        killed = time.monotonic()
        last = (await holders(kube, namespace))[victim_shard]
        assert last["holderIdentity"] == held[victim_shard]
        renewed = parse_time(last["renewTime"])
        assert renewed is not None
        expires = renewed.timestamp() + int(last["leaseDurationSeconds"])
        waiting = [
            n
            for n in by_shard[victim_shard]
            if (await get_task(kube, namespace, n)).get("status", {}).get("phase") != "Succeeded"
        ]
        assert waiting, "the kill was not mid-burst: every task of the shard had finished"

        async def taken_over() -> bool:
            spec = (await holders(kube, namespace))[victim_shard]
            return str(spec.get("holderIdentity") or "").startswith("alpha-")

        await eventually(
            taken_over, timeout=TAKEOVER_BOUND, interval=0.2,
            what=f"alpha to take shard {victim_shard} within {TAKEOVER_BOUND}s",
        )  # fmt: skip
        took = time.monotonic() - killed
        assert took < TAKEOVER_BOUND
        acquired = parse_time((await holders(kube, namespace))[victim_shard]["acquireTime"])
        assert acquired is not None
        assert acquired.timestamp() >= expires, (acquired, datetime.fromtimestamp(expires))

        for name in names:
            task = await wait_phase(kube, namespace, name, "Succeeded", "Failed", timeout=180)
            assert task["status"]["phase"] == "Succeeded", task["status"]
            assert task["status"].get("attempts") == 1, task["status"]
        assert sorted(j["metadata"]["name"] for j in await jobs_of(kube, namespace)) == sorted(
            names
        )
        for name in names:
            assert len(await job_pods(kube, namespace, name)) == 1, name
        # The survivor admitted what was left of the victim's shard (and only once each).
        after = admissions(alpha)
        assert all(after[n] <= 1 for n in names)
        assert [n for n in waiting if after[n] == 1], "alpha admitted none of the shard's rest"
    finally:
        alpha.kill()
        if beta is not None:
            beta.kill()
