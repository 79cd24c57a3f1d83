"""The operator's writer of the Redis task hash: status transitions only go forward.

Every function is idempotent and atomic (one script each, so a `ScriptBatcher`
can carry them): pending -> processing
-> completed|failed, and a terminal status is never overwritten, so replayed or
out-of-order events from the reconciler cannot move a task backwards.

The record TTL and the throughput window have no defaults here: callers pass
`Settings.task_record_ttl_seconds` and `Settings.throughput_window_seconds`,
the window the API divides by (`stats.queue_position`), so the writers never
prune completions the reader still counts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from devskyy_agents.models import TaskSpec
from devskyy_operator import keys
from devskyy_operator.cost.model import TaskCost
from devskyy_operator.redisq import scripts
from devskyy_operator.redisq.cancel import CANCEL_ERROR
from devskyy_operator.redisq.enqueue import task_fields
from devskyy_operator.redisq.records import TIER_FIELD
from devskyy_operator.redisq.scripts import Redis

if TYPE_CHECKING:
    from devskyy_operator.redisq.scripts import ScriptTarget


class WriteOutcome(StrEnum):
    OK = "ok"
    TERMINAL = "terminal"  # already completed/failed: nothing written
    MISSING = "missing"  # no hash: call ensure_record first


async def ensure_record(
    client: ScriptTarget,
    task_id: str,
    spec: TaskSpec,
    *,
    created_at: str,
    source: str = "kubectl",
    tier: str = "",
) -> bool:
    """Create the hash of a task that never passed the API (kubectl apply); True if created."""
    extra = {TIER_FIELD: tier} if tier else None
    created = await scripts.ENSURE_RECORD(
        client,
        [keys.task_key(task_id), keys.user_tasks_key(spec.user_id), keys.HISTORY_STREAM],
        [f"{time.time():.6f}", task_id, *task_fields(spec, created_at, source, extra)],
    )
    return bool(created)


async def record_status(client: Redis, task_id: str) -> str | None:
    """The status field of the task hash (pending, processing, ...), None without a hash."""
    value = await client.hget(keys.task_key(task_id), "status")
    return None if value is None else str(value)


async def mark_admitted(
    client: ScriptTarget,
    task_id: str,
    admitted_at: str,
    resources: Mapping[str, Any],
    *,
    now: float | None = None,
) -> WriteOutcome:
    """The task's Job exists: note when, and the container resources it got (once)."""
    reply = await scripts.MARK_ADMITTED(
        client,
        [keys.task_key(task_id), keys.HISTORY_STREAM],
        [task_id, admitted_at, _compact(resources), _now(now)],
    )
    return WriteOutcome(reply)


async def mark_processing(
    client: ScriptTarget,
    task_id: str,
    started_at: str,
    worker_host: str,
    attempts: int,
    *,
    failed_attempts: int = 0,
    last_error: str = "",
    last_exit_code: int | None = None,
    now: float | None = None,
) -> WriteOutcome:
    """pending|processing -> processing with the current attempt.

    `failed_attempts`: attempts that failed and were retried so far (the Job's
    failed pods); each new one is an `attempt_failed` in the history, the last
    with `last_error` / `last_exit_code` when the caller knows them.
    """
    reply = await scripts.MARK_PROCESSING(
        client,
        [keys.task_key(task_id), keys.HISTORY_STREAM],
        [
            started_at,
            worker_host,
            attempts,
            _now(now),
            task_id,
            last_error,
            "" if last_exit_code is None else str(last_exit_code),
            failed_attempts,
        ],
    )
    return WriteOutcome(reply)


async def mark_completed(
    client: ScriptTarget,
    task_id: str,
    result_json: str,
    completed_at: str,
    *,
    record_ttl_seconds: int,
    throughput_window_seconds: float,
    cost: TaskCost | None = None,
    cost_retention_seconds: int = 0,
    now: float | None = None,
    cached_from: str | None = None,
) -> WriteOutcome:
    """-> completed with the result (the task's output JSON); counts toward throughput.

    With a `cost`: the hash's `cost` field and an entry in the cost index (kept
    `cost_retention_seconds`, Settings.cost.index_retention_seconds).
    `cached_from`: the result is the stored one of that task (a result-cache hit),
    noted as `cache_hit` 1 and `cached_from` <id>."""
    fields = ["result", result_json, "completed_at", completed_at]
    if cached_from:
        fields += ["cache_hit", "1", "cached_from", cached_from]
    return await _finish(
        client, task_id, "completed", fields, record_ttl_seconds, throughput_window_seconds,
        now, cost, cost_retention_seconds,
    )  # fmt: skip


async def mark_failed(
    client: ScriptTarget,
    task_id: str,
    error: str,
    *,
    error_type: str = "",
    completed_at: str,
    reason: str = "",
    exit_code: int | None = None,
    attempts: int | None = None,
    cancelled: bool = False,
    record_ttl_seconds: int,
    throughput_window_seconds: float,
    cost: TaskCost | None = None,
    cost_retention_seconds: int = 0,
    now: float | None = None,
) -> WriteOutcome:
    """-> failed (final failure or cancellation); counts toward throughput."""
    fields = ["error", CANCEL_ERROR if cancelled and not error else error]
    fields += ["error_type", error_type, "completed_at", completed_at, "reason", reason]
    if exit_code is not None:
        fields += ["exit_code", str(exit_code)]
    if attempts is not None:
        fields += ["attempts", str(attempts)]
    if cancelled:
        fields += ["cancelled", "1"]
    return await _finish(
        client, task_id, "failed", fields, record_ttl_seconds, throughput_window_seconds, now,
        cost, cost_retention_seconds,
    )  # fmt: skip


async def _finish(
    client: ScriptTarget,
    task_id: str,
    status: str,
    fields: list[str],
    ttl: int,
    window: float,
    now: float | None,
    cost: TaskCost | None = None,
    cost_retention: int = 0,
) -> WriteOutcome:
    if cost is not None:
        fields = [*fields, "cost", cost.record_json()]
    reply = await scripts.MARK_FINISHED(
        client,
        [keys.task_key(task_id), keys.CANCEL_REQUESTS, keys.HISTORY_STREAM, keys.COST_INDEX],
        [
            task_id,
            status,
            keys.COMPLETIONS_PREFIX,
            ttl,
            _now(now),
            window,
            max(cost_retention, 1),
            "" if cost is None else str(cost.total_micros),
            *fields,
        ],
    )
    return WriteOutcome(reply)


def _now(now: float | None) -> str:
    """The scripts' time argument: '' lets them read the server clock."""
    return "" if now is None else f"{now:.6f}"


def _compact(value: Mapping[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
