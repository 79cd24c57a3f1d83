"""Enqueue: the task hash, its queue entry, the user indexes and the idempotency key
are written by one Lua script, so a task is either fully queued or not at all."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from devskyy_agents.clock import utc_iso
from devskyy_agents.models import TaskSpec
from devskyy_operator import keys
from devskyy_operator.redisq import scripts
from devskyy_operator.redisq.errors import (
    IdempotencyConflict,
    QueueError,
    QueueFull,
    RateLimited,
    TaskExists,
)
from devskyy_operator.redisq.ids import new_task_id
from devskyy_operator.settings import Settings

if TYPE_CHECKING:
    from devskyy_operator.redisq.scripts import ScriptTarget


@dataclass(frozen=True)
class EnqueueLimits:
    """Per-user admission limits checked inside the enqueue script (0 = unlimited);
    `tier` names the user tier they are of (in the refusal's message)."""

    max_queued_per_user: int
    rate_limit: int
    rate_window_seconds: int
    idempotency_ttl_seconds: int
    tier: str = ""

    @classmethod
    def from_settings(cls, settings: Settings, tier: str | None = None) -> EnqueueLimits:
        """The global limits, or those of `tier` where it sets its own."""
        band = settings.tiers[tier] if tier is not None else None
        rate = band.rate_limit_per_minute if band is not None else None
        cap = band.max_queued if band is not None else None
        return cls(
            max_queued_per_user=cap or settings.max_queued_per_user,
            rate_limit=rate or settings.rate_limit_per_minute,
            rate_window_seconds=settings.rate_window_seconds,
            idempotency_ttl_seconds=settings.idempotency_ttl_seconds,
            tier=tier or "",
        )


# No per-user cap or rate limit (benchmarks, trusted callers); the windows are
# the Settings defaults (`model_construct` reads no environment).
NO_LIMITS = replace(
    EnqueueLimits.from_settings(Settings.model_construct()), max_queued_per_user=0, rate_limit=0
)

# The first field pair of a queued task's hash: the enqueue script writes the
# score it computes (priority, then arrival order) into this slot.
SCORE_SLOT = ("queue_score", "")


@dataclass(frozen=True)
class Enqueued:
    task_id: str
    created: bool  # False when an Idempotency-Key replay returned an earlier task


def task_fields(
    spec: TaskSpec,
    created_at: str,
    source: str,
    extra: Mapping[str, str] | None = None,
    spec_json: str | None = None,
) -> list[str]:
    """The initial task hash as field/value pairs (seed fields plus ours)."""
    fields = [
        "task_type", spec.type.value,
        "status", "pending",
        "data", json.dumps(spec.input, separators=(",", ":")),
        "spec", spec_json or spec.model_dump_json(by_alias=True),
        "priority", str(spec.priority),
        "user_id", spec.user_id,
        "created_at", created_at,
        "started_at", "",
        "completed_at", "",
        "worker_host", "",
        "attempts", "0",
        "source", source,
    ]  # fmt: skip
    if spec.region:
        # Only region tasks carry these: the cancel script finds the queue by `queue`.
        fields += ["region", spec.region, "queue", keys.queue_key(spec.type, spec.region)]
    for name, value in (extra or {}).items():
        fields += [name, value]
    return fields


def request_fingerprint(task_id: str | None, spec_json: str) -> str:
    """What an Idempotency-Key is bound to: the chosen id (if any) and the spec."""
    return hashlib.sha256(f"{task_id or ''}\n{spec_json}".encode()).hexdigest()[:32]


def task_keys(task_id: str, spec: TaskSpec, idempotency_key: str | None) -> list[str]:
    """The keys one task's enqueue touches, in the order the scripts expect them:
    task, queue, user tasks, user queued, idempotency, rate (the sequence apart)."""
    user_id = spec.user_id
    return [
        keys.task_key(task_id),
        keys.queue_key(spec.type, spec.region),
        keys.user_tasks_key(user_id),
        keys.user_queued_key(user_id),
        keys.idempotency_key(user_id, idempotency_key or ""),
        keys.rate_key(user_id),
    ]


def refusal(outcome: str, value: str, limits: EnqueueLimits) -> QueueError:
    """The error an enqueue script's refusal means."""
    if outcome == "mismatch":
        return IdempotencyConflict(value)
    if outcome == "exists":
        return TaskExists(f"task {value} already exists")
    of_tier = f" of tier {limits.tier}" if limits.tier else ""
    if outcome == "quota":
        detail = f"at most {value} queued tasks per user{of_tier}"
        return QueueFull(detail, limits.rate_window_seconds)
    if outcome == "rate":
        return RateLimited(int(value) / 1000, limits.rate_limit, limits.tier)
    raise RuntimeError(f"unexpected enqueue reply {outcome!r} {value!r}")


async def enqueue(
    client: ScriptTarget,
    spec: TaskSpec,
    *,
    task_id: str | None = None,
    idempotency_key: str | None = None,
    limits: EnqueueLimits = NO_LIMITS,
    source: str = "api",
    extra_fields: Mapping[str, str] | None = None,
) -> Enqueued:
    """Queue `spec` (already validated) and return its id.

    `client` may be a `ScriptBatcher`, which sends concurrent enqueues together.

    Raises TaskExists, IdempotencyConflict, QueueFull or RateLimited; in every
    one of those cases nothing but the rate counter was written.
    """
    chosen_id = task_id or new_task_id()
    spec_json = spec.model_dump_json(by_alias=True)
    fields = task_fields(spec, utc_iso(), source, extra_fields, spec_json)
    fingerprint = ""
    if idempotency_key is not None:
        fingerprint = request_fingerprint(task_id, spec_json)
    task, queue, user_tasks, user_queued, idem, rate = task_keys(chosen_id, spec, idempotency_key)
    reply = await scripts.ENQUEUE(
        client,
        [task, queue, keys.SEQUENCE_KEY, user_tasks, user_queued, idem, rate, keys.HISTORY_STREAM],
        [
            chosen_id,
            int(keys.queue_score(spec.priority, 0)),
            f"{time.time():.6f}",
            fingerprint,
            limits.idempotency_ttl_seconds,
            limits.max_queued_per_user,
            limits.rate_limit,
            limits.rate_window_seconds,
            *SCORE_SLOT,
            *fields,
        ],
    )
    outcome, value = reply[0], reply[1]
    if outcome == "created":
        return Enqueued(chosen_id, created=True)
    if outcome == "replayed":
        return Enqueued(value, created=False)
    raise refusal(outcome, value, limits)
