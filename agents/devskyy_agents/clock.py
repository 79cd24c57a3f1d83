"""The one UTC timestamp format of the system: ISO 8601 / RFC 3339 ending in 'Z'.

Redis records, dead letters, task results, log lines and the Lease's MicroTime
carry microseconds; Kubernetes `metav1.Time` fields (conditions, status times,
events) carry seconds, as the apiserver itself writes them. The Lua scripts
write the same microsecond format from Redis' clock (`redisq/lua.py` iso_utc).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal


def utc_iso(
    moment: datetime | None = None,
    *,
    timespec: Literal["seconds", "microseconds"] = "microseconds",
) -> str:
    """`moment` (default: now) in UTC; a naive datetime is refused, not guessed."""
    if moment is None:
        moment = datetime.now(UTC)
    elif moment.tzinfo is None:
        raise ValueError("the moment must be timezone-aware")
    # isoformat is several times cheaper than strftime; its '+00:00' becomes 'Z'.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec=timespec) + "Z"


def epoch_iso(epoch: float) -> str:
    """Unix seconds as `utc_iso` (microseconds)."""
    return utc_iso(datetime.fromtimestamp(epoch, UTC))
