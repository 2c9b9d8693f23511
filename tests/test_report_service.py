"""客户服务分析 /admin/reports/service/ (issue 12 item 6): figures on a fixed set of tickets
against a plain-Python computation over the same rows, the scope, the filters, the
downloads carrying the page's figures, and the right."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import update

from models.lookups import ServiceType
from models.service import ServiceTicket
from tests.factories import lookup, make_client, user

URL = "/admin/reports/service/"
PERIOD = "date_from=2026-01-01&date_to=2026-03-31"
MONTHS = ["2026-01", "2026-02", "2026-03"]
FAR = datetime(2099, 1, 1)
PAST = datetime(2026, 1, 2)

#: (created by, assigned to, created (UTC midday), type, status, priority, first response after (h),
#:  sla state, business seconds used, satisfaction, reopened, due at, client)
TICKETS = [
    ("clerk", "service", datetime(2026, 1, 5, 4), "投诉", "archived", "high", 2, "met", 3600, 5, 0, FAR, 1),
    ("clerk", "service", datetime(2026, 1, 9, 4), "咨询", "handled", "normal", 4, "breached", 7200, 2, 1, FAR, 1),
    (
        "clerk",
        "service",
        datetime(2026, 1, 20, 4),
        "投诉",
        "assigned",
        "normal",
        None,
        "running",
        None,
        None,
        0,
        PAST,
        2,
    ),
    (
        "account_manager",
        None,
        datetime(2026, 3, 3, 4),
        "投诉",
        "created",
        "urgent",
        None,
        "running",
        None,
        None,
        0,
        PAST,
        1,
    ),
    ("account_manager", "service", datetime(2026, 3, 8, 4), "售后", "archived", "low", 1, "met", 1800, 4, 2, FAR, 3),
    ("clerk", "service", datetime(2026, 3, 10, 4), "建议", "waiting", "normal", 3, "paused", None, None, 0, FAR, 2),
    ("clerk", "service", datetime(2025, 12, 30, 4), "投诉", "archived", "normal", 1, "met", 60, 1, 0, FAR, 1),  # before
]


@pytest.fixture
def tickets(db_session):
    """The rows of TICKETS. The SLA listener computes the clocks from the policies when a ticket is
    written (models/sla.py, tested in test_sla.py); here the clock columns are then set to the
    table's values with a plain UPDATE, so the report is checked against figures chosen by hand."""
    s = db_session
    clients = {n: make_client(s, "account_manager", name=f"服务{n}号有限公司") for n in (1, 2, 3)}
    clocks = []
    for created_by, assigned, created, kind, status, priority, response, sla, used, stars, reopened, due, c in TICKETS:
        ticket = ServiceTicket(
            type=lookup(s, ServiceType, kind),
            title=f"{kind}{created:%m%d}",
            client=clients[c],
            request="…",
            created_by=user(s, created_by),
            assigned_to=user(s, assigned) if assigned else None,
            created_at=created,
            status=status,
            priority=priority,
            first_response_at=created + timedelta(hours=response) if response else None,
            handled_at=created + timedelta(hours=8) if status in ("handled", "archived") else None,
            satisfaction=stars,
            reopen_count=reopened,
        )
        s.add(ticket)
        clocks.append((ticket, sla, used, due, response * 3600 if response else None))
    s.flush()
    for ticket, sla, used, due, response in clocks:
        s.execute(
            update(ServiceTicket.__table__)
            .where(ServiceTicket.__table__.c.id == ticket.id)
            .values(sla_state=sla, sla_seconds_used=used, due_at=due, response_seconds=response)
        )
    s.commit()


def expected(rows) -> dict:
    rows = [r for r in rows if r[2] >= datetime(2026, 1, 1)]
    hours = lambda values: (  # noqa: E731
        (Decimal(sum(values)) / len(values) / 3600).quantize(Decimal("0.01"), ROUND_HALF_UP) if values else None
    )
    pct = lambda a, b: f"{(Decimal(a * 100) / b).quantize(Decimal('0.01'), ROUND_HALF_UP) if b else Decimal('0.00')}%"  # noqa: E731
    settled = [r for r in rows if r[7] in ("met", "breached")]
    stars = [r[9] for r in rows if r[9]]
    return {
        "Tickets": str(len(rows)),
        "Average first response (business hours)": str(hours([r[6] * 3600 for r in rows if r[6]]) or "—"),
        "Average handling (business hours)": str(hours([r[8] for r in rows if r[4] in ("handled", "archived")])),
        "SLA met": pct(sum(r[7] == "met" for r in settled), len(settled)),
        "SLA breached": pct(sum(r[7] == "breached" for r in settled), len(settled)),
        "Overdue (open, past due)": str(
            sum(r[4] in ("created", "assigned") and r[11] == PAST for r in rows)  # waiting: on hold
        ),
        "Average satisfaction": str(round(sum(stars) / len(stars), 2)) if stars else "—",
        "Answered feedback": str(len(stars)),
        "Reopen rate": pct(sum(r[10] > 0 for r in rows), len(rows)),
        "months": {m: sum(f"{r[2]:%Y-%m}" == m for r in rows) for m in MONTHS},
        "complaints": {m: sum(f"{r[2]:%Y-%m}" == m and r[3] == "投诉" for r in rows) for m in MONTHS},
    }


def table(html: str, number: int) -> list[dict]:
    part = html[html.index(f'id="report-table-{number}"') :]
    part = part[part.index("<tbody>") : part.index("</tbody>")]
    return [
        {
            key: re.sub(r"<[^>]+>", "", inner).strip()
            for key, inner in re.findall(r'data-key="(\w+)">(.*?)</td>', row, re.S)
        }
        for row in re.findall(r"<tr>(.*?)</tr>", part, re.S)
    ]


