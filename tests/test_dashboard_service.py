"""The dashboard's service-ticket card (open, overdue) and the tickets waiting for me
(assigned to me and open; created and unassigned for holders of service.assign), in scope."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

from sqlalchemy import select, update

from models.auth import Department, Right, Role, User
from models.base import utcnow
from models.lookups import ServiceType
from models.service import ServiceTicket
from tests.factories import lookup, make_client, user


def _grant(session, role_code, *codes):
    role = session.scalar(select(Role).where(Role.code == role_code))
    for code in codes:
        right = session.scalar(select(Right).where(Right.code == code))
        if right is None:  # the service rights come with the ticket views (s19-svc)
            right = Right(code=code, type="action", text=code)
            session.add(right)
        if right not in role.rights:
            role.rights.append(right)
    session.commit()


def _revoke(session, role_code, code):
    role = session.scalar(select(Role).where(Role.code == role_code))
    role.rights = [right for right in role.rights if right.code != code]
    session.commit()


def _tickets(s):
    """Six tickets; their due times are then set by hand with a plain UPDATE (the SLA listener
    would compute them from the policies, models/sla.py)."""
    agent, clerk = user(s, "service"), user(s, "clerk")
    stranger = User(username="desk_dash", name="外部门", role=clerk.role, password_hash="!")
    stranger.department = Department(name="外地服务部")
    client, far = make_client(s, "account_manager"), make_client(s, stranger)
    now = utcnow()
    rows = [
        (clerk, None, "created", now + timedelta(days=1)),
        (clerk, None, "created", now - timedelta(hours=1)),  # overdue
        (clerk, agent, "assigned", now - timedelta(hours=2)),  # overdue, mine
        (clerk, agent, "waiting", now + timedelta(days=2)),  # mine
        (clerk, agent, "handled", now - timedelta(days=3)),  # closed: not counted
        (stranger, None, "created", now - timedelta(hours=1)),  # out of the agent's scope
    ]
    for by, to, status, due in rows:
        ticket = ServiceTicket(
            type=lookup(s, ServiceType, "咨询"),
            title=status,
            client=far if by is stranger else client,
            request="…",
            created_by=by,
            assigned_to=to,
            status=status,
        )
        s.add(ticket)
        s.flush()
        s.execute(update(ServiceTicket.__table__).where(ServiceTicket.__table__.c.id == ticket.id).values(due_at=due))
    s.commit()


def test_ticket_figures_and_waiting_kinds(app, db_session):
    from reports import kpis

    _grant(db_session, "service", "service.view", "service.edit", "service.assign")
    _tickets(db_session)
    agent = user(db_session, "service")
    assert kpis.ticket_figures(db_session, agent) == kpis.TicketFigures(open=4, overdue=2)
    admin = user(db_session, "admin")
    assert kpis.ticket_figures(db_session, admin) == kpis.TicketFigures(open=5, overdue=3)
    waiting = {kind.key: count for kind, count in kpis.waiting_figures(db_session, agent)}
    assert waiting["ticket_mine"] == 2 and waiting["ticket_unassigned"] == 2
    clerk = user(db_session, "clerk")
    assert "ticket_mine" not in {kind.key for kind, _ in kpis.waiting_figures(db_session, clerk)}


def test_the_card_on_the_dashboard(app, client_as, db_session):
    _grant(db_session, "service", "service.view", "service.edit", "service.assign")
    _tickets(db_session)
    web = client_as("service")
    html = web.get("/admin/?lang=en").get_data(as_text=True)
    assert "Service tickets" in html and "Tickets assigned to me" in html and "Tickets to assign" in html
    links = dict(re.findall(r'href="([^"]+)">\s*(Tickets assigned to me|Tickets to assign)', html))
    lists = {label: web.get(unescape(url)).get_data(as_text=True) for url, label in links.items()}
    assert set(lists) == {"Tickets assigned to me", "Tickets to assign"}
    assert lists["Tickets assigned to me"].count('name="rowid"') == 2  # assigned + waiting, mine
    assert lists["Tickets to assign"].count('name="rowid"') == 2  # created, unassigned, in scope
    for label in ("Open", "Overdue"):
        url = re.search(rf'href="([^"]*flt0_{label.lower()}_equals=1)"', html).group(1)
        assert web.get(unescape(url)).get_data(as_text=True).count('name="rowid"') == (4 if label == "Open" else 2)
    _revoke(db_session, "service", "service.assign")
    html = client_as("service").get("/admin/?lang=en").get_data(as_text=True)
    assert "Tickets assigned to me" in html and "Tickets to assign" not in html  # no service.assign
    assert "Service tickets" not in client_as("finance").get("/admin/?lang=en").get_data(as_text=True)


def test_seed_demo_tickets(db_session):
    from seed.demo_service import seed_service

    for n in range(160):
        make_client(db_session, "account_manager", name=f"演示服务{n}号公司")
    db_session.commit()
    assert seed_service(7)["service tickets"] > 20
    db_session.commit()
    rows = db_session.scalars(select(ServiceTicket)).all()
    statuses = {t.status for t in rows}
    assert statuses == {"created", "assigned", "waiting", "handled", "archived"}
    complaints = sum(t.type.name == "投诉" for t in rows)
    assert 0.05 < complaints / len(rows) < 0.3
    assert any(t.reopen_count for t in rows) and any(t.satisfaction for t in rows)
    for t in rows:
        times = [t.created_at, t.assigned_at, t.first_response_at, t.handled_at, t.feedback_at]
        present = [x for x in times if x is not None]
        assert present == sorted(present), t.id
        if t.status in ("handled", "archived"):
            assert t.handled_at and t.first_response_at and t.assigned_to_id
        if t.status == "created":
            assert t.assigned_to_id is None
        # the clocks by the SLA rules (models/sla.py): a suggestion (建议) has none
        if t.type.name == "建议":
            assert t.sla_state == "none" and t.due_at is None
        elif t.status in ("handled", "archived"):
            assert t.sla_state == ("met" if t.handled_at <= t.due_at else "breached"), t.id
            assert t.sla_seconds_used is not None and t.response_seconds is not None
        else:
            assert t.due_at > t.created_at and t.sla_state in ("running", "paused", "breached")
    closed = {t.sla_state for t in rows if t.status in ("handled", "archived")}
    assert {"met", "breached"} <= closed
    waiting = [t for t in rows if t.status == "waiting"]
    assert waiting
    assert all(t.on_hold_since and t.sla_state == ("none" if t.due_at is None else "paused") for t in waiting)
