"""Runs the queue's Lua scripts: EVALSHA first, EVAL once when the server lost its cache.

Clients must be created with ``decode_responses=True`` (see `connect`): every
script returns strings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from devskyy_operator.redisq import lua
from devskyy_operator.redisq.connection import connection_class_for

if TYPE_CHECKING:
    from devskyy_operator.redisq.batching import ScriptBatcher

    Redis: TypeAlias = aioredis.Redis[str]
    # Where a script can be sent: the client itself, or a batcher in front of it.
    ScriptTarget: TypeAlias = Redis | ScriptBatcher
else:
    Redis = aioredis.Redis
ScriptArg = str | int | float


class LuaScript:
    """One script: its source (with the shared helpers) and the SHA1 Redis caches it under."""

    def __init__(self, name: str, body: str) -> None:
        self.name = name
        self.source = lua.COMMON + body
        self.sha = hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(
        self, client: ScriptTarget, keys: Sequence[str], args: Sequence[ScriptArg]
    ) -> Any:
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            # After a restart or SCRIPT FLUSH; EVAL also re-populates the cache.
            return await client.eval(self.source, len(keys), *keys, *args)


ENQUEUE = LuaScript("enqueue", lua.ENQUEUE)
BATCH_ENQUEUE = LuaScript("batch_enqueue", lua.BATCH_ENQUEUE)
RATE = LuaScript("rate", lua.RATE)
CLAIM = LuaScript("claim", lua.CLAIM)
RECLAIM = LuaScript("reclaim", lua.RECLAIM)
EXTEND_LEASE = LuaScript("extend_lease", lua.EXTEND_LEASE)
CANCEL = LuaScript("cancel", lua.CANCEL)
RETRY_DEAD_LETTER = LuaScript("retry_dead_letter", lua.RETRY_DEAD_LETTER)
MARK_PROCESSING = LuaScript("mark_processing", lua.MARK_PROCESSING)
MARK_ADMITTED = LuaScript("mark_admitted", lua.MARK_ADMITTED)
MARK_FINISHED = LuaScript("mark_finished", lua.MARK_FINISHED)
ENSURE_RECORD = LuaScript("ensure_record", lua.ENSURE_RECORD)
SCHEDULE_WRITE = LuaScript("schedule_write", lua.SCHEDULE_WRITE)
SCHEDULE_SETTLED = LuaScript("schedule_settled", lua.SCHEDULE_SETTLED)


def connect(url: str, **options: Any) -> Redis:
    """An asyncio client in the mode the queue expects (str replies)."""
    options.setdefault("connection_class", connection_class_for(url))
    client: Redis = aioredis.Redis.from_url(url, decode_responses=True, **options)
    return client


async def disconnect(client: Redis) -> None:
    """Close a client from `connect` (the bundled stubs predate ``aclose``)."""
    await client.aclose()  # type: ignore[attr-defined]
