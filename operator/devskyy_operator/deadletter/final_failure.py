"""The one final-failure path: every door that fails a task for good calls
`record_final_failure` with the facts, and it writes the same things in the
same order whoever calls it.

Order: the DLQ record first (SET NX), then the task hash (forward-only), then
the counters. A crash in between replays to the same result: the hash is not
yet terminal, so the operator's reconcile or the bridge's sweeper comes back,
the DLQ write is a no-op and the hash is written. The counters move only when
this call wrote the DLQ record, so a replay (or a second process deciding the
same failure) counts nothing twice. The CR status, where there is a CR, comes
after this (the caller's write), so a terminal status always has its records.

Before the record, the operator (which passes `kube`) reads the failed
attempt's pod log through the API (pods/log): the Job, and its pods, may be
deleted only after the task's outcome is recorded, so the pod is still there.
The tail is masked with the values of the task's Secret and generic patterns
(`log_tail.py`); when that Secret exists but cannot be read, the tail is withheld.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from devskyy_agents.clock import utc_iso
from devskyy_operator import keys
from devskyy_operator.deadletter.log_tail import (
    WITHHELD,
    complete_lines,
    fetch_limit_bytes,
    masked_tail,
    secret_values_of,
)
from devskyy_operator.deadletter.record import DeadLetter, FinalFailure
from devskyy_operator.kube.client import TRANSPORT_ERRORS, ApiError, KubeClient, resource_path
from devskyy_operator.kube.errors import NotFound
from devskyy_operator.metrics import DEAD_LETTERS_TOTAL, ERRORS_TOTAL, TASKS_TOTAL
from devskyy_operator.redisq import task_store
from devskyy_operator.redisq.scripts import LuaScript, Redis
from devskyy_operator.settings import Settings

log = logging.getLogger("devskyy.deadletter")
# What a failed read of the API raises: its answer, or no answer.
_READ_ERRORS: tuple[type[BaseException], ...] = (ApiError, *TRANSPORT_ERRORS)

# KEYS: record, index, task hash, history stream. ARGV: record JSON, ttl, failed epoch, id.
# The history entry takes the record's own facts over the hash's (a task refused
# before it had a hash has only the record).
_WRITE = LuaScript(
    "dead_letter_write",
    """
local written = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', tonumber(ARGV[2]))
if written then
  redis.call('ZADD', KEYS[2], tonumber(ARGV[3]), ARGV[4])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[3]) - tonumber(ARGV[2]))
  local record = cjson.decode(ARGV[1])
  local extra = {}
  for _, name in ipairs({'task_type', 'user_id', 'error', 'error_type', 'reason', 'attempts',
                         'exit_code', 'worker_host'}) do
    local value = record[name]
    if value ~= nil and value ~= cjson.null then
      extra[#extra + 1] = name
      extra[#extra + 1] = type(value) == 'number' and string.format('%d', value) or value
    end
  end
  history(KEYS[4], KEYS[3], ARGV[4], 'dead_lettered', tonumber(ARGV[3]), extra)
  return 1
end
return 0
""",
)


async def write_dead_letter(
    client: Redis, record: DeadLetter, failed_epoch: float, ttl_seconds: int
) -> bool:
    """Write the record once and index it in `keys.DLQ_INDEX` (pruning entries older
    than the TTL, so listing never needs KEYS); False when it already existed."""
    written = await _WRITE(
        client,
        [
            keys.dlq_key(record.task_id),
            keys.DLQ_INDEX,
            keys.task_key(record.task_id),
            keys.HISTORY_STREAM,
        ],
        [record.to_json(), ttl_seconds, f"{failed_epoch:.6f}", record.task_id],
    )
    return bool(written)


async def task_secret_values(
    kube: KubeClient, namespace: str, settings: Settings
) -> list[str] | None:
    """The values of the task Secret (`task_secret_name`); [] when there is none,
    None when it could not be read (so nothing may be shown unmasked)."""
    if not settings.task_secret_name:
        return []
    path = resource_path("v1", "secrets", namespace, settings.task_secret_name)
    try:
        return secret_values_of(await kube.get(path))
    except NotFound:
        return []
    except _READ_ERRORS as exc:
        log.warning("task secret %s unreadable (%s): log tail withheld", path, type(exc).__name__)
        return None


async def read_log_tail(kube: KubeClient, failure: FinalFailure, settings: Settings) -> str:
    """The masked, bounded last lines of the failed attempt's pod log ("" when unreadable)."""
    lines, max_bytes = settings.dlq_log_tail_lines, settings.dlq_log_tail_bytes
    if not failure.log_pod or lines <= 0 or max_bytes <= 0:
        return ""
    limit = fetch_limit_bytes(max_bytes)
    path = resource_path("v1", "pods", failure.namespace, failure.log_pod, "log")
    try:
        raw = await kube.get_text(path, {"tailLines": lines, "limitBytes": limit})
    except _READ_ERRORS as exc:
        log.info("log of %s not kept for the DLQ: %s", path, type(exc).__name__)
        return ""
    secrets = await task_secret_values(kube, failure.namespace, settings)
    if secrets is None:
        return WITHHELD
    return masked_tail(complete_lines(raw, limit), secrets, lines, max_bytes)


async def record_final_failure(
    client: Redis, failure: FinalFailure, settings: Settings, kube: KubeClient | None = None
) -> bool:
    """DLQ record, task hash -> failed, counters; True when this call wrote the record.
    With `kube`, the record keeps the failed pod's log tail."""
    if kube is not None and failure.log_pod and not failure.log_tail:
        failure = replace(failure, log_tail=await read_log_tail(kube, failure, settings))
    letter = failure.dead_letter()
    written = await write_dead_letter(
        client, letter, failure.failed_at.timestamp(), settings.dlq_ttl_seconds
    )
    await task_store.mark_failed(
        client, failure.task_id, letter.error, error_type=failure.error_type,
        completed_at=utc_iso(failure.failed_at), reason=failure.reason,
        exit_code=failure.exit_code, attempts=failure.attempts,
        record_ttl_seconds=settings.task_record_ttl_seconds,
        throughput_window_seconds=settings.throughput_window_seconds,
        cost=failure.cost, cost_retention_seconds=settings.cost.index_retention_seconds,
    )  # fmt: skip
    if written:
        DEAD_LETTERS_TOTAL.labels(failure.task_type, failure.reason).inc()
        TASKS_TOTAL.labels(failure.task_type, "failed").inc()
        ERRORS_TOTAL.labels(failure.task_type).inc()
    return written
