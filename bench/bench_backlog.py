"""A large Redis backlog (#14 scale): Redis bytes per queued task, DevSkyyTasks in
etcd bounded by the bridge window, operator RSS with many live CRs.

(a) `--tasks` tasks enqueued through the library's batch path (`enqueue_batch`,
    the `POST /v1/tasks:batch` script) into one redis-server; Redis `used_memory`
    before/after gives bytes per queued task. Baseline, same run, a second
    redis-server: the same number of plain `HSET` (the same task hash, the same
    fields and values) + `ZADD` (the queue entry), pipelined.
(b) The bridge (process, the window from `Settings`) and the operator (process,
    diagnostic concurrency 0, so every CR stays Queued and no Job or pod is made:
    the controller is isolated) run against that backlog for `--hold` seconds;
    the number of DevSkyyTasks in etcd is sampled (LIST with `limit=1`, whose
    `remainingItemCount` counts the rest) and must stay within the window while
    the backlog holds.
(c) The bridge restarted with the window raised to `--live`: once `--live` CRs are
    Queued, the operator's RSS (/proc/<pid>/status VmRSS) against a bare Python
    process that imports the same packages (kopf and the operator's modules).
    `--live 3000,10000`: the same for each count in turn, in one operator process
    (the bridge restarted with each window).

With concurrency 0 no pods are needed, so no kwok node pool either. Starts its
own control plane (no node), redis-servers, operator and bridge. Usage:
    .venv/bin/python bench/bench_backlog.py [--tasks 100000] [--live 10000[,...]] [--hold 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.bridge.support import running_bridge
from tests.support.operator_process import running_operator
from tests.support.redis_server import RedisServer, running_redis

from bench_operator import TASK_PATH, install_crd, namespace, operator_extra
from devskyy_agents.clock import utc_iso
from devskyy_agents.models import TaskSpec, parse_spec
from devskyy_devcluster.launcher import LocalCluster
from devskyy_operator import keys
from devskyy_operator.kube.client import KubeClient, resource_path
from devskyy_operator.redisq import connect
from devskyy_operator.redisq.batch import BatchEntry, enqueue_batch
from devskyy_operator.redisq.enqueue import task_fields
from devskyy_operator.redisq.ids import new_task_id
from devskyy_operator.redisq.scripts import disconnect
from devskyy_operator.settings import Settings

NS = "bench-backlog"
BATCH = 1000  # tasks per enqueue_batch call (one Lua script call each)
USERS = 100  # tasks spread over this many users (per-user indexes as in real use)
TASK_TYPE = "diagnostic"
# What the operator process imports, for the bare-process baseline of (c).
OPERATOR_MODULE = "devskyy_operator.controller.main"
# --trace-memory: a sitecustomize for the operator process that dumps a
# tracemalloc snapshot on SIGUSR1 (the bench's profile; nothing in the operator).
TRACE_HOOK = """
import os, signal, tracemalloc
def _dump(signum, frame):
    path = os.environ["DEVSKYY_BENCH_TRACE"] + "." + str(len(os.listdir(os.path.dirname(
        os.environ["DEVSKYY_BENCH_TRACE"]))))
    tracemalloc.take_snapshot().dump(path + ".part")
    os.rename(path + ".part", path)
signal.signal(signal.SIGUSR1, _dump)
"""


@dataclass
class Figures:
    rows: list[tuple[str, str, str, str]]

    def add(self, measure: str, value: str, baseline: str = "", note: str = "") -> None:
        self.rows.append((measure, value, baseline, note))
        print(f"  {measure}: {value}" + (f" (baseline {baseline})" if baseline else ""), flush=True)


def spec_for(index: int, pad: int) -> TaskSpec:
    extra = {"result": {"pad": "x" * pad}} if pad else {}
    return parse_spec({"type": TASK_TYPE, "input": {"user_id": f"user-{index % USERS}", **extra}})


async def used_memory(url: str) -> int:
    client = connect(url)
    try:
        info = await client.info("memory")
        return int(info["used_memory"])
    finally:
        await disconnect(client)


async def library_backlog(url: str, specs: list[TaskSpec], ids: list[str]) -> None:
    """The library's batch enqueue, BATCH tasks per script call."""
    client = connect(url)
    try:
        for start in range(0, len(specs), BATCH):
            entries = [
                BatchEntry(spec, task_id=task_id)
                for spec, task_id in zip(
                    specs[start : start + BATCH], ids[start : start + BATCH], strict=True
                )
            ]
            await enqueue_batch(client, entries)
    finally:
        await disconnect(client)


