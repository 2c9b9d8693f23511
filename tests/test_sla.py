"""The SLA clocks of a ticket (models/sla.py), kept by the before-flush listener while a
test sets ``ticket.status`` and timestamps directly (the workflow is the service module's):
targets from the policy, the hold, met/breached at handling, reopening, a change of
priority; which policy applies (client override > type+priority > type > priority > none,
"no SLA" rows); recompute() for many tickets without a query per ticket. The seeded calendar:
Mon–Fri 09:00–12:00 and 13:30–18:00 Asia/Shanghai with the 2026 holidays and 调休 days."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

from models.lookups import ServiceType
from models.service import ServiceTicket
from models.sla import SlaPolicy, policy_for, recompute
from tests.factories import lookup, make_client, user

SH = ZoneInfo("Asia/Shanghai")
H = 3600


def at(month, day, hour, minute=0, year=2026):
    return datetime(year, month, day, hour, minute, tzinfo=SH)


def ticket(session, created, type_name="咨询", priority="normal", client=None, **fields):
    session.info["sla_now"] = created
    row = ServiceTicket(
        type=lookup(session, ServiceType, type_name),
        title="打印机无法连接",
        client=client or make_client(session, "account_manager"),
        priority=priority,
        request="客户来电",
        created_by=user(session, "clerk"),
        created_at=created,
        **fields,
    )
    session.add(row)
    session.flush()
    return row


def step(session, row, now, **changes):
    """Change the ticket at ``now`` (what the workflow would write) and flush."""
    session.info["sla_now"] = now
    for key, value in changes.items():
        setattr(row, key, value)
    session.flush()
    return row


@pytest.fixture
def s(db_session):
    yield db_session
    db_session.info.pop("sla_now", None)


def test_a_new_ticket_gets_its_targets(s):
    # normal: response 240 min, resolution 900 min (2 days of 7.5 h). Tue 1 Dec 10:00:
    # response 10–12 (2 h) + 13:30 + 2 h = 15:30; resolution 6.5 h on the 1st, 7.5 h on the
    # 2nd (14 h), Thu 3 Dec 09:00 + 1 h = 10:00
    row = ticket(s, at(12, 1, 10))
    assert (row.response_due_at, row.due_at) == (at(12, 1, 15, 30), at(12, 3, 10))
    assert (row.sla_state, row.sla_warned, row.sla_held_seconds) == ("running", 0, 0)


def test_a_complaint_is_stricter_and_counts_the_make_up_saturday(s):
    # 投诉 urgent: 30 / 120 min. Fri 9 Oct 17:00: response 17:30; resolution 17:00–18:00 1 h,
    # Sat 10 Oct is 调休上班: 09:00 + 1 h = 10:00
    row = ticket(s, at(10, 9, 17), "投诉", "urgent")
    assert (row.response_due_at, row.due_at) == (at(10, 9, 17, 30), at(10, 10, 10))


def test_waiting_for_the_customer_pushes_both_due_times_and_handling_settles(s):
    row = ticket(s, at(12, 1, 10))  # due: response Tue 1 Dec 15:30, resolution Thu 3 Dec 10:00
    step(s, row, at(12, 1, 11), status="waiting")
    assert (row.on_hold_since, row.sla_state) == (at(12, 1, 11), "paused")
    step(s, row, at(12, 2, 11), status="assigned")
    # held: 1 Dec 11–12 (1 h) + 13:30–18 (4.5 h) + 2 Dec 09–11 (2 h) = 7.5 h = 27 000 s
    assert (row.sla_held_seconds, row.on_hold_since, row.sla_state) == (27000, None, "running")
    # resolution 3 Dec 10:00 + 7.5 h: 10–12 2 h, 13:30–18 4.5 h, Fri 4 Dec 09:00 + 1 h = 10:00
    # response 1 Dec 15:30 + 7.5 h: 15:30–18 2.5 h, 2 Dec 09–12 3 h, 13:30 + 2 h = 15:30
    assert (row.response_due_at, row.due_at) == (at(12, 2, 15, 30), at(12, 4, 10))
    step(s, row, at(12, 4, 9, 30), status="handled", handled_at=at(12, 4, 9, 30))
    # used: 1 Dec 6.5 h + 2 Dec 7.5 h + 3 Dec 7.5 h + 4 Dec 0.5 h = 22 h = 79 200 s − 27 000 held
    assert (row.sla_state, row.sla_seconds_used) == ("met", 52200)


def test_handled_late_is_breached_and_reopening_keeps_the_original_due_time(s):
    row = ticket(s, at(12, 1, 10))  # due Thu 3 Dec 10:00
    step(s, row, at(12, 3, 11), status="handled", handled_at=at(12, 3, 11))
    # used: 6.5 h + 7.5 h + 3 Dec 09–11 2 h = 16 h
    assert (row.sla_state, row.sla_seconds_used) == ("breached", 16 * H)
    step(s, row, at(12, 3, 14), status="assigned", reopen_count=1)
    assert (row.due_at, row.sla_state, row.sla_seconds_used, row.sla_warned) == (at(12, 3, 10), "breached", None, 0)

    early = ticket(s, at(12, 1, 10))
    step(s, early, at(12, 1, 11), status="handled", handled_at=at(12, 1, 11))
    assert (early.sla_state, early.sla_seconds_used) == ("met", H)
    step(s, early, at(12, 2, 9), status="assigned")  # reopened before the due time: running again
    assert (early.due_at, early.sla_state) == (at(12, 3, 10), "running")
    step(s, early, at(12, 2, 10), status="archived")  # archiving changes no clock
    assert early.sla_state == "running"


def test_a_change_of_priority_recomputes_from_the_creation(s):
    row = ticket(s, at(12, 1, 10))
    step(s, row, at(12, 1, 11), priority="urgent")
    # urgent: response 60 min → 11:00, resolution 240 min → 10–12 2 h + 13:30 + 2 h = 15:30
    assert (row.response_due_at, row.due_at, row.sla_state) == (at(12, 1, 11), at(12, 1, 15, 30), "running")


def test_policy_resolution_order_and_no_sla(s):
    complaint = lookup(s, ServiceType, "投诉")
    key_account = make_client(s, "account_manager")
    other = make_client(s, "account_manager")
    override = SlaPolicy(client=key_account, response_minutes=15, resolution_minutes=60)
    s.add(override)
    s.commit()
    # client override beats the complaint's type+priority row
    row = ticket(s, at(12, 1, 10), "投诉", "high", client=key_account)
    assert policy_for(s, row) is override
    assert (row.response_due_at, row.due_at) == (at(12, 1, 10, 15), at(12, 1, 11))
    # type+priority beats priority: 投诉 high = 60 / 240 min
    row = ticket(s, at(12, 1, 10), "投诉", "high", client=other)
    assert policy_for(s, row).type_id == complaint.id
    assert (row.response_due_at, row.due_at) == (at(12, 1, 11), at(12, 1, 15, 30))
    # priority only: high = 120 / 480 min
    row = ticket(s, at(12, 1, 10), "售后", "high", client=other)
    assert (policy_for(s, row).type_id, policy_for(s, row).priority) == (None, "high")
    # the seeded "no SLA" row of 建议
    row = ticket(s, at(12, 1, 10), "建议", "urgent", client=other)
    assert policy_for(s, row) is None
    assert (row.sla_state, row.response_due_at, row.due_at) == ("none", None, None)
    step(s, row, at(12, 1, 11), status="handled", handled_at=at(12, 1, 11))
    assert (row.sla_state, row.sla_seconds_used) == ("none", H)  # time used is still measured
    # a client whose tickets have no SLA at all, and no row matching at all
    s.add(SlaPolicy(client=other, no_sla=True))
    s.execute(
        select(SlaPolicy).where(SlaPolicy.priority == "low", SlaPolicy.type_id.is_(None))
    ).scalar_one().is_active = False
    s.commit()
    assert ticket(s, at(12, 1, 10), "投诉", "urgent", client=other).sla_state == "none"
    assert ticket(s, at(12, 1, 10), "售后", "low").sla_state == "none"


def test_a_policy_needs_its_minutes_unless_it_is_no_sla(s):
    from models.base import FieldError

    s.add(SlaPolicy(priority="high", response_minutes=10))
    with pytest.raises(FieldError):
        s.flush()
    s.rollback()


def test_recompute_many_tickets_without_a_query_per_ticket(s, app):
    client = make_client(s, "account_manager")
    kind = lookup(s, ServiceType, "售后")
    clerk = user(s, "clerk")

    def batch(n):
        rows = []
        for i in range(n):
            rows.append(
                ServiceTicket(
                    type_id=kind.id,
                    title=f"t{i}",
                    client_id=client.id,
                    priority="normal",
                    request="x",
                    created_by_id=clerk.id,
                    created_at=at(9, 30, 10),
                    status="handled" if i % 2 else "assigned",
                    handled_at=at(10, 8, 11) if i % 2 else None,
                )
            )
        s.add_all(rows)
        s.flush()
        return rows

    def statements(rows):
        seen = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(s.get_bind(), "before_cursor_execute", listener)
        try:
            assert recompute(s, rows, now=at(10, 9, 9)) == len(rows)
        finally:
            event.remove(s.get_bind(), "before_cursor_execute", listener)
        return len(seen)

    few, many = batch(2), batch(20)
    assert statements(few) == statements(many)
    # created Wed 30 Sep 10:00, normal: 900 min. 30 Sep 10–12 2 h + 13:30–18 4.5 h (6.5 h),
    # 1–7 Oct 国庆, Thu 8 Oct 7.5 h (14 h), Fri 9 Oct 09:00 + 1 h = 10:00
    open_row, handled_row = many[0], many[1]
    assert open_row.due_at == at(10, 9, 10)
    assert (open_row.sla_state, open_row.sla_warned) == ("running", 75)  # 1 h of 15 h left at 09:00
    # handled Thu 8 Oct 11:00: 6.5 h + 2 h = 8.5 h used, met
    assert (handled_row.sla_state, handled_row.sla_seconds_used) == ("met", 8.5 * H)
    assert recompute(s, [open_row], now=at(10, 9, 10))
    assert (open_row.sla_state, open_row.sla_warned) == ("breached", 100)


def test_admin_edits_the_sla_tables_service_reads_them(client_as, db_session):
    from models.sla import CalendarDay, WorkingHours

    admin = client_as("admin")
    for endpoint in ("sla_policy", "sla_hours", "sla_calendar"):
        assert admin.get(f"/admin/{endpoint}/").status_code == 200
        assert admin.get(f"/admin/{endpoint}/new/").status_code == 200
    page = admin.get("/admin/sla_calendar/?search=国庆").get_data(as_text=True)
    assert "2026-10-10" in page and "国庆节调休上班" in page
    response = admin.post(
        "/admin/sla_hours/new/", data={"weekday": "5", "starts": "10:00", "ends": "12:00"}, follow_redirects=True
    )
    assert response.status_code == 200
    saturday = db_session.execute(select(WorkingHours).where(WorkingHours.weekday == 5)).scalar_one()
    assert (saturday.starts.hour, saturday.ends.hour) == (10, 0 + 12)
    response = admin.post(
        "/admin/sla_calendar/new/",
        data={"day": "2026-12-31", "kind": "holiday", "name": "公司年会"},
        follow_redirects=True,
    )
    assert db_session.execute(select(CalendarDay.name).where(CalendarDay.day == datetime(2026, 12, 31).date())).scalar()
    agent = client_as("service")
    assert agent.get("/admin/sla_calendar/").status_code == 200
    assert agent.get("/admin/sla_calendar/new/").status_code in (302, 403)
    assert "absent" in admin.get(f"/admin/user/edit/?id={user(db_session, 'service').id}").get_data(as_text=True)


def test_the_calendar_seed_is_idempotent_and_keeps_admin_edits(db_session):
    from models.sla import CalendarDay, WorkingHours
    from seed import seed_reference

    days = {row.day.isoformat(): row for row in db_session.execute(select(CalendarDay)).scalars()}
    assert days["2026-02-14"].kind == "workday" and days["2026-02-23"].name == "春节"
    assert days["2027-02-05"].name.startswith("春节") and "待国务院公布" in days["2027-02-08"].name
    assert "2027-02-09" not in days and "2026-02-24" not in days
    days["2027-02-05"].name = "春节（已公布）"
    db_session.delete(db_session.execute(select(WorkingHours)).scalars().first())
    db_session.commit()
    made = seed_reference()
    assert (made["calendar"], made["hours"], made["policies"]) == (0, 0, 0)
    assert db_session.execute(select(CalendarDay.name).where(CalendarDay.id == days["2027-02-05"].id)).scalar() == (
        "春节（已公布）"
    )


def test_the_workflow_steps_drive_the_clock(s):
    """Through the real steps (wait, resume, handle) at the real time: the invariants hold."""
    from models.business_time import add_business_time
    from models.sla import load_calendar
    from models.workflow import perform

    agent = user(s, "service")
    row = ticket(s, at(12, 1, 10), assigned_to=agent, status="assigned")
    s.info.pop("sla_now")
    s.commit()
    perform(row, "wait", agent, comment="请客户提供序列号")
    s.commit()
    assert row.status == "waiting" and row.sla_state == "paused" and row.on_hold_since is not None
    perform(row, "resume", agent)
    s.commit()
    assert (row.sla_state, row.on_hold_since) == ("running", None) and row.sla_held_seconds >= 0
    # normal: 900 business minutes from the creation, plus the time held
    assert row.due_at == add_business_time(at(12, 1, 10), 900 * 60 + row.sla_held_seconds, load_calendar(s))
    perform(row, "handle", agent, handling="远程重置", result="已恢复")
    s.commit()
    assert row.sla_state in ("met", "breached") and row.sla_seconds_used is not None
    assert row.sla_state == ("met" if row.handled_at <= row.due_at else "breached")


def test_the_first_response_is_counted_in_business_hours(s):
    # created Thu 24 Sep 2026 17:00: 17:00–18:00 (1 h); Fri 25 – Sun 27 Sep are the 中秋
    # holidays; Mon 28 Sep 09:00–11:30 (2.5 h) → 3.5 business hours to the first response
    row = ticket(s, at(9, 24, 17))
    assert row.response_seconds is None
    step(s, row, at(9, 28, 11, 30), first_response_at=at(9, 28, 11, 30))
    assert row.response_seconds == int(3.5 * H)
    step(s, row, at(9, 28, 15), first_response_at=at(9, 28, 15))  # a later note changes nothing
    assert row.response_seconds == int(3.5 * H)
    copy = ticket(s, at(9, 24, 17), first_response_at=at(9, 28, 11, 30))  # written at once
    assert copy.response_seconds == int(3.5 * H)
    copy.response_seconds = None
    recompute(s, [copy], at(9, 29, 9))
    assert copy.response_seconds == int(3.5 * H)
