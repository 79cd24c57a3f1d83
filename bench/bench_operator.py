"""Operator admission and cost per task: admitted tasks/s, operator CPU seconds
and API writes per task from create to Succeeded (CR -> Job latency under a
sustained load is bench_latency.py's).

Baseline measured in the same run, against the same apiserver, with the same
client and the same concurrency: creating the same number of Jobs directly.
The ratio says how much of the raw Job-create rate the operator keeps while it
also validates, writes Redis records and patches status.

Starts its own control plane without a node (`node=False`), redis-server and
the operator process: 2 x 500 pods on the real node would compete for the same
cores as the operator being measured, so a "fast node" stands in for the
kubelet (a Node object the scheduler binds the pods to; the bench then writes
each pod's status as Succeeded, exit 0, through the pods/status subresource).
The real Job controller turns that into a complete Job, and the operator
records the outcome from it. Phase A admits: the tasks are created first, the
operator started on that backlog, and the rate runs from its readiness (leader)
to the last Job, so the client's CR-create rate is not in the operator's figure.
Phase B completes (every pod marked Succeeded, wait for every task Succeeded),
so the admission figure is not shared with the fast node's work.

CPU: utime+stime of the operator process (/proc/<pid>/stat) per phase. API
writes: deltas of the apiserver's `apiserver_request_total` by verb, resource
and subresource over both phases; the operator's own are Job creates, task
status patches and the events it posted (counted by their source component).
Usage:
    .venv/bin/python bench/bench_operator.py [--tasks 500] [--profile out.txt]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.cluster import kubectl_binary
from tests.support.operator_process import CRD_FILE, running_operator
from tests.support.redis_server import running_redis

from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator.controller.events import COMPONENT
from devskyy_operator.crd.task_view import task_view_from_body
from devskyy_operator.job.builder import build_job
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.settings import Settings

CONCURRENCY = 16
NODE = "bench-fast-node"
NODE_SIZE = {"cpu": "1000", "memory": "4000Gi", "ephemeral-storage": "100000Gi", "pods": "100000"}
TASK_PATH = ("devskyy.io/v1alpha1", "devskyytasks")
WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE", "APPLY")
_SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat (fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def host_steal_seconds() -> float:
    """CPU time the hypervisor gave to others while this machine's vCPUs wanted it
    (/proc/stat `steal`): reported so that a window on a busy host can be told
    from a slower operator."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


async def apiserver_writes(kube: KubeClient) -> Counter[tuple[str, str, str]]:
    """apiserver_request_total of the write verbs, by (verb, resource, subresource)."""
    async with kube._transport.open("GET", "/metrics", headers={"Accept": "text/plain"}) as answer:
        answer.raise_for_status()
        text = await answer.text()
    counts: Counter[tuple[str, str, str]] = Counter()
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        if labels.get("verb") in WRITE_VERBS:
            key = (labels["verb"], labels.get("resource", ""), labels.get("subresource", ""))
            counts[key] += int(float(match["value"]))
    return counts


