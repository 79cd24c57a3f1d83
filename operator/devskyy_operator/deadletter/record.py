"""The operator's write side of the dead-letter queue: one record per failed task.

`devskyy:dlq:<id>` is a JSON string (the seed's fields plus attempts, reason,
exit code and termination message) that expires after `Settings.dlq_ttl_seconds`
(7 days unless configured); SET NX makes a replayed final failure a no-op, and
the same script indexes the id in `keys.DLQ_INDEX` (pruning entries older than
the TTL) so listing never needs KEYS.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from devskyy_operator import keys
from devskyy_operator.redisq.scripts import LuaScript, Redis

MAX_MESSAGE_CHARS = 4096

_WRITE = LuaScript(
    "dead_letter_write",
    """
local written = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', tonumber(ARGV[2]))
if written then
  redis.call('ZADD', KEYS[2], tonumber(ARGV[3]), ARGV[4])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[3]) - tonumber(ARGV[2]))
  return 1
end
return 0
""",
)


@dataclass(frozen=True)
class DeadLetterRecord:
    task_id: str
    task_data: dict[str, Any]
    error: str
    error_type: str
    failed_at: str
    worker_host: str
    attempts: int
    reason: str
    exit_code: int | None
    termination_message: str | None
    task_type: str
    user_id: str
    namespace: str

    def to_json(self) -> str:
        record = asdict(self)
        if self.termination_message:
            record["termination_message"] = self.termination_message[:MAX_MESSAGE_CHARS]
        return json.dumps(record, separators=(",", ":"), sort_keys=True)


async def write_dead_letter(
    client: Redis, record: DeadLetterRecord, failed_epoch: float, ttl_seconds: int
) -> bool:
    """Write the record once; False when it already existed (a replay)."""
    written = await _WRITE(
        client,
        [keys.dlq_key(record.task_id), keys.DLQ_INDEX],
        [record.to_json(), ttl_seconds, f"{failed_epoch:.6f}", record.task_id],
    )
    return bool(written)
