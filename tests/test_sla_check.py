"""`flask --app app sla-check` (models/sla_check.py): the 75 % and 100 % flags, one reminder
and one e-mail per level to the assignee (a real SMTP server: the smtp_server fixture), a
second run sends nothing, paused tickets are left alone, and a mail server that is down is
reported without undoing the flags."""

from __future__ import annotations

import socket
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from models.customers import Appointment
from models.lookups import ServiceType
from models.service import ServiceTicket
from tests.factories import lookup, make_client, user

SH = ZoneInfo("Asia/Shanghai")


def at(month, day, hour, minute=0):
    return datetime(2026, month, day, hour, minute, tzinfo=SH)


def tickets(session):
    """Four tickets raised Tue 1 Dec 10:00 (committed):
    normal → due Thu 3 Dec 10:00 (15 h); urgent → due Tue 1 Dec 15:30 (4 h);
    high, unassigned → due Wed 2 Dec 10:30 (8 h: 6.5 h on the 1st + 1.5 h); one waiting (paused)."""
    agent = user(session, "service")
    agent.email = "agent@example.com"
    client = make_client(session, "account_manager")
    kind = lookup(session, ServiceType, "售后")
    session.info["sla_now"] = at(12, 1, 10)
    rows = {}
    for name, priority, assignee, status in (
        ("normal", "normal", agent, "assigned"),
        ("urgent", "urgent", agent, "assigned"),
        ("nobody", "high", None, "created"),
        ("paused", "urgent", agent, "waiting"),
    ):
        rows[name] = ServiceTicket(
            type=kind,
            title=f"{name}工单",
            client=client,
            priority=priority,
            request="x",
            created_by=user(session, "clerk"),
            created_at=at(12, 1, 10),
            assigned_to=assignee,
            status=status,
        )
    session.add_all(rows.values())
    session.commit()
    session.info.pop("sla_now")
    assert rows["nobody"].due_at == at(12, 2, 10, 30) and rows["urgent"].due_at == at(12, 1, 15, 30)
    return agent, rows


def reminders(session, agent) -> list[str]:
    return list(
        session.execute(select(Appointment.content).where(Appointment.user_id == agent.id).order_by(Appointment.id))
        .scalars()
        .all()
    )


def run(app, now):
    # inside the app's own context: db_session keeps its set-up app's context pushed, which
    # a CLI command would otherwise run in (without the app's mail configuration)
    with app.app_context():
        return app.test_cli_runner().invoke(args=["sla-check", "--now", now])


def test_flags_notify_once_per_level(app, db_session, smtp_server):
    agent, rows = tickets(db_session)
    # Wed 2 Dec 17:00: normal has 17–18 (1 h) + 3 Dec 09–10 (1 h) = 2 h of 15 h left (≤ 25 %)
    first = run(app, "2026-12-02 17:00")
    assert first.exit_code == 0, first.output
    assert "Checked 3 open ticket(s): 1 at 75 %, 2 at 100 %; 2 reminder(s), 1 without assignee; " in first.output
    assert "2 e-mail(s) sent, 0 failed." in first.output
    db_session.expire_all()
    state = {name: (row.sla_warned, row.sla_state) for name, row in rows.items()}
    assert state == {
        "normal": (75, "running"),
        "urgent": (100, "breached"),
        "nobody": (100, "breached"),
        "paused": (0, "paused"),
    }
    texts = reminders(db_session, agent)
    assert len(texts) == 2 and f"#{rows['normal'].id}" in texts[0] and f"#{rows['urgent'].id}" in texts[1]
    assert sorted(m["Subject"] for _, m in smtp_server.messages) == sorted(
        [f"服务单 #{rows['normal'].id} 已用去 75% 处理时限", f"服务单 #{rows['urgent'].id} 已超时"]
    )
    assert {tuple(to) for to, _ in smtp_server.messages} == {("agent@example.com",)}

    again = run(app, "2026-12-02 17:00")
    assert "Checked 1 open ticket(s): 0 at 75 %, 0 at 100 %; 0 reminder(s)" in again.output
    assert len(smtp_server.messages) == 2 and len(reminders(db_session, agent)) == 2

    later = run(app, "2026-12-03 10:00")  # the normal ticket's due time
    assert "0 at 75 %, 1 at 100 %; 1 reminder(s)" in later.output and len(smtp_server.messages) == 3
    db_session.expire_all()
    assert (rows["normal"].sla_warned, rows["normal"].sla_state) == (100, "breached")
    assert "Checked 0 open ticket(s)" in run(app, "2026-12-09 10:00").output


def test_a_mail_server_that_is_down_changes_nothing_else(app, db_session):
    agent, rows = tickets(db_session)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_TIMEOUT=5)
    try:
        first = run(app, "2026-12-02 17:00")
        assert first.exit_code == 0, first.output
        assert "0 e-mail(s) sent, 2 failed." in first.output and f"mail error: 127.0.0.1:{port}" in first.output
        db_session.expire_all()
        assert rows["urgent"].sla_warned == 100 and len(reminders(db_session, agent)) == 2
        assert "0 reminder(s)" in run(app, "2026-12-02 17:00").output
    finally:
        for key in ("MAIL_SERVER", "MAIL_PORT", "MAIL_TIMEOUT"):
            app.config.pop(key, None)


def test_without_smtp_the_reminder_is_enough_and_shows_as_due(app, db_session):
    from models.reminders import due_count

    agent, _ = tickets(db_session)
    before = due_count(db_session, agent, at(12, 2, 17, 1))
    result = run(app, "2026-12-02 17:00")
    assert "2 reminder(s)" in result.output and "0 e-mail(s) sent, 0 failed." in result.output
    assert due_count(db_session, agent, at(12, 2, 17, 1)) == before + 2
    assert db_session.execute(select(func.count()).select_from(ServiceTicket)).scalar() == 4
