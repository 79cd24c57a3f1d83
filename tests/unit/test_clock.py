"""The one UTC timestamp format (devskyy_agents.clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from devskyy_agents.clock import epoch_iso, utc_iso
from devskyy_operator.crd.task_view import parse_time

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

MOMENT = datetime(2026, 1, 5, 12, 0, 7, 120, tzinfo=UTC)


def test_microseconds_by_default_seconds_for_kubernetes_times() -> None:
    assert utc_iso(MOMENT) == "2026-01-05T12:00:07.000120Z"
    assert utc_iso(MOMENT, timespec="seconds") == "2026-01-05T12:00:07Z"
    assert epoch_iso(MOMENT.timestamp()) == "2026-01-05T12:00:07.000120Z"


def test_other_zones_become_utc_and_naive_moments_are_refused() -> None:
    plus_two = MOMENT.astimezone(timezone(timedelta(hours=2)))
    assert utc_iso(plus_two) == utc_iso(MOMENT)
    with pytest.raises(ValueError, match="timezone-aware"):
        utc_iso(datetime(2026, 1, 5, 12, 0))


def test_what_is_written_parses_back() -> None:
    assert parse_time(utc_iso(MOMENT)) == MOMENT
    assert parse_time(utc_iso(MOMENT, timespec="seconds")) == MOMENT.replace(microsecond=0)
    assert utc_iso().endswith("Z")