async def plain_backlog(url: str, specs: list[TaskSpec], ids: list[str]) -> None:
    """Baseline: the same task hash (same fields and values) + one queue ZADD each."""
    client = connect(url)
    created_at = utc_iso()
    try:
        for start in range(0, len(specs), BATCH):
            pipe = client.pipeline(transaction=False)
            for offset, (spec, task_id) in enumerate(
                zip(specs[start : start + BATCH], ids[start : start + BATCH], strict=True)
            ):
                score = keys.queue_score(spec.priority, start + offset)
                fields = ["queue_score", str(int(score)), *task_fields(spec, created_at, "api")]
                mapping: dict[str | bytes, str] = dict(zip(fields[::2], fields[1::2], strict=True))
                pipe.hset(keys.task_key(task_id), mapping=mapping)
                pipe.zadd(keys.queue_key(spec.type), {task_id: score})
            await pipe.execute()
    finally:
        await disconnect(client)


async def measure_redis(
    library: RedisServer, plain: RedisServer, tasks: int, pad: int, figures: Figures
) -> None:
    specs = [spec_for(i, pad) for i in range(tasks)]
    ids = [new_task_id() for _ in range(tasks)]
    payload = sum(len(s.model_dump_json(by_alias=True)) for s in specs) / tasks
    before = await used_memory(library.url)
    started = time.perf_counter()
    await library_backlog(library.url, specs, ids)
    library_rate = tasks / (time.perf_counter() - started)
    library_bytes = (await used_memory(library.url) - before) / tasks
    before = await used_memory(plain.url)
    started = time.perf_counter()
    await plain_backlog(plain.url, specs, ids)
    plain_rate = tasks / (time.perf_counter() - started)
    plain_bytes = (await used_memory(plain.url) - before) / tasks
    client = connect(library.url)
    try:
        encoding = str(await client.object("encoding", keys.task_key(ids[0])))
    finally:
        await disconnect(client)
    print(f"\n(a) {tasks} tasks queued", flush=True)
    figures.add("enqueue rate, tasks/s", f"{library_rate:,.0f}", f"{plain_rate:,.0f}")
    figures.add("payload per task (spec JSON), B", f"{payload:.0f}")
    figures.add(
        "Redis used_memory per queued task, B",
        f"{library_bytes:.0f}",
        f"{plain_bytes:.0f}",
        f"{library_bytes / plain_bytes:.2f}x the plain HSET+ZADD; hash encoding {encoding}",
    )
    over = library_bytes - payload
    figures.add(
        "  minus the payload, B",
        f"{over:.0f}",
        f"{plain_bytes - payload:.0f}",
        f"goal <= 1536: {'met' if over <= 1536 else 'NOT met'}",
    )


async def count_tasks(kube: KubeClient) -> int:
    """DevSkyyTasks in etcd: one LIST of one item; the apiserver counts the rest."""
    page = await kube.get(resource_path(*TASK_PATH, NS), {"limit": 1})
    remaining = int((page.get("metadata") or {}).get("remainingItemCount") or 0)
    return len(page.get("items") or []) + remaining


async def queued_in_redis(url: str) -> int:
    client = connect(url)
    try:
        return int(await client.zcard(keys.queue_key(TASK_TYPE)))
    finally:
        await disconnect(client)


async def phases(kube: KubeClient) -> dict[str, int]:
    counts: dict[str, int] = {}
    for task in await kube.list(resource_path(*TASK_PATH, NS)):
        phase = str((task.get("status") or {}).get("phase") or "none")
        counts[phase] = counts.get(phase, 0) + 1
    return counts


async def await_ready(component: object) -> None:
    ready = component.ready  # type: ignore[attr-defined]
    for _ in range(600):
        if await asyncio.to_thread(ready):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{component} not ready in 120 s")


