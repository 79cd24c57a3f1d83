"""The operator's in-memory task index at backlog scale (#14.4), in-process.

(a) Bytes the index keeps per live task: `--tasks` DevSkyyTask bodies shaped as
    the watch delivers them (the bridge's CR, `build_task_resource`, plus what the
    apiserver adds: uid, resourceVersion, managedFields of the bridge's create and
    the operator's status write, and the Queued status the operator writes), half
    diagnostic, half marketing_campaign, each parsed from its own JSON text (fresh
    strings, as from a watch stream) and upserted; tracemalloc before/after, the
    event bodies dropped. Then the same for each part of a TaskView alone.
(b) CPU of one admission round (`Admitter.round`) over that index: every type's
    slots full (its limit of Running tasks in the index), so nothing is started
    and the round is pure decision work; µs per round, median of `--rounds`.
(c) The same with one slot free: the round's decision (`Admitter.choose`, which
    picks the one task and starts nothing) over that type's waiting tasks.

No cluster and no Redis: the round starts nothing, so the clients it holds are
never used. Usage:
    .venv/bin/python bench/bench_task_index.py [--tasks 10000] [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devskyy_agents.clock import utc_iso
from devskyy_agents.models import parse_spec
from devskyy_operator import keys
from devskyy_operator.bridge.manifest import build_task_resource
from devskyy_operator.controller.admission_loop import Admitter
from devskyy_operator.controller.index import TaskIndex
from devskyy_operator.controller.reconciler import TaskReconciler
from devskyy_operator.controller.statuses import admitted_status, queued_status
from devskyy_operator.crd.task_view import TaskView, task_view_from_body
from devskyy_operator.kube.client import KubeClient
from devskyy_operator.redisq import connect
from devskyy_operator.redisq.claim import ClaimedTask
from devskyy_operator.settings import Settings

NS = "bench-index"
USERS = 100
TIERS = ("free", "pro", "enterprise")
KINDS = ("diagnostic", "marketing_campaign")  # the types with waiting tasks
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

# A kubeconfig for a server that is never contacted (the round starts nothing).
KUBECONFIG = f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:9"}}}}]
users: [{{name: u, user: {{token: bench}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u, namespace: {NS}}}}}]
current-context: x
"""


def spec_of(index: int, kind: str) -> dict[str, Any]:
    user = f"user-{index % USERS}"
    if kind == "marketing_campaign":
        given: dict[str, Any] = {
            "user_id": user, "campaign_id": f"spring-drop-{index % 7}", "campaign_type": "email",
            "recipients": [f"customer-{index % 97}@example.com", "vip@example.com"],
            "content": {"subject": "The spring drop is here", "tone": "warm"},
        }  # fmt: skip
    else:
        given = {"user_id": user}
    return {"type": kind, "input": given, "priority": index % 10}


def managed_fields(time: str) -> list[dict[str, Any]]:
    """The bridge's create and the operator's status write, as the apiserver keeps them."""
    return [
        {"manager": "devskyy-bridge", "operation": "Update", "apiVersion": keys.API_VERSION,
         "time": time, "fieldsType": "FieldsV1", "fieldsV1": {
             "f:metadata": {"f:annotations": {".": {}, f"f:{keys.ANNOTATION_SOURCE}": {},
                                              f"f:{keys.ANNOTATION_ENQUEUED_AT}": {}},
                            "f:labels": {".": {}, f"f:{keys.LABEL_TASK_TYPE}": {},
                                         f"f:{keys.LABEL_USER}": {}, f"f:{keys.LABEL_TIER}": {}}},
             "f:spec": {".": {}, "f:input": {}, "f:priority": {}, "f:type": {}}}},
        {"manager": "devskyy-operator", "operation": "Update", "apiVersion": keys.API_VERSION,
         "time": time, "fieldsType": "FieldsV1", "subresource": "status", "fieldsV1": {
             "f:status": {".": {}, "f:attempts": {}, "f:conditions": {}, "f:observedGeneration": {},
                          "f:phase": {}, "f:queuedAt": {}, "f:reason": {}}}},
    ]  # fmt: skip


def body_of(index: int, kind: str, phase: str = "Queued") -> dict[str, Any]:
    """One DevSkyyTask as a watch event shows it once the operator wrote `phase`."""
    created = NOW - timedelta(seconds=index % 3600)
    stamp = utc_iso(created, timespec="seconds")
    spec = spec_of(index, kind)
    claimed = ClaimedTask(
        task_id=f"t{uuid.uuid4().hex[:20]}", task_type=kind, spec_json=json.dumps(spec),
        user_id=spec["input"]["user_id"], created_at=utc_iso(created), tier=TIERS[index % 3],
    )  # fmt: skip
    body = build_task_resource(claimed)
    body["metadata"].update(
        namespace=NS, uid=str(uuid.uuid4()), resourceVersion=str(100_000 + index), generation=1,
        creationTimestamp=stamp, managedFields=managed_fields(stamp),
    )  # fmt: skip
    view = task_view_from_body(body)
    status = queued_status(view, created) if phase == "Queued" else admitted_status(view, NOW)
    body["status"] = status.updated(observed_generation=1).patch()
    return body