def fast_node() -> dict[str, Any]:
    """A Ready Node that no kubelet serves: the scheduler binds pods to it and the
    bench reports their outcome (nodes may carry status on create)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": NODE, "labels": {"kubernetes.io/hostname": NODE}},
        "status": {
            "capacity": dict(NODE_SIZE),
            "allocatable": dict(NODE_SIZE),
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "bench fast node", "lastHeartbeatTime": _now(),
                            "lastTransitionTime": _now()}],
        },
    }  # fmt: skip


async def add_fast_node(kube: KubeClient) -> None:
    await kube.create(resource_path("v1", "nodes"), fast_node())
    # TaintNodesByCondition taints a new node not-ready; no node controller runs
    # to lift it (a cluster without a node runs no node-lifecycle controller).
    await kube.patch(resource_path("v1", "nodes", None, NODE), {"spec": {"taints": None}})


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def succeeded_pod_status(pod: dict[str, Any]) -> dict[str, Any]:
    """What a kubelet reports for a pod whose containers all exited 0 at once."""
    now = _now()
    containers = pod["spec"]["containers"]
    return {
        "status": {
            "phase": "Succeeded",
            "startTime": now,
            "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted",
                            "lastTransitionTime": now}],
            "containerStatuses": [
                {"name": c["name"], "image": c["image"], "imageID": "", "ready": False,
                 "restartCount": 0, "started": False,
                 "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                          "startedAt": now, "finishedAt": now}}}
                for c in containers
            ],
        }
    }  # fmt: skip


def job_manifest(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "task", "image": "local/x", "command": ["true"]}],
                }
            },
        },
    }


def task_manifest(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "devskyy.io/v1alpha1",
        "kind": "DevSkyyTask",
        "metadata": {"name": name},
        "spec": {"type": "diagnostic", "input": {"user_id": "bench"}},
    }


async def create_all(kube: KubeClient, path: str, bodies: list[dict[str, Any]]) -> dict[str, float]:
    """Create with bounded concurrency; return name -> time the create returned."""
    done: dict[str, float] = {}
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(body: dict[str, Any]) -> None:
        async with limit:
            await kube.create(path, body)
            done[body["metadata"]["name"]] = time.perf_counter()

    await asyncio.gather(*(one(b) for b in bodies))
    return done


async def namespace(kube: KubeClient, name: str) -> None:
    await kube.create(
        resource_path("v1", "namespaces"),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
    )


async def list_version(kube: KubeClient, path: str) -> str:
    return str((await kube.get(path))["metadata"]["resourceVersion"])


async def watch_added(
    kube: KubeClient,
    path: str,
    expected: int,
    seen: dict[str, float],
    since: str | None = None,
    *,
    counted: dict[str, float] | None = None,
    all_seen: asyncio.Event | None = None,
) -> None:
    """Record when each object under `path` first appeared (after `since`), until
    `expected` did; `all_seen` is set then.

    With `counted` (a Job collection), also when the Job controller first counted
    a pod of each Job, until `expected` were: it creates the pod and writes
    `status.active` in the same sync. That is how the bench times pods: a pod
    watch would make the apiserver encode every pod event as JSON for the bench
    alone (the controllers watch in protobuf, the operator watches no Pending
    pod), load the raw baseline's window does not carry."""
    version = since or await list_version(kube, path)

    def done() -> bool:
        return len(seen) >= expected and (counted is None or len(counted) >= expected)

    while not done():
        async for event in kube.watch(path, version, timeout_seconds=60):
            obj = event["object"]
            meta = obj["metadata"]
            version = meta.get("resourceVersion", version)
            if event["type"] == "BOOKMARK":
                continue
            now = time.perf_counter()
            if event["type"] == "ADDED":
                seen.setdefault(meta["name"], now)
            if counted is not None and job_counted_a_pod(obj):
                counted.setdefault(meta["name"], now)
            if all_seen is not None and len(seen) >= expected:
                all_seen.set()
            if done():
                return


def job_counted_a_pod(job: dict[str, Any]) -> bool:
    """The Job controller has written the count of a pod it made for this Job."""
    status = job.get("status") or {}
    return any(status.get(count) for count in ("active", "succeeded", "failed"))


