"""Response bodies built from the two stores: a Redis task record, a history row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from devskyy_agents.clock import utc_iso
from devskyy_operator.intake.schemas import HistoryTask, QueueInfo, TaskEventView, TaskView
from devskyy_operator.redisq import TaskRecord


def view_of(record: TaskRecord, queue: QueueInfo | None = None) -> TaskView:
    return TaskView(
        id=record.task_id,
        type=record.task_type,
        status=record.status,
        user_id=record.user_id,
        priority=record.priority,
        tier=record.tier,
        requested_priority=record.requested_priority,
        created_at=record.created_at,
        started_at=record.started_at,
        completed_at=record.completed_at,
        worker_host=record.worker_host,
        attempts=record.attempts,
        result=record.result,
        error=record.error,
        cancelled=record.cancelled,
        cancel_requested=record.cancel_requested,
        cache_hit=record.cache_hit,
        cached_from=record.cached_from,
        queue=queue,
        cost=record.cost,
    )


def _iso(moment: datetime | None) -> str:
    return utc_iso(moment) if moment is not None else ""


def history_task(row: dict[str, Any]) -> HistoryTask:
    return HistoryTask(
        id=row["task_id"],
        type=row["task_type"],
        status=row["status"],
        user_id=row["user_id"],
        priority=row["priority"] or 0,
        created_at=_iso(row["created_at"]),
        started_at=_iso(row["started_at"]),
        completed_at=_iso(row["completed_at"]),
        worker_host=row["worker_host"] or "",
        attempts=row["attempts"] or 0,
        result=row["result"],
        error=row["error"] or "",
        cancelled=row["cancelled"],
        source=row["source"] or "",
        admitted_at=_iso(row["admitted_at"]),
        reason=row["reason"] or "",
        error_type=row["error_type"] or "",
        exit_code=row["exit_code"],
        run_seconds=row["run_seconds"],
        resources=row["resources"],
        retry_of=row["retry_of"] or "",
        retried_as=row["retried_as"] or "",
        dead_lettered_at=_iso(row["dead_lettered_at"]),
        cost=row.get("cost"),
    )


def event_view(row: dict[str, Any]) -> TaskEventView:
    detail = row["detail"] or {}
    return TaskEventView(
        kind=row["kind"],
        at=_iso(row["occurred_at"]),
        attempts=row["attempts"],
        attempt=detail.get("attempt"),
        reason=row["reason"] or "",
        error=row["error"] or "",
        error_type=row["error_type"] or "",
        exit_code=row["exit_code"],
        worker_host=row["worker_host"] or "",
        result=row["result"],
        resources=row["resources"],
        run_seconds=row["run_seconds"],
        retried_as=detail.get("retried_as") or "",
    )