def event_texts(count: int) -> list[str]:
    return [json.dumps(body_of(i, KINDS[i % 2])) for i in range(count)]


def retained(build: Callable[[str], object], texts: list[str]) -> tuple[float, list[object]]:
    """Bytes per item that `build(text)` leaves allocated (its results are kept)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    kept = [build(text) for text in texts]
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    return grown / len(texts), kept


def upsert_all(index: TaskIndex, texts: list[str]) -> None:
    for text in texts:
        event = json.loads(text)
        index.upsert(task_view_from_body(event))


def measure_memory(texts: list[str]) -> TaskIndex:
    count = len(texts)
    print(f"(a) bytes kept per live task, {count:,} Queued tasks (half diagnostic, half campaign)")
    body_bytes = sum(len(t) for t in texts) / count
    print(f"  event JSON, B: {body_bytes:.0f}")
    index = TaskIndex()
    gc.collect()
    tracemalloc.start(3)
    before = tracemalloc.take_snapshot()
    upsert_all(index, texts)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    stats = after.compare_to(before, "lineno")
    print(f"  index, B per task: {sum(s.size_diff for s in stats) / count:.0f}; top lines:")
    for stat in stats[:10]:
        frame = stat.traceback[0]
        print(
            f"    {stat.size_diff / count:7.0f} B  {frame.filename.split('/')[-1]}:{frame.lineno}"
        )
    parts: dict[str, Callable[[str], object]] = {
        "a TaskView as the index keeps it": lambda t: task_view_from_body(
            json.loads(t)
        ).without_model(),
        "a spec model (built only when read)": lambda t: parse_spec(json.loads(t)["spec"]),
        "a status as a dict (as read)": lambda t: json.loads(t)["status"],
    }
    for label, build in parts.items():
        size, _ = retained(build, texts)
        print(f"  {label}, B per task: {size:.0f}")
    return index


def fill_slots(index: TaskIndex, settings: Settings) -> list[TaskView]:
    """Each waiting type's limit of Running tasks (no free slot); the Running views."""
    running = []
    for kind in KINDS:
        for offset in range(settings.concurrency[kind]):
            running.append(task_view_from_body(body_of(offset, kind, phase="Running")))
            index.upsert(running[-1])
    return running


def cpu_us(work: Callable[[], object], times: int) -> tuple[float, float]:
    """Median and min CPU µs of `work()`."""
    spent = []
    for _ in range(times):
        started = time.process_time()
        work()
        spent.append(time.process_time() - started)
    return statistics.median(spent) * 1e6, min(spent) * 1e6


async def measure_round(index: TaskIndex, rounds: int) -> None:
    settings = Settings()
    running = fill_slots(index, settings)
    waiting = sum(1 for t in index.all() if t.phase == "Queued")
    with tempfile.NamedTemporaryFile("w", suffix=".kubeconfig") as config:
        config.write(KUBECONFIG)
        config.flush()
        kube = KubeClient.from_env(config.name)
        admitter = Admitter(TaskReconciler(kube, connect("redis://127.0.0.1:9"), settings), index)
        median, fastest = cpu_us(admitter.round, rounds)
        assert not admitter.starting, "the round started a task: slots were not full"
        print(f"(b) admission round, {waiting:,} waiting, every slot full: {median:,.0f} µs CPU "
              f"(median of {rounds}; min {fastest:,.0f})")  # fmt: skip
        index.remove(running[0].namespace, running[0].name)  # one diagnostic slot frees
        chosen = admitter.choose(datetime.now(UTC))
        assert len(chosen) == 1, chosen
        median, fastest = cpu_us(lambda: admitter.choose(datetime.now(UTC)), rounds)
        kind = running[0].task_type.value
        print(f"(c) the decision of a round with one {kind} slot free (`choose`; nothing "
              f"started): {median:,.0f} µs CPU (min {fastest:,.0f})")  # fmt: skip
        await kube.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=10_000, help="live Queued tasks")
    parser.add_argument("--rounds", type=int, default=20, help="admission rounds timed")
    args = parser.parse_args()
    texts = event_texts(args.tasks)
    index = measure_memory(texts)
    asyncio.run(measure_round(index, args.rounds))


if __name__ == "__main__":
    main()
