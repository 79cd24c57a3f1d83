"""Batch enqueue: many tasks in one Lua script call, all queued or none.

The script checks every item (idempotency, existence, the per-user cap and rate
limit, counting the batch's own items) before it writes any, so a refusal of
item 7 leaves nothing of items 1 to 6 behind. Each item may carry its own
Idempotency-Key: a replayed item returns its earlier id and is not written again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from devskyy_agents.clock import utc_iso
from devskyy_agents.models import TaskSpec
from devskyy_operator import keys
from devskyy_operator.redisq import scripts
from devskyy_operator.redisq.enqueue import (
    NO_LIMITS,
    SCORE_SLOT,
    Enqueued,
    EnqueueLimits,
    refusal,
    request_fingerprint,
    task_fields,
    task_keys,
)
from devskyy_operator.redisq.errors import BatchItemRefused
from devskyy_operator.redisq.ids import new_task_id

if TYPE_CHECKING:
    from devskyy_operator.redisq.scripts import ScriptTarget


@dataclass(frozen=True)
class BatchEntry:
    """One task of a batch (its spec already validated)."""

    spec: TaskSpec
    task_id: str | None = None
    idempotency_key: str | None = None
    extra_fields: Mapping[str, str] | None = None  # hash fields beside the seed's (tier)


# Which field of an item each refusal is about (the error names it).
REFUSED_FIELD = {
    "exists": "task_id",
    "mismatch": "idempotency_key",
    "quota": "spec.input.user_id",
    "rate": "spec.input.user_id",
}


async def enqueue_batch(
    client: ScriptTarget,
    entries: Sequence[BatchEntry],
    *,
    limits: EnqueueLimits = NO_LIMITS,
    source: str = "api",
) -> list[Enqueued]:
    """Queue every entry, in order, or none of them.

    Raises BatchItemRefused (carrying the refused item's index, the field and the
    single-enqueue error it stands for); then nothing at all was written.
    """
    created_at = utc_iso()
    script_keys: list[str] = [keys.SEQUENCE_KEY]
    args: list[str | int] = [
        len(entries),
        f"{time.time():.6f}",
        limits.idempotency_ttl_seconds,
        limits.max_queued_per_user,
        limits.rate_limit,
        limits.rate_window_seconds,
    ]
    for entry in entries:
        chosen_id = entry.task_id or new_task_id()
        spec_json = entry.spec.model_dump_json(by_alias=True)
        fields = [
            *SCORE_SLOT,
            *task_fields(entry.spec, created_at, source, entry.extra_fields, spec_json),
        ]
        fingerprint = ""
        if entry.idempotency_key is not None:
            fingerprint = request_fingerprint(entry.task_id, spec_json)
        script_keys += task_keys(chosen_id, entry.spec, entry.idempotency_key)
        args += [
            chosen_id,
            int(keys.queue_score(entry.spec.priority, 0)),
            fingerprint,
            len(fields),
            *fields,
        ]
    script_keys.append(keys.HISTORY_STREAM)
    reply = await scripts.BATCH_ENQUEUE(client, script_keys, args)
    if reply[0] == "refused":
        index, outcome, value = int(reply[1]) - 1, reply[2], reply[3]
        raise BatchItemRefused(index, REFUSED_FIELD[outcome], refusal(outcome, value, limits))
    pairs = reply[1:]
    return [Enqueued(pairs[i + 1], created=pairs[i] == "created") for i in range(0, len(pairs), 2)]
