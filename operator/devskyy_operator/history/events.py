"""A task transition as the history keeps it: parsed from one stream entry (pure).

The Lua scripts that change a task append the entry (`redisq/lua.py` `history`):
its id is the stream entry id, which is the event id in PostgreSQL, so a
redelivered entry is the same row, never a second one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from devskyy_operator.cost.money import parse_amount


class EventKind(StrEnum):
    QUEUED = "queued"
    ADMITTED = "admitted"
    RUNNING = "running"
    ATTEMPT_FAILED = "attempt_failed"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DEAD_LETTERED = "dead_lettered"
    RETRIED = "retried"


# The task's status after an event, in the seed's words (as the Redis hash and the
# API say it), with its rank: a task's status only moves forward, whatever order
# events arrive in.
STATUS_AFTER: dict[EventKind, tuple[str, int]] = {
    EventKind.QUEUED: ("pending", 0),
    EventKind.ADMITTED: ("pending", 0),
    EventKind.RUNNING: ("processing", 1),
    EventKind.ATTEMPT_FAILED: ("processing", 1),
    EventKind.SUCCEEDED: ("completed", 2),
    EventKind.FAILED: ("failed", 2),
    EventKind.CANCELLED: ("failed", 2),
    EventKind.DEAD_LETTERED: ("failed", 2),
    EventKind.RETRIED: ("failed", 2),
}
ENDINGS = frozenset({EventKind.SUCCEEDED, EventKind.FAILED, EventKind.CANCELLED})
MAX_TEXT = 4096


class InvalidEvent(ValueError):
    """A stream entry that is not a task transition (kept out of the store, counted)."""


@dataclass(frozen=True)
class TaskEvent:
    event_id: str
    stream_ms: int
    stream_seq: int
    task_id: str
    kind: EventKind
    occurred_at: datetime
    task_type: str | None = None
    user_id: str | None = None
    priority: int | None = None
    attempts: int | None = None
    attempt: int | None = None
    source: str | None = None
    created_at: datetime | None = None
    admitted_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    worker_host: str | None = None
    reason: str | None = None
    error: str | None = None
    error_type: str | None = None
    exit_code: int | None = None
    result: Any = None
    resources: Any = None
    task_input: Any = None
    retry_of: str | None = None
    retried_as: str | None = None
    cancelled: bool = False
    cost: Any = None  # the task's cost (cost/model.py TaskCost JSON), on its ending

    @property
    def cost_micros(self) -> int | None:
        """The cost's total in micro-units, for sums in SQL (None without a cost)."""
        total = self.cost.get("total") if isinstance(self.cost, dict) else None
        try:
            return parse_amount(total) if isinstance(total, str) else None
        except ValueError:
            return None

    @property
    def status(self) -> str:
        return STATUS_AFTER[self.kind][0]

    @property
    def status_rank(self) -> int:
        return STATUS_AFTER[self.kind][1]

    @property
    def run_seconds(self) -> float | None:
        """Run time of an ended task: its Job's start to its end."""
        if self.kind not in ENDINGS or self.started_at is None or self.completed_at is None:
            return None
        return max(0.0, (self.completed_at - self.started_at).total_seconds())

    def detail(self) -> dict[str, Any]:
        """What only this event says (kept with the event, not on the task)."""
        found = {
            "attempt": self.attempt,
            "retried_as": self.retried_as,
            "retry_of": self.retry_of,
            "source": self.source,
        }
        return {name: value for name, value in found.items() if value is not None}


def split_stream_id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        raise InvalidEvent(f"not a stream id: {entry_id!r}") from None


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _int(text: str | None) -> int | None:
    try:
        return int(float(text)) if text not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text[:MAX_TEXT]


def _text(text: str | None) -> str | None:
    return text[:MAX_TEXT] if text else None


def parse_entry(entry_id: str, fields: Mapping[str, str]) -> TaskEvent:
    """One stream entry -> TaskEvent; raises InvalidEvent when it is not one."""
    ms, seq = split_stream_id(entry_id)
    task_id, kind_text = fields.get("task_id"), fields.get("kind")
    if not task_id or not kind_text:
        raise InvalidEvent(f"entry {entry_id} has no task_id or kind")
    try:
        kind = EventKind(kind_text)
    except ValueError:
        raise InvalidEvent(f"entry {entry_id}: unknown kind {kind_text!r}") from None
    occurred = parse_time(fields.get("at")) or datetime.fromtimestamp(ms / 1000, UTC)
    attempt_error = fields.get("attempt_error")
    attempt_code = _int(fields.get("attempt_exit_code"))
    failed_attempt = kind is EventKind.ATTEMPT_FAILED
    return TaskEvent(
        event_id=entry_id,
        stream_ms=ms,
        stream_seq=seq,
        task_id=task_id,
        kind=kind,
        occurred_at=occurred,
        task_type=fields.get("task_type") or None,
        user_id=fields.get("user_id") or None,
        priority=_int(fields.get("priority")),
        attempts=_int(fields.get("attempts")),
        attempt=_int(fields.get("attempt")),
        source=fields.get("source") or None,
        created_at=parse_time(fields.get("created_at")),
        admitted_at=parse_time(fields.get("admitted_at")),
        started_at=parse_time(fields.get("started_at")),
        completed_at=parse_time(fields.get("completed_at")),
        worker_host=fields.get("worker_host") or None,
        reason=fields.get("reason") or None,
        # An attempt's own error, not the task's (which a later ending sets).
        error=_text(attempt_error if failed_attempt else fields.get("error")),
        error_type=fields.get("error_type") or None,
        exit_code=attempt_code if failed_attempt else _int(fields.get("exit_code")),
        result=_json(fields.get("result")),
        resources=_json(fields.get("resources")),
        task_input=_json(fields.get("data")),
        retry_of=fields.get("retry_of") or None,
        retried_as=fields.get("retried_as") or None,
        cancelled=fields.get("cancelled") == "1" or kind is EventKind.CANCELLED,
        cost=_json(fields.get("cost")),
    )