async def until_set(event: asyncio.Event, watcher: asyncio.Task[None], timeout: float) -> None:
    """Wait for `event`, or fail with `watcher` (whose failure would never set it)."""
    waiter = asyncio.ensure_future(event.wait())
    done, _ = await asyncio.wait({waiter, watcher}, timeout=timeout, return_when="FIRST_COMPLETED")
    waiter.cancel()
    if watcher in done:
        watcher.result()  # a failed watch raises here
    if not event.is_set():
        raise TimeoutError("the watched objects never all appeared")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def finish_pending_pods(kube: KubeClient, ns: str, done: set[str]) -> None:
    """The fast node, one pass: mark every Pending pod Succeeded (once each)."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def finish(pod: dict[str, Any]) -> None:
        async with limit:
            path = resource_path("v1", "pods", ns, pod["metadata"]["name"], "status")
            with contextlib.suppress(Exception):  # gone or changed: the next look retries
                await kube.patch(path, succeeded_pod_status(pod))
                return
            done.discard(pod["metadata"]["name"])

    pending = []
    for pod in await kube.list(resource_path("v1", "pods", ns)):
        name = pod["metadata"]["name"]
        if name not in done and (pod.get("status") or {}).get("phase") == "Pending":
            done.add(name)
            pending.append(finish(pod))
    await asyncio.gather(*pending)


async def complete_pods(kube: KubeClient, ns: str, expected: int) -> None:
    """The fast node until `expected` pods are finished."""
    done: set[str] = set()
    while True:
        await finish_pending_pods(kube, ns, done)
        if len(done) >= expected:
            return
        await asyncio.sleep(0.5)


async def watch_phase(
    kube: KubeClient, ns: str, phase: str, expected: int, seen: dict[str, float]
) -> None:
    path = resource_path(*TASK_PATH, ns)
    version = (await kube.get(path))["metadata"]["resourceVersion"]
    while len(seen) < expected:
        async for event in kube.watch(path, version, timeout_seconds=60):
            obj = event["object"]
            version = obj["metadata"].get("resourceVersion", version)
            if (obj.get("status") or {}).get("phase") == phase:
                seen.setdefault(obj["metadata"]["name"], time.perf_counter())
            if len(seen) >= expected:
                return


async def operator_events(kube: KubeClient, ns: str) -> int:
    """Event writes the operator made: each event it posted (count 1 each)."""
    events = await kube.list(resource_path("v1", "events", ns))
    return sum(1 for e in events if (e.get("source") or {}).get("component") == COMPONENT)


def operator_writes(delta: Counter[tuple[str, str, str]], events: int) -> int:
    """Job creates and task status patches (nobody else makes them in phase A+B)."""
    jobs = delta[("POST", "jobs", "")]
    status = sum(delta[(v, "devskyytasks", "status")] for v in ("PATCH", "PUT", "APPLY"))
    return jobs + status + events


def operator_extra(concurrency: int) -> dict[str, str]:
    """The operator as deployed, but for its limits: no LOG_LEVEL, so the deployed
    INFO (its lines are part of its cost)."""
    return {
        "DEVSKYY_CONCURRENCY__DIAGNOSTIC": str(concurrency),
        # The deployed resync period, not the tests' 2 s (which re-reads every
        # running task every 2 s: a test speed-up, not the operator's cost).
        "DEVSKYY_RESYNC_SECONDS": str(Settings.model_fields["resync_seconds"].default),
    }


def install_crd(cluster: LocalCluster) -> None:
    subprocess.run(
        [kubectl_binary(), "--kubeconfig", str(cluster.kubeconfig), "apply",
         "--server-side", "-f", str(CRD_FILE)],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        [kubectl_binary(), "--kubeconfig", str(cluster.kubeconfig), "wait",
         "--for=condition=Established", "crd/devskyytasks.devskyy.io"],
        check=True, capture_output=True,
    )  # fmt: skip


def component_cpu(cluster: LocalCluster) -> dict[str, float]:
    """CPU seconds so far of every control-plane process (etcd, apiserver, ...)."""
    return {n: cpu_seconds(p.pid) for n, p in cluster.processes.items() if p.poll() is None}


async def apiserver_profile(kube: KubeClient, seconds: int, out: Path) -> None:
    """The apiserver's own CPU profile (Go pprof) over `seconds`, into `out`."""
    path = f"/debug/pprof/profile?seconds={seconds}"
    async with kube._transport.open("GET", path, read_timeout=seconds + 30) as answer:
        answer.raise_for_status()
        data = await answer.read()
    await asyncio.to_thread(out.write_bytes, data)


