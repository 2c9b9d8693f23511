"""Business-time arithmetic on a working calendar (服务时限), pure: no database, no app.

A :class:`Calendar` knows the working intervals of each weekday (wall-clock times in its
time zone, several a day: 09:00–12:00 and 13:30–18:00) and dated exceptions: a
``holiday`` (放假) has no working time, a ``workday`` (调休上班, a weekend day that is
worked) has the hours of an ordinary Monday. The dated rows come from ``load_days(first,
last)``, called for a whole span at once (a year at a time) and kept, so a calendar built
for one flush or one ``sla-check`` run reads each year once.

Instants are aware datetimes (naive ones are taken as UTC, like the database's); the
working intervals are built from the zone's wall clock with :mod:`zoneinfo` and compared
as UTC instants, so the arithmetic is exact to the second.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

HOLIDAY, WORKDAY = "holiday", "workday"
#: a 调休 working day keeps the hours of this weekday (Monday)
WORKDAY_HOURS_OF = 0
#: how far the arithmetic looks for working time before it gives up (a calendar without any)
MAX_DAYS = 3 * 366


class NoWorkingTime(ValueError):
    """The calendar has no working time within :data:`MAX_DAYS` days."""


class Calendar:
    """Working hours per weekday (0 = Monday) and dated holidays / make-up working days."""

    def __init__(
        self,
        zone: ZoneInfo | str,
        hours: dict[int, Iterable[tuple[time, time]]],
        days: dict[date, str] | None = None,
        load_days: Callable[[date, date], dict[date, str]] | None = None,
    ):
        self.zone = ZoneInfo(zone) if isinstance(zone, str) else zone
        self.hours = {day: sorted((s, e) for s, e in spans if e > s) for day, spans in hours.items()}
        self._days = dict(days or {})
        self._load = load_days
        self._loaded: set[int] = set()  # years already read from load_days
        self._intervals: dict[date, list[tuple[datetime, datetime]]] = {}

    # ------------------------------------------------------------------ the calendar
    def kind(self, day: date) -> str | None:
        """``holiday``, ``workday`` or None (an ordinary day) for ``day``."""
        if self._load is not None and day.year not in self._loaded:
            self.preload(date(day.year, 1, 1), date(day.year, 12, 31))
        return self._days.get(day)

    def preload(self, first: date, last: date) -> None:
        """Read the dated rows of every year between ``first`` and ``last`` in one call."""
        if self._load is None:
            return
        years = [y for y in range(first.year, last.year + 1) if y not in self._loaded]
        if not years:
            return
        self._days.update(self._load(date(years[0], 1, 1), date(years[-1], 12, 31)))
        self._intervals.clear()
        self._loaded.update(range(years[0], years[-1] + 1))

    def spans(self, day: date) -> list[tuple[time, time]]:
        """The working wall-clock intervals of ``day``."""
        kind = self.kind(day)
        if kind == HOLIDAY:
            return []
        if kind == WORKDAY:
            return self.hours.get(WORKDAY_HOURS_OF, [])
        return self.hours.get(day.weekday(), [])

    def intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """The working intervals of ``day`` as UTC instants (kept per day: a bulk recompute
        asks for the same days again and again)."""
        cached = self._intervals.get(day)
        if cached is None:
            cached = [(self._instant(day, start), self._instant(day, end)) for start, end in self.spans(day)]
            self._intervals[day] = cached
        return cached

    def _instant(self, day: date, at: time) -> datetime:
        return datetime.combine(day, at, tzinfo=self.zone).astimezone(UTC)

    def local_day(self, instant: datetime) -> date:
        return as_utc(instant).astimezone(self.zone).date()


def as_utc(value: datetime) -> datetime:
    """An aware UTC instant (a naive value is UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def add_business_time(start: datetime, seconds: int | float, calendar: Calendar) -> datetime:
    """The instant ``seconds`` of working time after ``start`` (UTC). Starting outside the
    hours counts from the next opening; 0 seconds from outside the hours is that opening."""
    moment, left = as_utc(start), timedelta(seconds=seconds)
    if left < timedelta(0):
        raise ValueError("negative business time")
    day = calendar.local_day(moment)
    calendar.preload(day, day + timedelta(days=int(seconds // 3600) + 31))
    for _ in range(MAX_DAYS):
        for opens, closes in calendar.intervals(day):
            if closes <= moment:
                continue
            begin = max(opens, moment)
            if begin + left <= closes:
                return begin + left
            left -= closes - begin
            moment = closes
        day += timedelta(days=1)
    raise NoWorkingTime(start)


def business_seconds(start: datetime, end: datetime, calendar: Calendar) -> int:
    """Whole seconds of working time between ``start`` and ``end`` (0 when end ≤ start)."""
    start, end = as_utc(start), as_utc(end)
    if end <= start:
        return 0
    first, last = calendar.local_day(start), calendar.local_day(end)
    calendar.preload(first, last)
    total, day = timedelta(0), first
    while day <= last:
        for opens, closes in calendar.intervals(day):
            overlap = min(closes, end) - max(opens, start)
            if overlap > timedelta(0):
                total += overlap
        day += timedelta(days=1)
    return int(total.total_seconds())
