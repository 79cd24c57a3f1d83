"""The result cache in Redis: entries under `devskyy:result-cache:<sha256>` with a
TTL, and the newest model version the operator has seen per model.

The model versions live on the models volume, which the operator does not
mount; the versions it learns from the outputs of succeeded ml_training and
ml_prediction tasks (their `model_version`) are what an unpinned prediction's
key uses. A model trained outside the operator reaches the key with the next
prediction that runs (at the latest when the older entry's TTL ends).
"""

from __future__ import annotations

from devskyy_operator import keys
from devskyy_operator.cache.key import CacheEntry
from devskyy_operator.redisq.scripts import LuaScript, Redis

# Versions sort by time (model_store.new_version): keep the larger one, atomically.
_RECORD_NEWER = LuaScript(
    "record_newer_model_version",
    r"""
local current = redis.call('GET', KEYS[1])
if current and current >= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
""",
)


async def get_entry(client: Redis, digest: str) -> CacheEntry | None:
    """The stored entry under a key, None when absent, expired or unreadable."""
    return CacheEntry.from_json(await client.get(keys.result_cache_key(digest)))


async def put_entry(client: Redis, digest: str, entry: CacheEntry, ttl_seconds: int) -> bool:
    """Store a result unless one is there (the first within its TTL stands, so every
    hit names the same original task); True if written."""
    written = await client.set(
        keys.result_cache_key(digest), entry.to_json(), ex=ttl_seconds, nx=True
    )
    return bool(written)


async def latest_model_version(client: Redis, model_id: str) -> str | None:
    value = await client.get(keys.model_latest_key(model_id))
    return str(value) if value else None


async def record_model_version(client: Redis, model_id: str, version: str) -> bool:
    """Note `version` as the model's newest, unless a newer one is noted; True if it is now."""
    return bool(await _RECORD_NEWER(client, [keys.model_latest_key(model_id)], [version]))
