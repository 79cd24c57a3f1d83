"""The apiserver's CPU per DevSkyyTask status patch: CEL rules on create only vs always.

Every status write of a task made the apiserver re-evaluate all the CEL rules of
its immutable spec (pprof: `cel.(*Validator).Validate` ≈ 11 % of the apiserver
during admission). The committed CRD guards them (crd/rules.py `on_create`). The
baseline is the same CRD with every guard taken off again (`unguarded`, which
gives back the CRD as it was before the guards, byte for byte in the rules).

One control plane without a node (`node=False`), one set of tasks: the rounds
alternate the two CRDs on the same kind (the order flips every round, ABBA), so
both sides see the same machine minute by minute. After each CRD swap the bench
waits until that CRD is the one in force (`in_force`: a probe task, created while
no name rule existed, takes a status write only under the guarded CRD) and warms
up. A round patches the status of every task once (a new message each round, so
every patch is a real write), 16 in flight, and reads the apiserver's and etcd's
CPU (utime+stime, /proc/<pid>/stat) around it. The spec is bench_operator.py's
(a diagnostic task): the spec-level rules apply, the per-field ones (URLs,
paths) do not, so a task with those fields saves more. The client shares the two
cores; its CPU is the same on both sides.

Usage:
    .venv/bin/python bench/bench_status_patch.py [--tasks 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_operator import CONCURRENCY, cpu_seconds, create_all, namespace, task_manifest
from tests.support.cluster import kubectl
from tests.support.operator_process import CRD_FILE

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator.crd.manifest import render_yaml
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.kube.errors import Invalid

NAMESPACE = "bench-status"
PROBE = "probe.no-task-id"  # a valid object name, not a task id
GUARD = "oldSelf.hasValue() || ("
TASKS_PATH = ("devskyy.io/v1alpha1", "devskyytasks")
WARMUP = 50


def committed_crd() -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load(CRD_FILE.read_text())
    return crd


def _rules(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(node.get("x-kubernetes-validations", []))
    for child in (node.get("properties") or {}).values():
        found += _rules(child)
    if "items" in node:
        found += _rules(node["items"])
    return found


def _root(crd: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def unguarded(crd: dict[str, Any]) -> dict[str, Any]:
    """The CRD with each `on_create` rule back to the plain rule (run on every write)."""
    plain = copy.deepcopy(crd)
    for rule in _rules(_root(plain)):
        if rule.pop("optionalOldSelf", False):
            if not (rule["rule"].startswith(GUARD) and rule["rule"].endswith(")")):
                raise ValueError(f"not an on_create rule: {rule}")
            rule["rule"] = rule["rule"][len(GUARD) : -1]
    return plain


def without_name_rule(crd: dict[str, Any]) -> dict[str, Any]:
    loose = copy.deepcopy(crd)
    del _root(loose)["x-kubernetes-validations"]
    return loose


def apply(cluster: LocalCluster, crd: dict[str, Any]) -> None:
    kubectl(cluster, "apply", "--server-side", "--force-conflicts", "-f", "-",
            input_text=render_yaml(crd, ""))  # fmt: skip
    kubectl(cluster, "wait", "--for=condition=Established", "crd/devskyytasks.devskyy.io")


def task_path(name: str | None = None) -> str:
    return resource_path(*TASKS_PATH, NAMESPACE, name)


async def in_force(kube: KubeClient) -> tuple[bool, bool]:
    """(a name rule refuses a new probe, the old probe takes a status write), dry runs.

    Under the guarded CRD both; under the unguarded one only the first (its name
    rule also refuses the probe's status write); under the name-rule-less CRD the
    probe was created with, only the second.
    """
    try:
        await kube.request("POST", task_path(), body=task_manifest("probe.new"),
                           params={"dryRun": "All"})  # fmt: skip
        name_rule = False
    except Invalid:
        name_rule = True
    try:
        await kube.patch(task_path(PROBE) + "/status", {"status": {"message": "probe"}},
                         dryRun="All")  # fmt: skip
        writable = True
    except Invalid:
        writable = False
    return name_rule, writable


async def switch(
    cluster: LocalCluster, kube: KubeClient, crd: dict[str, Any], guarded: bool
) -> None:
    """Apply `crd` and wait until it is the one the apiserver validates with."""
    await asyncio.to_thread(apply, cluster, crd)
    deadline = time.monotonic() + 60
    while await in_force(kube) != (True, guarded):
        if time.monotonic() > deadline:
            raise TimeoutError("the applied CRD never came into force")
        await asyncio.sleep(0.1)


async def patch_all(kube: KubeClient, names: list[str], message: str) -> float:
    """Patch every task's status once, CONCURRENCY in flight; the wall time."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(name: str) -> None:
        async with limit:
            await kube.patch(task_path(name) + "/status", {"status": {"message": message}})

    start = time.perf_counter()
    await asyncio.gather(*(one(n) for n in names))
    return time.perf_counter() - start


async def measure(cluster: LocalCluster, tasks: int, rounds: int) -> None:
    guarded_crd = committed_crd()
    sides = {"rules on every write (before)": unguarded(guarded_crd),
             "rules on create only (after)": guarded_crd}  # fmt: skip
    apiserver = cluster.processes["kube-apiserver"].pid
    etcd = cluster.processes["etcd"].pid
    results: dict[str, list[tuple[float, float, float]]] = {side: [] for side in sides}
    async with KubeClient.from_env(str(cluster.kubeconfig)) as kube:
        await namespace(kube, NAMESPACE)
        apply(cluster, without_name_rule(guarded_crd))
        names = [f"bench-{i:05d}" for i in range(tasks)]
        probe = task_manifest(PROBE)
        while True:  # until the name-rule-less CRD is in force
            try:
                await kube.create(task_path(), probe)
                break
            except Invalid:
                await asyncio.sleep(0.1)
        await create_all(kube, task_path(), [task_manifest(n) for n in names])
        for number in range(rounds):
            order = list(sides.items())
            for side, crd in order if number % 2 == 0 else reversed(order):
                await switch(cluster, kube, crd, crd is guarded_crd)
                await patch_all(kube, names[:WARMUP], f"warm-up {number}")
                api0, etcd0 = cpu_seconds(apiserver), cpu_seconds(etcd)
                wall = await patch_all(kube, names, f"round {number}")
                api_ms = 1000 * (cpu_seconds(apiserver) - api0) / tasks
                etcd_ms = 1000 * (cpu_seconds(etcd) - etcd0) / tasks
                results[side].append((api_ms, etcd_ms, tasks / wall))
                print(f"round {number + 1} {side:32} apiserver {api_ms:6.2f} ms/patch, "
                      f"etcd {etcd_ms:5.2f} ms/patch, {tasks / wall:6.1f} patches/s",
                      flush=True)  # fmt: skip
    print(f"\nStatus patches: {tasks} DevSkyyTasks, {CONCURRENCY} in flight, "
          f"{rounds} rounds per side (medians)")  # fmt: skip
    print(f"{'CRD':34} {'apiserver ms/patch':>19} {'etcd ms/patch':>14} {'patches/s':>10}")
    medians = {}
    for side, rows in results.items():
        api_ms, etcd_ms, rate = (statistics.median(column) for column in zip(*rows, strict=True))
        medians[side] = (api_ms, rate)
        print(f"{side:34} {api_ms:19.2f} {etcd_ms:14.2f} {rate:10.1f}")
    (before_cpu, before_rate), (after_cpu, after_rate) = medians.values()
    print(f"{'after / before':34} {after_cpu / before_cpu:18.2f}x {'':14} "
          f"{after_rate / before_rate:9.2f}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="bench-status-") as tmp,
        LocalCluster(Path(tmp) / "cluster", node=False) as cluster,
    ):
        asyncio.run(measure(cluster, args.tasks, args.rounds))


if __name__ == "__main__":
    main()