async def created_rate(kube: KubeClient, path: str, bodies: list[dict[str, Any]]) -> float:
    start = time.perf_counter()
    await create_all(kube, path, bodies)
    return len(bodies) / (time.perf_counter() - start)


def operator_jobs(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Jobs the operator builds for these DevSkyyTasks (its code and settings)."""
    settings, now = Settings(), datetime.now(UTC)
    return [build_job(task_view_from_body(task), settings, now) for task in tasks]


async def created_through_pods(kube: KubeClient, ns: str, bodies: list[dict[str, Any]]) -> float:
    """Jobs/s from the first create until the Job controller made the last Job's pod.

    The like-for-like baseline: the operator's window holds the pod creates,
    bindings and Job status writes its Jobs cause, so this one holds them too.
    """
    jobs = resource_path("batch/v1", "jobs", ns)
    added: dict[str, float] = {}
    pods: dict[str, float] = {}
    watcher = asyncio.create_task(
        watch_added(kube, jobs, len(bodies), added, await list_version(kube, jobs), counted=pods)
    )
    start = time.perf_counter()
    await create_all(kube, jobs, bodies)
    await asyncio.wait_for(watcher, timeout=900)
    return len(bodies) / (max(pods.values()) - start)


def settled(pods: list[dict[str, Any]], jobs: list[dict[str, Any]], expected: int) -> bool:
    """Every Job has its pod, bound to the node, and its status says so: nothing is
    left for the Job controller or the scheduler to do for these Jobs."""
    bound = sum(1 for pod in pods if pod["spec"].get("nodeName"))
    counted = sum(1 for job in jobs if job_counted_a_pod(job))
    return bound >= expected and counted >= expected


async def wait_settled(kube: KubeClient, ns: str, expected: int) -> None:
    """Until a baseline's downstream work is done: its pods exist and are bound
    (the scheduler binds at its own client limit, 50/s by default, so hundreds
    can still be waiting after the last pod exists) and the Job controller has
    written every Job's status. That work must not fall into the operator's phase."""
    for _ in range(1800):
        pods = await kube.list(resource_path("v1", "pods", ns))
        jobs = await kube.list(resource_path("batch/v1", "jobs", ns))
        if settled(pods, jobs, expected):
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"the {ns} baseline's pods never all bound")


async def wait_ready(operator: Any) -> None:
    for _ in range(3000):  # leader election: not measured
        if await asyncio.to_thread(operator.ready):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("the operator never became ready")


async def measure(
    cluster: LocalCluster,
    tasks: int,
    redis_url: str,
    logs: Path,
    profile: Path | None,
    go_profile: Path | None = None,
) -> None:
    async with KubeClient.from_env(str(cluster.kubeconfig)) as kube:
        # The raw Jobs' pods are scheduled as the operator's are (bound to the fast
        # node, never started), so both phases cause the same work downstream.
        await add_fast_node(kube)
        for ns in ("bench-raw", "bench-cr", "bench-op"):
            await namespace(kube, ns)
        jobs = resource_path("batch/v1", "jobs", "bench-raw")
        raw_rate = await created_rate(kube, jobs, [job_manifest(f"raw-{i}") for i in range(tasks)])
        # Second baseline: DevSkyyTasks created where no operator watches. CRs cost
        # the apiserver more than Jobs (CEL validation of every rule).
        crs = resource_path(*TASK_PATH, "bench-cr")
        cr_rate = await created_rate(kube, crs, [task_manifest(f"cr-{i}") for i in range(tasks)])
        # The Job controller still creates the raw Jobs' pods (and the scheduler
        # binds them): that work must not fall into the next measurement.
        await wait_settled(kube, "bench-raw", tasks)
        # Third baseline, like for like: the operator's own Jobs for those CRs
        # (where no operator watches), counted until their pods exist.
        same_jobs = operator_jobs(await kube.list(crs))
        same_rate = await created_through_pods(kube, "bench-cr", same_jobs)
        await wait_settled(kube, "bench-cr", tasks)
        # Phase A, admission: the tasks are all there before the operator starts (a
        # backlog, as after a restart or a burst through the bridge), so the figure
        # is the operator's own rate, not the client's CR-create rate.
        await create_all(
            kube, resource_path(*TASK_PATH, "bench-op"),
            [task_manifest(f"op-{i}") for i in range(tasks)],
        )  # fmt: skip
        seen: dict[str, float] = {}
        op_pods: dict[str, float] = {}
        all_jobs = asyncio.Event()
        watcher = asyncio.create_task(
            watch_added(
                kube, resource_path("batch/v1", "jobs", "bench-op"), tasks, seen,
                counted=op_pods, all_seen=all_jobs,
            )
        )  # fmt: skip
        writes_before = await apiserver_writes(kube)
        with running_operator(
            cluster, "bench-op", redis_url, logs, operator_extra(tasks * 2)
        ) as operator:
            pid = operator.process.pid
            await wait_ready(operator)
            start, cpu_start = time.perf_counter(), cpu_seconds(pid)
            plane_start, steal_start = component_cpu(cluster), host_steal_seconds()
            pprof = None
            if go_profile is not None:
                pprof = asyncio.create_task(apiserver_profile(kube, 5, go_profile))
            spy = None
            if profile is not None:
                spy = subprocess.Popen(  # noqa: ASYNC220 - started once, not awaited
                    [str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(pid),
                     "-o", str(profile), "-f", "raw", "-r", "50", "--nonblocking"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
            await until_set(all_jobs, watcher, timeout=900)
            end = max(seen.values())
            cpu_admitted = cpu_seconds(pid)
            plane_admitted, steal_admitted = component_cpu(cluster), host_steal_seconds()
            if pprof is not None:
                await pprof
            await asyncio.wait_for(watcher, timeout=900)
            writes_admitted = await apiserver_writes(kube)
            # Phase B: the fast node finishes every pod; the operator records outcomes.
            succeeded: dict[str, float] = {}
            outcome_watch = asyncio.create_task(
                watch_phase(kube, "bench-op", "Succeeded", tasks, succeeded)
            )
            cpu_b = cpu_seconds(pid)
            b_start = time.perf_counter()
            await complete_pods(kube, "bench-op", tasks)
            await asyncio.wait_for(outcome_watch, timeout=900)
            b_end = max(succeeded.values())
            cpu_end = cpu_seconds(pid)
            writes_after = await apiserver_writes(kube)
            events = await operator_events(kube, "bench-op")
            if spy is not None:
                spy.send_signal(2)
                spy.wait(timeout=60)
        admitted_rate = tasks / (end - start)
        through_pods_rate = tasks / (max(op_pods.values()) - start)
        delta = writes_after - writes_before
    ours = operator_writes(delta, events)
    status_a = sum(
        (writes_admitted - writes_before)[(v, "devskyytasks", "status")]
        for v in ("PATCH", "PUT", "APPLY")
    )
    first = min(seen.values())
    print(f"\nOperator benchmark: {tasks} tasks, client concurrency {CONCURRENCY}")
    print(f"{'measure':52} {'value':>12}")
    print(f"{'raw Job create rate (baseline), /s':52} {raw_rate:12.1f}")
    print(f"{'raw DevSkyyTask create rate (no operator), /s':52} {cr_rate:12.1f}")
    print(f"{'operator: admitted tasks (backlog -> Jobs), /s':52} {admitted_rate:12.1f}")
    print(f"{'  first Job after ready, ms':52} {1000 * (first - start):12.1f}")
    print(f"{'  first Job -> last Job, /s':52} {(tasks - 1) / max(end - first, 1e-9):12.1f}")
    print(f"{'ratio admitted / raw Job create':52} {admitted_rate / raw_rate:12.2f}")
    print(f"{'ratio admitted / raw DevSkyyTask create':52} {admitted_rate / cr_rate:12.2f}")
    print(f"{'like for like: operator-built Jobs raw, to pods, /s':52} {same_rate:12.1f}")
    print(f"{'operator: tasks to pods (backlog -> pods), /s':52} {through_pods_rate:12.1f}")
    print(f"{'ratio operator / raw, like for like':52} {through_pods_rate / same_rate:12.2f}")
    print(f"{'completed tasks (pod Succeeded -> task), /s':52} {tasks / (b_end - b_start):12.1f}")
    per_admitted = 1000 * (cpu_admitted - cpu_start) / tasks
    per_completed = 1000 * (cpu_end - cpu_b) / tasks
    print(f"{'operator CPU per admitted task, ms':52} {per_admitted:12.2f}")
    print(f"{'operator CPU per completed task, ms':52} {per_completed:12.2f}")
    wall = end - start
    cores = (cpu_admitted - cpu_start) / wall
    print(f"{'  operator CPU use during admission, cores':52} {cores:12.2f}")
    plane_used = 0.0
    for name in sorted(plane_admitted):
        used = plane_admitted[name] - plane_start.get(name, 0.0)
        plane_used += used
        print(f"{'  ' + name + ' CPU per admitted task, ms':52} {1000 * used / tasks:12.2f}")
        print(f"{'  ' + name + ' CPU use during admission, cores':52} {used / wall:12.2f}")
    steal = (steal_admitted - steal_start) / wall
    print(f"{'  host CPU steal during admission, cores':52} {steal:12.2f}")
    busy = cores + plane_used / wall
    print(f"{'control plane CPU per admitted task, ms':52} {1000 * plane_used / tasks:12.2f}")
    print(f"{'  busy cores during admission (operator + plane)':52} {busy:12.2f}")
    bound = zero_cost_bound(busy, plane_used / tasks, raw_rate)
    print(f"{'  ratio bound for an operator costing nothing':52} {bound:12.2f}")
    print(
        f"{'operator CPU per task create -> Succeeded, ms':52} {per_admitted + per_completed:12.2f}"
    )
    print(f"{'operator API writes per task create -> Succeeded':52} {ours / tasks:12.2f}")
    print(f"{'  of which status writes until the Job exists':52} {status_a / tasks:12.2f}")
    print("\napiserver writes per task during phases A+B (all clients):")
    for (verb, resource, sub), count in sorted(delta.items(), key=lambda kv: -kv[1]):
        if count:
            name = f"{verb} {resource}{'/' + sub if sub else ''}"
            print(f"  {name:50} {count / tasks:12.2f}")
    print(f"  {'(of the events: posted by the operator)':50} {events / tasks:12.2f}")


def zero_cost_bound(busy_cores: float, plane_seconds_per_task: float, raw_rate: float) -> float:
    """Admitted / raw if the operator used no CPU: the cores the window kept busy,
    all spent on the control plane's work per task (Job and pod creates, status
    writes, bindings, events, watch fan-out): how far the goal is in the operator's reach."""
    return busy_cores / plane_seconds_per_task / raw_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--keep", help="keep cluster state and logs in this directory")
    parser.add_argument("--profile", type=Path, help="py-spy the operator into this file")
    parser.add_argument(
        "--apiserver-profile", type=Path, help="5 s of the apiserver's pprof CPU profile (phase A)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-operator-") as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        with (
            LocalCluster(
                root / "cluster", node=False, profiling=args.apiserver_profile is not None
            ) as cluster,
            running_redis(root / "redis") as redis,
        ):
            install_crd(cluster)
            asyncio.run(
                measure(
                    cluster, args.tasks, redis.url, root / "logs", args.profile,
                    args.apiserver_profile,
                )
            )  # fmt: skip


if __name__ == "__main__":
    main()
