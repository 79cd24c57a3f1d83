"""The one timestamp format of the task hash: ISO 8601, UTC, microseconds, 'Z'.

The Lua scripts write the same format (`lua.iso_utc`) from the server clock.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_iso(moment: datetime | None = None) -> str:
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    # isoformat is several times cheaper than strftime; its '+00:00' becomes 'Z'.
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def epoch_iso(epoch: float) -> str:
    return utc_iso(datetime.fromtimestamp(epoch, UTC))