def test_figures_against_an_independent_computation(tickets, client_as):
    want = expected(TICKETS)
    html = client_as("executive").get(f"{URL}?{PERIOD}&lang=en").get_data(as_text=True)
    summary = {r["figure"]: r["value"] for r in table(html, 1)}
    for key, value in want.items():
        if key not in ("months", "complaints"):
            assert summary[key] == value, key
    months = table(html, 2)
    assert {r["month"]: int(r["total"]) for r in months} == want["months"]
    assert {r["month"]: int(r["complaints"]) for r in months} == want["complaints"]
    assert summary["Overdue (open, past due)"] == "2" and summary["Average satisfaction"] == "3.67"


def test_complaints_per_client_and_types(tickets, client_as):
    html = client_as("executive").get(f"{URL}?{PERIOD}&lang=en").get_data(as_text=True)
    complaints = {r["client"]: int(r["complaints"]) for r in table(html, 4)}
    assert complaints == {"服务1号有限公司": 2, "服务2号有限公司": 1}
    types = {r["type"]: int(r["tickets"]) for r in table(html, 3)}
    assert types == {"投诉": 3, "咨询": 1, "售后": 1, "建议": 1}


def test_filters_priority_and_assignee(tickets, client_as, db_session):
    web = client_as("executive")
    urgent = {
        r["figure"]: r["value"] for r in table(web.get(f"{URL}?{PERIOD}&priority=urgent&lang=en").data.decode(), 1)
    }
    assert urgent["Tickets"] == "1"
    agent = user(db_session, "service").id
    mine = {r["figure"]: r["value"] for r in table(web.get(f"{URL}?{PERIOD}&owner={agent}&lang=en").data.decode(), 1)}
    assert mine["Tickets"] == "5"


def test_the_service_agent_sees_their_department_only(tickets, client_as, db_session):
    from models.auth import Department, User

    stranger = User(username="desk_far", name="外部门", role=user(db_session, "clerk").role, password_hash="!")
    stranger.department = Department(name="远方分公司")
    db_session.add(
        ServiceTicket(
            type=lookup(db_session, ServiceType, "投诉"),
            title="外部门的投诉",
            client=make_client(db_session, stranger),  # neither its client nor its people are in scope
            request="…",
            created_by=stranger,
            created_at=datetime(2026, 2, 2, 4),
        )
    )
    db_session.commit()
    figure = lambda who: {  # noqa: E731
        r["figure"]: r["value"] for r in table(client_as(who).get(f"{URL}?{PERIOD}&lang=en").data.decode(), 1)
    }["Tickets"]
    assert figure("service") == "6" and figure("executive") == "7"


def test_downloads_carry_the_same_figures(tickets, client_as):
    from openpyxl import load_workbook

    web = client_as("executive")
    want = expected(TICKETS)
    data = web.get(f"{URL}?{PERIOD}&format=csv&lang=en").data.decode("utf-8-sig")
    lines = {line[0]: line[1] for line in csv.reader(io.StringIO(data)) if len(line) >= 2}
    for key, value in want.items():
        if key not in ("months", "complaints"):
            assert lines[key] == value, key
    sheet = load_workbook(io.BytesIO(web.get(f"{URL}?{PERIOD}&format=xlsx&lang=en").data)).worksheets[0]
    cells = {row[0].value: row[1].value for row in sheet.iter_rows() if len(row) > 1}
    assert str(cells["Tickets"]) == want["Tickets"] and str(cells["Reopen rate"]) == want["Reopen rate"]
    assert web.get(f"{URL}?{PERIOD}&format=pdf").data.startswith(b"%PDF")


@pytest.mark.parametrize("username", ["clerk", "finance", "marketing", "account_manager"])
def test_403_without_the_right(client_as, username):
    assert client_as(username).get(URL).status_code == 403


def test_type_filter_and_drill_through_to_the_list(tickets, client_as, db_session):
    from html import unescape

    web = client_as("executive")
    complaint = lookup(db_session, ServiceType, "投诉").id
    html = web.get(f"{URL}?{PERIOD}&type={complaint}&lang=en").get_data(as_text=True)
    assert {r["figure"]: r["value"] for r in table(html, 1)}["Tickets"] == "3"  # the three complaints in Q1
    html = web.get(f"{URL}?{PERIOD}&lang=en").get_data(as_text=True)

    def listed(link_html: str) -> int:
        url = unescape(re.search(r'href="([^"]+)"', link_html).group(1))
        page = web.get(url)
        assert page.status_code == 200, url
        return len(set(re.findall(r"/admin/service/details/\?id=(\d+)", page.get_data(as_text=True))))

    part = html[html.index('id="report-table-2"') :]
    january = re.search(r"<tr>(?:(?!</tr>).)*?2026-01.*?</tr>", part, re.S).group(0)
    total = re.search(r'data-key="total">(.*?)</td>', january, re.S).group(1)
    assert listed(total) == 3  # the three tickets created in January
    overdue = re.search(r'data-key="value">(<a [^>]+>2</a>)', html[html.index('id="report-table-1"') :]).group(1)
    assert listed(overdue) == 2
    complaints = html[html.index('id="report-table-4"') :]
    first = re.search(r'data-key="complaints">(<a [^>]+>2</a>)', complaints).group(1)
    assert listed(first) == 2  # 服务1号's two complaints in the period
