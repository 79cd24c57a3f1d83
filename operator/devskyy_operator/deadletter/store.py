"""Reading and retrying dead letters. `final_failure.py` writes them (SET NX, 7 days,
plus an entry in `keys.DLQ_INDEX`); this side lists them through the index, never
KEYS/SCAN, and re-enqueues one atomically with the removal of its record.

A retry gets a NEW id, '<old>-r<n>' (a Job/CR name must not be reused while
the old one may still exist), and carries the failures so far in the hash field
``attempt_history`` (JSON list) plus ``retry_of``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from devskyy_agents.clock import utc_iso
from devskyy_agents.models import TaskSpec, parse_spec
from devskyy_operator import keys
from devskyy_operator.deadletter.record import DeadLetter
from devskyy_operator.redisq import scripts
from devskyy_operator.redisq.enqueue import SCORE_SLOT, Enqueued, task_fields
from devskyy_operator.redisq.errors import (
    DeadLetterChanged,
    DeadLetterInvalid,
    TaskExists,
    TaskNotFound,
)
from devskyy_operator.redisq.ids import retry_task_id
from devskyy_operator.redisq.records import REQUESTED_PRIORITY_FIELD
from devskyy_operator.redisq.scripts import Redis


async def get_dead_letter(client: Redis, task_id: str) -> DeadLetter | None:
    text = await client.get(keys.dlq_key(task_id))
    return DeadLetter.from_json(task_id, text) if text is not None else None


async def list_dead_letters(
    client: Redis, *, offset: int = 0, limit: int = 50, user_id: str | None = None
) -> list[DeadLetter]:
    """Newest failures first; index entries whose record expired are pruned."""
    found: list[DeadLetter] = []
    start, page = offset, max(limit, 50)
    while len(found) < limit:
        ids = await client.zrevrange(keys.DLQ_INDEX, start, start + page - 1)
        if not ids:
            break
        texts = await client.mget([keys.dlq_key(task_id) for task_id in ids])
        stale = [task_id for task_id, text in zip(ids, texts, strict=True) if text is None]
        if stale:
            await client.zrem(keys.DLQ_INDEX, *stale)
            start -= len(stale)
        for task_id, text in zip(ids, texts, strict=True):
            if text is None:
                continue
            letter = DeadLetter.from_json(task_id, text)
            if user_id is None or letter.user_id == user_id:
                found.append(letter)
        start += page
    return found[:limit]


def _retry_spec(letter: DeadLetter, old_hash: dict[str, str]) -> TaskSpec:
    """The failed task's full spec when its hash survives, else type + input."""
    if old_hash.get("spec"):
        raw: dict[str, Any] = json.loads(old_hash["spec"])
    else:
        raw = {"type": letter.task_type or old_hash.get("task_type"), "input": letter.task_data}
    return parse_spec(raw)


# Places a retried spec in its user's tier: the spec to queue and the hash fields
# that say so (`intake.tiered`; the API passes it in, this stage knows no tiers).
Placement = Callable[[TaskSpec], tuple[TaskSpec, Mapping[str, str]]]


async def retry_dead_letter(
    client: Redis, task_id: str, *, place: Placement | None = None
) -> Enqueued:
    """Re-enqueue a dead letter under '<id>-r<n>' and drop its record and index entry.

    With `place`, the retry is placed as the first request was: its requested
    priority (kept in the old hash) in the user's tier of now.

    Raises TaskNotFound, DeadLetterInvalid (the stored task no longer
    validates), DeadLetterChanged (concurrent retry) or TaskExists.
    """
    text = await client.get(keys.dlq_key(task_id))
    if text is None:
        raise TaskNotFound(f"no dead letter for {task_id}")
    old_hash = await client.hgetall(keys.task_key(task_id))
    try:
        letter = DeadLetter.from_json(task_id, text)
        spec = _retry_spec(letter, old_hash)
    except ValueError as exc:  # json and pydantic errors are ValueErrors
        raise DeadLetterInvalid(f"dead letter cannot be retried: {exc}") from None
    history: list[Any] = json.loads(old_hash.get("attempt_history") or "[]")
    history.append(letter.history_entry())
    new_id = retry_task_id(task_id, len(history))
    extra = {"attempt_history": json.dumps(history), "retry_of": task_id}
    if place is not None:
        asked = old_hash.get(REQUESTED_PRIORITY_FIELD)
        if asked and asked.isdigit():
            spec = spec.model_copy(update={"priority": int(asked)})
        spec, placed = place(spec)
        extra |= placed
    fields = task_fields(spec, utc_iso(), "dlq-retry", extra)
    outcome, _ = await scripts.RETRY_DEAD_LETTER(
        client,
        [
            keys.dlq_key(task_id),
            keys.DLQ_INDEX,
            keys.task_key(new_id),
            keys.queue_key(spec.type, spec.region),
            keys.SEQUENCE_KEY,
            keys.user_tasks_key(spec.user_id),
            keys.user_queued_key(spec.user_id),
            keys.task_key(task_id),
            keys.HISTORY_STREAM,
        ],
        [
            task_id,
            text,
            new_id,
            int(keys.queue_score(spec.priority, 0)),
            f"{time.time():.6f}",
            *SCORE_SLOT,
            *fields,
        ],
    )
    if outcome == "changed":
        raise DeadLetterChanged(f"dead letter {task_id} changed or was retried meanwhile")
    if outcome == "exists":
        raise TaskExists(f"task {new_id} already exists")
    return Enqueued(new_id, created=True)
