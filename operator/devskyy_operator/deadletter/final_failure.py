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
"""

from __future__ import annotations

from devskyy_agents.clock import utc_iso
from devskyy_operator import keys
from devskyy_operator.deadletter.record import DeadLetter, FinalFailure
from devskyy_operator.metrics import DEAD_LETTERS_TOTAL, ERRORS_TOTAL, TASKS_TOTAL
from devskyy_operator.redisq import task_store
from devskyy_operator.redisq.scripts import LuaScript, Redis
from devskyy_operator.settings import Settings

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


async def record_final_failure(client: Redis, failure: FinalFailure, settings: Settings) -> bool:
    """DLQ record, task hash -> failed, counters; True when this call wrote the record."""
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