async def hold_window(
    kube: KubeClient, redis_url: str, window: int, seconds: float, figures: Figures
) -> None:
    """Sample the CR count until the window has filled, then for `seconds` more."""
    samples: list[int] = []
    filled_at: float | None = None
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        samples.append(await count_tasks(kube))
        if filled_at is None and samples[-1] >= window:
            filled_at = time.monotonic()
        if filled_at is not None and time.monotonic() - filled_at >= seconds:
            break
        await asyncio.sleep(0.25)
    left = await queued_in_redis(redis_url)
    print(f"\n(b) bridge window {window} (Settings default), held {seconds:.0f} s", flush=True)
    verdict = "within" if max(samples) <= window else "OVER"
    figures.add("DevSkyyTasks in etcd, max of samples", str(max(samples)), f"window {window}",
                f"{len(samples)} samples; {verdict}")  # fmt: skip
    figures.add("DevSkyyTasks in etcd, last sample", str(samples[-1]))
    figures.add("tasks still queued in Redis", f"{left:,}")


def rss_kib(pid: int) -> tuple[int, int]:
    """VmRSS and VmHWM (peak) of a process, KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def bare_import_rss() -> int:
    """RSS (KiB) of a fresh Python process after importing what the operator imports."""
    code = (
        f"import kopf, {OPERATOR_MODULE}, pathlib\n"
        "for line in pathlib.Path('/proc/self/status').read_text().splitlines():\n"
        "    if line.startswith('VmRSS:'): print(line.split()[1])\n"
    )
    answer = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    )
    return int(answer.stdout.strip())


async def live_crs(kube: KubeClient, pid: int, live: int, idle_rss: int, figures: Figures) -> None:
    """Wait until `live` CRs exist and are all Queued; then the operator's RSS."""
    deadline = time.monotonic() + 3600
    started = time.monotonic()
    while await count_tasks(kube) < live:
        if time.monotonic() > deadline:
            raise RuntimeError("the bridge did not reach the raised window")
        await asyncio.sleep(2)
    created_in = time.monotonic() - started
    while (counts := await phases(kube)).get("Queued", 0) < live:
        if time.monotonic() > deadline:
            raise RuntimeError(f"not all Queued: {counts}")
        await asyncio.sleep(5)
    queued_in = time.monotonic() - started
    await asyncio.sleep(5)  # settle: the last status writes' buffers
    rss, peak = rss_kib(pid)
    bare = await asyncio.to_thread(bare_import_rss)
    print(f"\n(c) window raised to {live}: {counts}", flush=True)
    figures.add("CRs created / all Queued after, s", f"{created_in:.0f} / {queued_in:.0f}")
    figures.add("operator RSS idle (0 CRs), MiB", f"{idle_rss / 1024:.1f}", f"{bare / 1024:.1f}")
    figures.add(
        f"operator RSS with {live:,} Queued CRs, MiB",
        f"{rss / 1024:.1f}",
        f"{bare / 1024:.1f}",
        f"{rss / bare:.2f}x bare import; goal <= 150: {'met' if rss <= 150 * 1024 else 'NOT met'}",
    )
    figures.add("operator peak RSS (VmHWM), MiB", f"{peak / 1024:.1f}")
    figures.add("operator RSS per live CR, KiB", f"{(rss - idle_rss) / live:.2f}")


def trace_env(root: Path) -> dict[str, str]:
    """Environment that makes the operator trace allocations and dump on SIGUSR1."""
    hook, dumps = root / "trace" / "hook", root / "trace" / "dumps"
    hook.mkdir(parents=True, exist_ok=True)
    dumps.mkdir(parents=True, exist_ok=True)
    (hook / "sitecustomize.py").write_text(TRACE_HOOK)
    return {
        "PYTHONPATH": str(hook),
        "PYTHONTRACEMALLOC": "6",
        "DEVSKYY_BENCH_TRACE": str(dumps / "snapshot"),
    }


async def snapshot(pid: int, root: Path) -> tracemalloc.Snapshot:
    dumps = root / "trace" / "dumps"
    before = set(dumps.glob("snapshot.*[0-9]"))
    os.kill(pid, signal.SIGUSR1)
    for _ in range(1200):
        new = set(dumps.glob("snapshot.*[0-9]")) - before
        if new:
            return tracemalloc.Snapshot.load(str(new.pop()))
        await asyncio.sleep(0.5)
    raise RuntimeError("no tracemalloc snapshot from the operator in 600 s")


