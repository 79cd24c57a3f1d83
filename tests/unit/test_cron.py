"""The cron language and its answers, including daylight saving time (robfig/cron's
own DST table, which Kubernetes CronJob inherits)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from devskyy_operator import cron

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

NEW_YORK = cron.zone("America/New_York")
BERLIN = cron.zone("Europe/Berlin")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("after", "expression", "expected"),
    [
        ("2026-12-02T10:00:30+00:00", "* * * * *", "2026-12-02T10:01:00+00:00"),
        ("2026-12-02T10:01:00+00:00", "* * * * *", "2026-12-02T10:02:00+00:00"),  # strictly after
        ("2026-12-02T10:07:00+00:00", "*/15 * * * *", "2026-12-02T10:15:00+00:00"),
        ("2026-12-02T10:07:00+00:00", "5/20 * * * *", "2026-12-02T10:25:00+00:00"),
        ("2026-12-02T10:07:00+00:00", "0 9-17/4 * * *", "2026-12-02T13:00:00+00:00"),
        ("2026-12-02T10:07:00+00:00", "0,30 8 * * *", "2026-12-03T08:00:00+00:00"),
        ("2026-12-04T18:00:00+00:00", "0 9 * * mon-fri", "2026-12-07T09:00:00+00:00"),  # Fri->Mon
        ("2026-12-02T10:07:00+00:00", "0 0 * * 7", "2026-12-06T00:00:00+00:00"),  # 7 = Sunday
        ("2026-12-02T10:07:00+00:00", "0 0 1 jan *", "2027-01-01T00:00:00+00:00"),
        ("2026-12-02T10:07:00+00:00", "@monthly", "2027-01-01T00:00:00+00:00"),
        ("2026-12-02T10:07:00+00:00", "@hourly", "2026-12-02T11:00:00+00:00"),
        ("2026-12-02T10:07:00+00:00", "@weekly", "2026-12-06T00:00:00+00:00"),
        ("2027-03-01T00:00:00+00:00", "0 0 29 2 *", "2028-02-29T00:00:00+00:00"),  # leap day
        # Both day fields restricted: either matches (the 13th, or any Friday).
        ("2026-12-02T10:07:00+00:00", "0 0 13 * fri", "2026-12-04T00:00:00+00:00"),
        # One of them '*' (or '*/n'): both must match.
        ("2026-12-02T10:07:00+00:00", "0 0 */1 * fri", "2026-12-04T00:00:00+00:00"),
        ("2026-12-02T10:07:00+00:00", "0 0 13 * *", "2026-12-13T00:00:00+00:00"),
        ("2026-12-02T10:07:00+00:00", "0 0 ? * ?", "2026-12-03T00:00:00+00:00"),
    ],
)
def test_next_after_in_utc(after: str, expression: str, expected: str) -> None:
    assert cron.parse(expression).next_after(at(after)) == at(expected)


@pytest.mark.parametrize(
    ("after", "expression", "expected"),
    [
        # Spring forward in New York, 2012-03-11 02:00 EST -> 03:00 EDT: 02:30 does not
        # happen that day; the hourly schedule goes 01:00 -> 03:00.
        ("2012-03-11T00:00:00-05:00", "30 2 11 mar *", "2013-03-11T02:30:00-04:00"),
        ("2012-03-11T01:00:00-05:00", "0 * * * *", "2012-03-11T03:00:00-04:00"),
        ("2012-03-11T00:00:00-05:00", "0 2 * * *", "2012-03-12T02:00:00-04:00"),
        # Fall back, 2012-11-04 02:00 EDT -> 01:00 EST: 01:xx happens twice.
        ("2012-11-04T00:00:00-04:00", "30 2 4 nov *", "2012-11-04T02:30:00-05:00"),
        ("2012-11-04T01:45:00-04:00", "30 1 4 nov *", "2012-11-04T01:30:00-05:00"),
        ("2012-11-04T01:00:00-04:00", "0 * * * *", "2012-11-04T01:00:00-05:00"),
        ("2012-11-04T01:00:00-05:00", "0 * * * *", "2012-11-04T02:00:00-05:00"),
        ("2012-11-04T00:00:00-04:00", "0 1 * * *", "2012-11-04T01:00:00-04:00"),
        ("2012-11-04T01:00:00-04:00", "0 1 * * *", "2012-11-04T01:00:00-05:00"),
        ("2012-11-04T01:00:00-05:00", "0 1 * * *", "2012-11-05T01:00:00-05:00"),
    ],
)
def test_daylight_saving_time_as_robfig_cron(after: str, expression: str, expected: str) -> None:
    assert cron.parse(expression).next_after(at(after), NEW_YORK) == at(expected)


def test_the_zone_moves_the_instant() -> None:
    daily = cron.parse("0 9 * * *")
    moment = at("2026-07-01T00:00:00+00:00")
    assert daily.next_after(moment, BERLIN) == at("2026-07-01T07:00:00+00:00")  # CEST
    assert daily.next_after(at("2026-12-01T00:00:00+00:00"), BERLIN) == at(
        "2026-12-01T08:00:00+00:00"
    )  # CET


@pytest.mark.parametrize(
    ("moment", "expression", "zone", "expected"),
    [
        ("2026-12-02T10:07:30+00:00", "* * * * *", "UTC", "2026-12-02T10:07:00+00:00"),
        ("2026-12-02T10:07:00+00:00", "* * * * *", "UTC", "2026-12-02T10:07:00+00:00"),  # at
        ("2026-12-07T08:00:00+00:00", "0 9 * * mon-fri", "UTC", "2026-12-04T09:00:00+00:00"),
        # Backwards across the fall-back overlap: the second 01:30 is the latest.
        ("2012-11-04T01:50:00-05:00", "30 1 * * *", "America/New_York",
         "2012-11-04T01:30:00-05:00"),
        ("2012-11-04T01:10:00-05:00", "30 1 * * *", "America/New_York",
         "2012-11-04T01:30:00-04:00"),
        # Across the spring-forward gap: 02:30 did not happen on the 11th.
        ("2012-03-11T05:00:00-04:00", "30 2 * * *", "America/New_York",
         "2012-03-10T02:30:00-05:00"),
    ],
)  # fmt: skip
def test_latest_at_or_before(moment: str, expression: str, zone: str, expected: str) -> None:
    assert cron.parse(expression).latest_at_or_before(at(moment), cron.zone(zone)) == at(expected)


def test_a_schedule_walk_is_cheap() -> None:
    """A minute schedule answers in well under a millisecond per step (no per-minute scan
    of the day); 10,000 steps cover a week."""
    every_minute, moment = cron.parse("* * * * *"), at("2026-12-02T10:07:30+00:00")
    for _ in range(10_080):
        following = every_minute.next_after(moment, BERLIN)
        assert following is not None
        moment = following
    assert moment == at("2026-12-09T10:07:00+00:00")


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "expected 5 fields"),
        ("* * * * * *", "expected 5 fields"),
        ("60 * * * *", "minute: 60 is outside 0-59"),
        ("* 24 * * *", "hour: 24 is outside 0-23"),
        ("* * 0 * *", "day of month: 0 is outside 1-31"),
        ("* * * 13 *", "month: 13 is outside 1-12"),
        ("* * * * 8", "day of week: 8 is outside 0-7"),
        ("*/0 * * * *", "minute: step '0' must be a positive number"),
        ("5-1 * * * *", "minute: range '5-1' runs backwards"),
        ("1,,2 * * * *", "minute: empty list item"),
        ("x * * * *", "minute: 'x' is not a number"),
        ("* * * foo *", "month: 'foo' is not a number or a name"),
        ("0 0 30 2 *", "day of month: no month in the schedule has such a day"),
        ("@every 5m", "unknown macro"),
        ("TZ=Europe/Berlin * * * * *", "set timeZone instead"),
    ],
)
def test_bad_expressions_name_the_field(expression: str, message: str) -> None:
    with pytest.raises(cron.CronError, match=message.replace("*", r"\*")):
        cron.parse(expression)


def test_feb_30_is_fine_when_a_weekday_can_match() -> None:
    """Both day fields restricted: a Friday in February matches even if the 30th cannot."""
    either = cron.parse("0 0 30 2 fri")
    assert either.next_after(at("2026-12-02T00:00:00+00:00")) == at("2027-02-05T00:00:00+00:00")


@pytest.mark.parametrize("name", ["Mars/Olympus", "../etc/passwd", "/etc/localtime", "local", "x"])
def test_unknown_zones_are_refused(name: str) -> None:
    with pytest.raises(cron.CronError, match="IANA"):
        cron.zone(name)


def test_no_zone_is_utc() -> None:
    assert cron.zone(None).utcoffset(datetime(2026, 7, 1)) == UTC.utcoffset(None)
