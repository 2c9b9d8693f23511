"""Business-time arithmetic (models/business_time.py) on the seeded calendar: Monday to
Friday 09:00–12:00 and 13:30–18:00 in Asia/Shanghai, the 2026 holidays and 调休 days of
seed/holidays.py. Every expected instant is computed by hand in the comment beside it."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from models.business_time import Calendar as BusinessCalendar
from models.business_time import NoWorkingTime, add_business_time, as_utc, business_seconds
from seed.holidays import WORKING_HOURS, calendar_rows

SH = ZoneInfo("Asia/Shanghai")
H = 3600


def at(month, day, hour, minute=0, second=0, year=2026):
    return datetime(year, month, day, hour, minute, second, tzinfo=SH)


@pytest.fixture
def cal():
    hours: dict[int, list] = {}
    for weekday, starts, ends in WORKING_HOURS:
        hours.setdefault(weekday, []).append((starts, ends))
    return BusinessCalendar("Asia/Shanghai", hours, {day: kind for day, kind, _ in calendar_rows()})


def test_the_lunch_break_does_not_count(cal):
    # Tue 1 Dec 11:00 + 2 h: 11:00–12:00 is 1 h, lunch 12:00–13:30, 13:30 + 1 h = 14:30
    assert add_business_time(at(12, 1, 11), 2 * H, cal) == at(12, 1, 14, 30)
    # exact to the second: 11:59:59 + 2 s = 1 s before noon, 1 s after 13:30
    assert add_business_time(at(12, 1, 11, 59, 59), 2, cal) == at(12, 1, 13, 30, 1)
    assert business_seconds(at(12, 1, 11), at(12, 1, 14, 30), cal) == 2 * H


def test_across_a_weekend(cal):
    # Fri 4 Dec 17:00 + 2 h: 17:00–18:00 is 1 h, Sat/Sun closed, Mon 7 Dec 09:00 + 1 h = 10:00
    assert add_business_time(at(12, 4, 17), 2 * H, cal) == at(12, 7, 10)
    assert business_seconds(at(12, 4, 17), at(12, 7, 10), cal) == 2 * H


def test_starting_outside_the_hours_begins_at_the_next_opening(cal):
    # Sat 5 Dec 10:00 + 30 min: nothing before Mon 7 Dec 09:00, + 30 min = 09:30
    assert add_business_time(at(12, 5, 10), 30 * 60, cal) == at(12, 7, 9, 30)
    # at lunch, 0 s: the afternoon's opening; at 20:00, the next morning's
    assert add_business_time(at(12, 1, 12, 30), 0, cal) == at(12, 1, 13, 30)
    assert add_business_time(at(12, 1, 20), 60, cal) == at(12, 2, 9, 1)
    assert business_seconds(at(12, 5, 10), at(12, 6, 23), cal) == 0  # a whole weekend


def test_national_day_holiday(cal):
    # Wed 30 Sep 17:00 + 4.5 h: 17:00–18:00 is 1 h; 1–7 Oct 国庆 放假; Thu 8 Oct 09:00–12:00
    # is 3 h (4 h so far), 13:30 + 0.5 h = 14:00
    assert add_business_time(at(9, 30, 17), 4 * H + 30 * 60, cal) == at(10, 8, 14)
    assert business_seconds(at(9, 30, 17), at(10, 8, 14), cal) == 4 * H + 30 * 60


def test_a_make_up_saturday_is_worked_with_monday_hours(cal):
    # Fri 9 Oct 17:00 + 8 h: 17:00–18:00 is 1 h; Sat 10 Oct is 调休上班: 09:00–12:00 3 h (4 h),
    # 13:30 + 4 h = 17:30
    assert add_business_time(at(10, 9, 17), 8 * H, cal) == at(10, 10, 17, 30)
    # Fri 9 Oct 10:00 → Mon 12 Oct 10:00: Fri 2 h + 4.5 h, Sat 7.5 h, Sun 0, Mon 1 h = 15 h
    assert business_seconds(at(10, 9, 10), at(10, 12, 10), cal) == 15 * H


def test_spring_festival_with_its_make_up_days(cal):
    # Fri 13 Feb 17:00 + 2 h: 17:00–18:00 1 h; Sat 14 Feb 调休上班 09:00 + 1 h = 10:00
    assert add_business_time(at(2, 13, 17), 2 * H, cal) == at(2, 14, 10)
    # Sat 14 Feb 17:00 + 2 h: 1 h on the 14th; 15–23 Feb 春节 放假; Tue 24 Feb 09:00 + 1 h
    assert add_business_time(at(2, 14, 17), 2 * H, cal) == at(2, 24, 10)
    # a week over the festival: Mon 9 Feb 09:00 → Mon 2 Mar 09:00 is Mon–Fri 9–13 Feb (5 days),
    # Sat 14 Feb, Tue–Fri 24–27 Feb (4 days) and Sat 28 Feb: 11 days × 7.5 h
    assert business_seconds(at(2, 9, 9), at(3, 2, 9), cal) == 11 * 7.5 * H


def test_results_are_utc_and_naive_input_is_utc(cal):
    due = add_business_time(datetime(2026, 12, 1, 3, 0), 2 * H, cal)  # 03:00 UTC = 11:00 in Shanghai
    assert due.tzinfo is UTC and due == at(12, 1, 14, 30)
    assert as_utc(at(12, 1, 14, 30)) == datetime(2026, 12, 1, 6, 30, tzinfo=UTC)


def test_inverse_on_many_starts(cal):
    for start in (at(1, 2, 8), at(2, 13, 11, 45), at(4, 3, 17, 59, 59), at(9, 19, 9), at(10, 9, 12, 15)):
        for seconds in (1, 1800, 7 * H, 3 * 27000 + 17):
            assert business_seconds(start, add_business_time(start, seconds, cal), cal) == seconds


def test_several_intervals_a_day_in_any_order_and_a_calendar_without_time():
    evening = BusinessCalendar("Asia/Shanghai", {0: [(time(19), time(21)), (time(8), time(9))]})
    # Mon 7 Dec 08:30 + 1 h: 08:30–09:00 is 0.5 h, then 19:00 + 0.5 h
    assert add_business_time(at(12, 7, 8, 30), H, evening) == at(12, 7, 19, 30)
    with pytest.raises(NoWorkingTime):
        add_business_time(at(12, 7, 8), 60, BusinessCalendar("Asia/Shanghai", {}))


def test_days_are_loaded_once_per_year():
    calls = []

    def load(first, last):
        calls.append((first, last))
        return {}

    cal = BusinessCalendar("Asia/Shanghai", {d: [(time(9), time(18))] for d in range(5)}, load_days=load)
    business_seconds(at(3, 1, 9), at(11, 1, 9), cal)
    add_business_time(at(5, 1, 9), 20 * H, cal)
    assert [(a.isoformat(), b.isoformat()) for a, b in calls] == [("2026-01-01", "2026-12-31")]