def print_growth(idle: tracemalloc.Snapshot, live: tracemalloc.Snapshot, count: int) -> None:
    """Where the operator's Python heap grew between 0 and `count` live CRs."""
    stats = live.compare_to(idle, "lineno")
    grown = sum(s.size_diff for s in stats)
    print(f"\nPython heap growth with {count:,} live CRs: {grown / 2**20:.1f} MiB "
          f"({grown / count:.0f} B per CR); top lines:")  # fmt: skip
    for stat in stats[:15]:
        frame = stat.traceback[0]
        print(f"  {stat.size_diff / count:8.0f} B/CR {stat.count_diff / count:6.1f} blocks/CR  "
              f"{frame.filename.split('site-packages/')[-1]}:{frame.lineno}")  # fmt: skip
    print("top allocation stacks:")
    for stat in live.compare_to(idle, "traceback")[:5]:
        print(f"  {stat.size_diff / count:8.0f} B/CR")
        for line in stat.traceback.format()[-12:]:
            print(f"      {line}")


async def measure_cluster(
    cluster: LocalCluster, redis: RedisServer, args: argparse.Namespace, figures: Figures
) -> None:
    window = Settings.model_fields["bridge_window"].default
    logs = Path(args.root) / "logs"
    async with KubeClient.from_env(str(cluster.kubeconfig)) as kube:
        await namespace(kube, NS)
        extra = operator_extra(0)
        if args.trace_memory:
            extra.update(trace_env(Path(args.root)))
        with running_operator(cluster, NS, redis.url, logs, extra) as operator:
            await await_ready(operator)
            await asyncio.sleep(2)
            idle_rss, _ = rss_kib(operator.process.pid)
            idle = (
                await snapshot(operator.process.pid, Path(args.root)) if args.trace_memory else None
            )
            with running_bridge(cluster.kubeconfig, NS, redis.url, logs) as bridge:
                await await_ready(bridge)
                await hold_window(kube, redis.url, window, args.hold, figures)
            for count in args.live:
                raised = {"DEVSKYY_BRIDGE_WINDOW": str(count)}
                with running_bridge(cluster.kubeconfig, NS, redis.url, logs, raised) as bridge:
                    await await_ready(bridge)
                    await live_crs(kube, operator.process.pid, count, idle_rss, figures)
                    if idle is not None:
                        live = await snapshot(operator.process.pid, Path(args.root))
                        print_growth(idle, live, count)


def summary(figures: Figures, load: tuple[float, ...]) -> None:
    print(f"\nSummary (load average at start {load[0]:.1f}, now {os.getloadavg()[0]:.1f})")
    print(f"{'measure':44} {'value':>12} {'baseline':>12}  note")
    for measure, value, baseline, note in figures.rows:
        print(f"{measure:44} {value:>12} {baseline:>12}  {note}")


def counts(text: str) -> list[int]:
    """`3000,10000` -> [3000, 10000], ascending (the window only grows)."""
    return sorted(int(part) for part in text.split(","))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=100_000, help="tasks queued in Redis")
    parser.add_argument(
        "--live", type=counts, default=[10_000], help="live CRs for the RSS figure (a,b,...)"
    )
    parser.add_argument("--hold", type=float, default=30.0, help="seconds the window is watched")
    parser.add_argument("--pad", type=int, default=0, help="extra bytes in each task's input")
    parser.add_argument("--redis-only", action="store_true", help="only (a), no control plane")
    parser.add_argument(
        "--trace-memory", action="store_true", help="tracemalloc the operator (slower; RSS grows)"
    )
    parser.add_argument("--keep", help="keep cluster state and logs in this directory")
    args = parser.parse_args()
    load = os.getloadavg()
    figures = Figures([])
    with tempfile.TemporaryDirectory(prefix="bench-backlog-") as tmp:
        args.root = args.keep or tmp
        root = Path(args.root)
        with (
            running_redis(root / "redis", appendonly=False) as redis,
            running_redis(root / "redis-plain", appendonly=False) as plain,
        ):
            asyncio.run(measure_redis(redis, plain, args.tasks, args.pad, figures))
            plain.kill()
            if not args.redis_only:
                with LocalCluster(root / "cluster", node=False) as cluster:
                    install_crd(cluster)
                    asyncio.run(measure_cluster(cluster, redis, args, figures))
    summary(figures, load)


if __name__ == "__main__":
    main()
