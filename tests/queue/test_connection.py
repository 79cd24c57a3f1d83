"""The hiredis-packing connections: byte-identical to redis-py's own packer, with
redis-py's behaviour kept for what hiredis would pack differently."""

from __future__ import annotations

import pytest
from redis.asyncio.connection import Connection
from redis.exceptions import DataError

from devskyy_operator.redisq import Redis
from devskyy_operator.redisq.connection import (
    HiredisPackedConnection,
    HiredisPackedSSLConnection,
    HiredisPackedUnixConnection,
    connection_class_for,
)

pytestmark = pytest.mark.timeout(30)

COMMANDS = [
    ("SET", "key", "value"),
    ("EVALSHA", "a" * 40, 2, "k1", "k2", 1.5, 0.1, 1e20, -7, 0, b"\x00raw"),
    ("HSET", "h", "name", "Zoë ✓", "empty", ""),
    ("ZADD", "z", 123456789012345678, "member"),
    ("SET", "big", "x" * 100_000),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: str(c[0]))
def test_packs_exactly_like_redis_py(command: tuple[object, ...]) -> None:
    ours = HiredisPackedConnection().pack_command(*command)
    theirs = Connection().pack_command(*command)
    assert b"".join(ours) == b"".join(theirs)


def test_falls_back_where_hiredis_differs() -> None:
    packed = HiredisPackedConnection()
    assert b"".join(packed.pack_command("CONFIG GET", "maxmemory")) == (
        b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$9\r\nmaxmemory\r\n"
    )
    with pytest.raises(DataError):  # redis-py refuses bools; so do we
        packed.pack_command("SET", "k", True)


def test_class_follows_the_url_scheme() -> None:
    assert connection_class_for("redis://localhost:6379/0") is HiredisPackedConnection
    assert connection_class_for("rediss://cache.example:6380/0") is HiredisPackedSSLConnection
    assert connection_class_for("unix:///run/redis.sock") is HiredisPackedUnixConnection


@pytest.mark.integration
async def test_real_round_trips(aredis: Redis) -> None:
    pool = aredis.connection_pool
    assert pool.connection_class is HiredisPackedConnection
    await aredis.hset("h", mapping={"name": "Zoë ✓", "n": 3})
    assert await aredis.hgetall("h") == {"name": "Zoë ✓", "n": "3"}
    assert "maxmemory" in await aredis.config_get("maxmemory")
