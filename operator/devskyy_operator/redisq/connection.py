"""redis.asyncio connections that pack commands with hiredis' C packer.

redis-py's synchronous client already packs with `hiredis.pack_command`; its
asyncio client packs in Python, ≈ 1.4 µs per argument (measured: 67 µs for the
47-argument enqueue EVALSHA, 8 µs with hiredis). Every Redis call of the API,
bridge and operator goes through here. Anything hiredis does not pack the same
way (a command name with a space such as "CONFIG GET", a non-UTF-8 encoding,
argument types other than str/bytes/int/float) takes redis-py's own packer.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import hiredis
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
)


class _HiredisPacking(AbstractConnection):
    """Overrides only `pack_command`; mixed in before each concrete class."""

    def pack_command(self, *args: Any) -> list[bytes]:
        name = args[0] if args else None
        plain_name = isinstance(name, str) and " " not in name
        if plain_name and self.encoder.encoding == "utf-8":
            try:
                return [hiredis.pack_command(args)]
            except TypeError:  # bool, None, memoryview...: redis-py decides
                pass
        packed: list[bytes] = super().pack_command(*args)
        return packed


class HiredisPackedConnection(_HiredisPacking, Connection):
    """redis:// (TCP)."""


class HiredisPackedSSLConnection(_HiredisPacking, SSLConnection):
    """rediss:// (TLS)."""


class HiredisPackedUnixConnection(_HiredisPacking, UnixDomainSocketConnection):
    """unix:// sockets."""


def connection_class_for(url: str) -> type[AbstractConnection]:
    """The packing variant of the class redis-py itself would pick for `url`."""
    scheme = urlsplit(url).scheme
    if scheme == "rediss":
        return HiredisPackedSSLConnection
    if scheme == "unix":
        return HiredisPackedUnixConnection
    return HiredisPackedConnection
