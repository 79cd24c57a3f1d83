"""Standard 5-field cron expressions, evaluated in an IANA time zone (pure).

The same language and the same answers as Kubernetes CronJob (robfig/cron v3,
`ParseStandard`): minute hour day-of-month month day-of-week; `*`, `?`, lists,
ranges, steps, month and weekday names (jan..dec, sun..sat, 7 = Sunday), the
macros @yearly/@annually/@monthly/@weekly/@daily/@midnight/@hourly. When both
day fields are restricted a day matches either (Vixie cron); a field that
starts with `*` is unrestricted. Daylight saving time, as robfig answers it:
a wall time that a spring-forward skips does not happen that day, and a wall
time that a fall-back repeats happens twice (they are two instants).

Times are searched by walking matching wall-clock minutes, never by stepping
through every minute, so `next_after` costs a few hundred operations at most.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {name: i for i, name in enumerate(calendar.month_abbr) if name}
_WEEKDAYS = {name: (i + 1) % 7 for i, name in enumerate(calendar.day_abbr)}  # mon=1 .. sun=0
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (  # name, low, high, names
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {k.lower(): v for k, v in _MONTHS.items()}),
    ("day of week", 0, 7, {k.lower(): v for k, v in _WEEKDAYS.items()}),
)
_TOKEN = re.compile(r"^[0-9a-z]+$")
SEARCH_YEARS = 5  # as robfig: an expression that matches nothing within 5 years never runs
UTC_ZONE = ZoneInfo("UTC")
_DST_SLACK = timedelta(hours=3)  # more than any zone's clock change


class CronError(ValueError):
    """A schedule or time zone that cannot be used; the message names the part."""


@dataclass(frozen=True)
class Cron:
    """A parsed expression; `next_after`/`latest_at_or_before` answer in UTC."""

    source: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day of month started with '*'
    any_weekday: bool  # day of week started with '*'

    def day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        in_month = day.day in self.days
        in_week = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return in_month and in_week
        return in_month or in_week

    def _walls(self, start: datetime, forward: bool) -> Iterator[datetime]:
        """Matching naive wall times from `start` on (inclusive), in order either way."""
        step = timedelta(days=1 if forward else -1)
        hours = self.hours if forward else tuple(reversed(self.hours))
        minutes = self.minutes if forward else tuple(reversed(self.minutes))
        first = start.replace(second=0, microsecond=0)
        day = first.date()
        for _ in range(366 * SEARCH_YEARS + 2):
            if self.day_matches(day):
                for hour in hours:
                    if day == first.date() and (
                        hour < first.hour if forward else hour > first.hour
                    ):
                        continue
                    for minute in minutes:
                        wall = datetime(day.year, day.month, day.day, hour, minute)
                        if wall >= first if forward else wall <= first:
                            yield wall
            day += step

    def _search(self, moment: datetime, zone: ZoneInfo, forward: bool) -> datetime | None:
        moment = _utc(moment)
        local = moment.astimezone(zone).replace(tzinfo=None)
        # Near a clock change, walls before `local` can be instants after `moment`
        # (and the reverse): look from 3 h around it and keep the best. Elsewhere the
        # first matching wall with an instant on the right side is the answer.
        steady = (moment - _DST_SLACK).astimezone(zone).utcoffset() == (
            moment + _DST_SLACK
        ).astimezone(zone).utcoffset()
        start = local if steady else (local - _DST_SLACK if forward else local + _DST_SLACK)
        best: datetime | None = None
        best_wall = start
        for wall in self._walls(start, forward):
            if best is not None and (steady or abs(wall - best_wall) > _DST_SLACK):
                break
            for instant in instants(wall, zone):
                if forward and instant > moment and (best is None or instant < best):
                    best, best_wall = instant, wall
                if not forward and instant <= moment and (best is None or instant > best):
                    best, best_wall = instant, wall
        return best

    def next_after(self, moment: datetime, zone: ZoneInfo = UTC_ZONE) -> datetime | None:
        """The first scheduled instant strictly after `moment`; None if none in 5 years."""
        return self._search(moment, zone, forward=True)

    def latest_at_or_before(self, moment: datetime, zone: ZoneInfo = UTC_ZONE) -> datetime | None:
        """The last scheduled instant at or before `moment`; None if none in 5 years."""
        return self._search(moment, zone, forward=False)


def instants(wall: datetime, zone: ZoneInfo) -> list[datetime]:
    """The UTC instants whose local time in `zone` is `wall`: none in a spring-forward
    gap, two in a fall-back overlap, otherwise one."""
    found = []
    for fold in (0, 1):
        instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == wall and instant not in found:
            found.append(instant)
    return sorted(found)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("the moment must be timezone-aware")
    return moment.astimezone(UTC)


def _value(text: str, field: str, low: int, high: int, names: dict[str, int]) -> int:
    if text in names:
        return names[text]
    if not text.isdigit():
        raise CronError(f"{field}: {text!r} is not a number" + (" or a name" if names else ""))
    number = int(text)
    if not low <= number <= high:
        raise CronError(f"{field}: {number} is outside {low}-{high}")
    return number


def _field(text: str, index: int) -> tuple[frozenset[int], bool]:
    field, low, high, names = _FIELDS[index]
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"{field}: empty list item in {text!r}")
        span, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{field}: step {step_text!r} must be a positive number")
            step = int(step_text)
        if span in ("*", "?"):
            first, last = low, high
        else:
            start, dash, end = span.partition("-")
            if not _TOKEN.match(start) or (dash and not _TOKEN.match(end)):
                raise CronError(f"{field}: cannot read {part!r}")
            first = _value(start, field, low, high, names)
            last = _value(end, field, low, high, names) if dash else (high if step_text else first)
            if first > last:
                raise CronError(f"{field}: range {span!r} runs backwards")
        values.update(range(first, last + 1, step))
    return frozenset(values), text.startswith(("*", "?"))


def parse(expression: str) -> Cron:
    """Parse a standard cron expression; CronError names the field that is wrong."""
    source = expression.strip()
    if source.upper().startswith(("TZ=", "CRON_TZ=")):
        raise CronError("the schedule must not carry TZ=; set timeZone instead")
    text = MACROS.get(source.lower(), source.lower())
    if text.startswith("@"):
        raise CronError(f"unknown macro {source!r} (known: {', '.join(MACROS)})")
    parts = text.split()
    if len(parts) != len(_FIELDS):
        raise CronError(
            f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}"
        )
    fields = [_field(part, i) for i, part in enumerate(parts)]
    weekdays = frozenset(d % 7 for d in fields[4][0])
    cron = Cron(
        source=source,
        minutes=tuple(sorted(fields[0][0])),
        hours=tuple(sorted(fields[1][0])),
        days=fields[2][0],
        months=fields[3][0],
        weekdays=weekdays,
        any_day=fields[2][1],
        any_weekday=fields[4][1],
    )
    if (
        cron.any_weekday
        and not cron.any_day
        and not any(
            day <= calendar.monthrange(2024, month)[1] for month in cron.months for day in cron.days
        )
    ):
        raise CronError("day of month: no month in the schedule has such a day")
    return cron


def zone(name: str | None) -> ZoneInfo:
    """An IANA time zone (UTC when None); CronError for an unknown name."""
    if name is None or name == "":
        return UTC_ZONE
    if name.startswith(("/", ".")) or ".." in name or name.lower() == "local":
        raise CronError(f"time zone {name!r} is not an IANA name such as Europe/Berlin")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CronError(f"unknown time zone {name!r} (an IANA name such as Europe/Berlin)") from exc
