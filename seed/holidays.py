"""Reference data of the SLA calendar (issue 12 item 3), written by ``flask seed`` /
``seed-reference`` and idempotent: a date already in the calendar is left as an admin
edited it, working hours and policies are written only into empty tables.

2025: the State Council's schedule (国办发明电〔2024〕12号), for seed-demo's two years back.
2026: the State Council's schedule (国办发明电〔2025〕7号), holidays and 调休 working days.
2027: the notice is not out; the statutory holidays fixed by law are seeded, their names
marked provisional, without make-up days (admins replace them when it is published). The
lunar dates were checked with lunardate 0.3.0: 2027 春节 (正月初一) is February 6, 除夕
February 5, 端午 June 9, 中秋 September 15.
"""

from __future__ import annotations

from datetime import date, time, timedelta

from sqlalchemy import func, select

from models.business_time import HOLIDAY, WORKDAY
from models.lookups import ServiceType
from models.sla import CalendarDay, SlaPolicy, WorkingHours

PROVISIONAL = "（待国务院公布调休安排）"


def _span(first: date, last: date, kind: str, name: str):
    day = first
    while day <= last:
        yield day, kind, name
        day += timedelta(days=1)


def _one(day: date, kind: str, name: str):
    return _span(day, day, kind, name)


def calendar_rows() -> list[tuple[date, str, str]]:
    """(day, kind, name) of every seeded calendar row."""
    d = date
    rows = [
        # 2025, 国办发明电〔2024〕12号
        *_one(d(2025, 1, 1), HOLIDAY, "元旦"),
        *_one(d(2025, 1, 26), WORKDAY, "春节调休上班"),
        *_span(d(2025, 1, 28), d(2025, 2, 4), HOLIDAY, "春节"),
        *_one(d(2025, 2, 8), WORKDAY, "春节调休上班"),
        *_span(d(2025, 4, 4), d(2025, 4, 6), HOLIDAY, "清明节"),
        *_one(d(2025, 4, 27), WORKDAY, "劳动节调休上班"),
        *_span(d(2025, 5, 1), d(2025, 5, 5), HOLIDAY, "劳动节"),
        *_span(d(2025, 5, 31), d(2025, 6, 2), HOLIDAY, "端午节"),
        *_one(d(2025, 9, 28), WORKDAY, "国庆节调休上班"),
        *_span(d(2025, 10, 1), d(2025, 10, 8), HOLIDAY, "国庆节、中秋节"),
        *_one(d(2025, 10, 11), WORKDAY, "国庆节调休上班"),
        # 2026, 国办发明电〔2025〕7号
        *_span(d(2026, 1, 1), d(2026, 1, 3), HOLIDAY, "元旦"),
        *_one(d(2026, 1, 4), WORKDAY, "元旦调休上班"),
        *_one(d(2026, 2, 14), WORKDAY, "春节调休上班"),
        *_span(d(2026, 2, 15), d(2026, 2, 23), HOLIDAY, "春节"),
        *_one(d(2026, 2, 28), WORKDAY, "春节调休上班"),
        *_span(d(2026, 4, 4), d(2026, 4, 6), HOLIDAY, "清明节"),
        *_span(d(2026, 5, 1), d(2026, 5, 5), HOLIDAY, "劳动节"),
        *_one(d(2026, 5, 9), WORKDAY, "劳动节调休上班"),
        *_span(d(2026, 6, 19), d(2026, 6, 21), HOLIDAY, "端午节"),
        *_one(d(2026, 9, 20), WORKDAY, "国庆节调休上班"),
        *_span(d(2026, 9, 25), d(2026, 9, 27), HOLIDAY, "中秋节"),
        *_span(d(2026, 10, 1), d(2026, 10, 7), HOLIDAY, "国庆节"),
        *_one(d(2026, 10, 10), WORKDAY, "国庆节调休上班"),
        # 2027: the statutory days only (全国年节及纪念日放假办法), provisional
        *_one(d(2027, 1, 1), HOLIDAY, "元旦" + PROVISIONAL),
        *_span(d(2027, 2, 5), d(2027, 2, 8), HOLIDAY, "春节" + PROVISIONAL),
        *_one(d(2027, 4, 5), HOLIDAY, "清明节" + PROVISIONAL),
        *_span(d(2027, 5, 1), d(2027, 5, 2), HOLIDAY, "劳动节" + PROVISIONAL),
        *_one(d(2027, 6, 9), HOLIDAY, "端午节" + PROVISIONAL),
        *_one(d(2027, 9, 15), HOLIDAY, "中秋节" + PROVISIONAL),
        *_span(d(2027, 10, 1), d(2027, 10, 3), HOLIDAY, "国庆节" + PROVISIONAL),
    ]
    return rows


#: Monday to Friday, 09:00–12:00 and 13:30–18:00 (7.5 hours a day)
WORKING_HOURS = [(weekday, time(9), time(12)) for weekday in range(5)] + [
    (weekday, time(13, 30), time(18)) for weekday in range(5)
]
DAY = 450  # business minutes in a working day of WORKING_HOURS
#: priority → (response, resolution) in business minutes
PRIORITY_TARGETS = {"urgent": (60, 240), "high": (120, 480), "normal": (240, 2 * DAY), "low": (480, 5 * DAY)}
COMPLAINT = "投诉"  # complaints: half the time
NO_SLA_TYPES = ("建议",)  # suggestions are read, not resolved against a clock


def seed_sla(session) -> dict:
    """Write the calendar rows, working hours and default policies that are missing."""
    made = {"calendar": 0, "hours": 0, "policies": 0}
    rows = calendar_rows()
    known = set(
        session.execute(select(CalendarDay.day).where(CalendarDay.day.between(rows[0][0], rows[-1][0]))).scalars()
    )
    for day, kind, name in rows:
        if day not in known:
            session.add(CalendarDay(day=day, kind=kind, name=name))
            made["calendar"] += 1
    if not session.execute(select(func.count()).select_from(WorkingHours)).scalar():
        session.add_all(WorkingHours(weekday=w, starts=s, ends=e) for w, s, e in WORKING_HOURS)
        made["hours"] = len(WORKING_HOURS)
    if not session.execute(select(func.count()).select_from(SlaPolicy)).scalar():
        types = dict(session.execute(select(ServiceType.name, ServiceType.id)).all())
        policies = [
            SlaPolicy(priority=p, response_minutes=r, resolution_minutes=s) for p, (r, s) in PRIORITY_TARGETS.items()
        ]
        if COMPLAINT in types:
            policies += [
                SlaPolicy(type_id=types[COMPLAINT], priority=p, response_minutes=r // 2, resolution_minutes=s // 2)
                for p, (r, s) in PRIORITY_TARGETS.items()
            ]
        policies += [SlaPolicy(type_id=types[name], no_sla=True) for name in NO_SLA_TYPES if name in types]
        session.add_all(policies)
        made["policies"] = len(policies)
    session.flush()
    return made
