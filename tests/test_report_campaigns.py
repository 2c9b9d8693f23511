"""营销效果 /admin/reports/campaigns/ (issue 13 item 6): the figures of a fixed set of
campaigns, leads, conversions, orders and e-mail ledger rows against a plain-Python
computation over the same rows; the scope (a marketing user of another department sees only
their own campaign); the drill-through to the lead list; the downloads carrying the page's
figures; the statements per page not growing with the campaigns; the *effect report*
action of the campaign list and details page."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from models.auth import Department
from models.lookups import CampaignType
from models.marketing import Lead
from models.marketing_mail import EmailLog, MarketingEmail
from tests.conftest import count_queries
from tests.factories import campaign, lead, lookup, make_client, make_opportunity, make_order, make_product, person

URL = "/admin/reports/campaigns/"
PERIOD = "date_from=2026-01-01&date_to=2026-06-30"
ZONE = ZoneInfo("Asia/Shanghai")

#: campaigns: key → (owner ("far": the other department's marketing user), type, start, actual cost)
CAMPAIGNS = {
    "spring": ("marketing", "展会", date(2026, 3, 1), "1000.00"),
    "webinar": ("marketing", "研讨会", date(2026, 4, 10), None),
    "far": ("far", "展会", date(2026, 5, 1), "500.00"),
    "old": ("marketing", "展会", date(2025, 6, 1), "800.00"),  # before the period
}
#: leads: (campaign, status, client key (converted), converted at (UTC), with an opportunity)
LEADS = [
    ("spring", "converted", "x", datetime(2026, 3, 10, 17, 0, tzinfo=UTC), True),  # local day 03-11
    ("spring", "converted", "x", datetime(2026, 4, 20, 2, 0, tzinfo=UTC), True),  # same client later
    ("spring", "converted", "y", datetime(2026, 3, 15, 2, 0, tzinfo=UTC), False),
    ("spring", "disqualified", None, None, False),
    ("spring", "new", None, None, False),
    ("spring", "contacted", None, None, False),
    ("webinar", "converted", "z", datetime(2026, 4, 12, 3, 0, tzinfo=UTC), True),
    ("webinar", "qualified", None, None, False),
    ("far", "converted", "w", datetime(2026, 5, 3, 3, 0, tzinfo=UTC), True),
    ("far", "new", None, None, False),
    ("old", "converted", "x", datetime(2025, 6, 5, 3, 0, tzinfo=UTC), True),
]
#: orders: (client key, order date, amount, status)
ORDERS = [
    ("x", date(2026, 3, 10), "700.00", "pending"),  # the UTC day of the conversion, before the local one
    ("x", date(2026, 3, 11), "1200.00", "completed"),  # the conversion day: day 1
    ("x", date(2026, 9, 6), "300.00", "pending"),  # day 180 (03-11 + 179): last day of the window
    ("x", date(2026, 9, 7), "999.00", "pending"),  # day 181: outside
    ("x", date(2026, 4, 1), "50.00", "cancelled"),  # cancelled
    ("y", date(2026, 3, 20), "400.50", "shipped"),
    ("z", date(2026, 4, 30), "2500.00", "pending"),
    ("w", date(2026, 5, 10), "9000.00", "pending"),
]
#: the ledger of one e-mail per campaign: (campaign, status, sent, opened, machine, clicked)
LEDGER = [
    ("spring", "sent", True, False, False, False),
    ("spring", "bounced", True, False, False, False),
    ("spring", "opened", True, True, False, False),
    ("spring", "opened", True, True, True, False),
    ("spring", "clicked", True, True, False, True),
    ("spring", "clicked", True, True, True, True),
    ("spring", "unsubscribed", True, True, False, False),
    ("spring", "failed", False, False, False, False),
    ("spring", "queued", False, False, False, False),
    ("spring", "skipped", False, False, False, False),
    ("webinar", "opened", True, True, False, False),
    ("far", "sent", True, False, False, False),
]


@pytest.fixture
def data(db_session):
    """The rows above; returns {key: campaign id} and the far user's name."""
    s = db_session
    far = Department(name="远方市场部")
    far_user = person(s, "report.campaigns", "campaign.view", "lead.view", scope="department", department=far)
    owners = {"marketing": "marketing", "far": far_user}
    camps = {
        key: campaign(
            s,
            owners[owner],
            name=f"活动{key}",
            type=lookup(s, CampaignType, kind),
            starts_on=start,
            actual_cost=Decimal(cost) if cost else None,
        )
        for key, (owner, kind, start, cost) in CAMPAIGNS.items()
    }
    clients = {key: make_client(s, "account_manager", name=f"转化客户{key}有限公司") for key in "xyzw"}
    for key, status, client, at, with_opportunity in LEADS:
        row = lead(s, camps[key], owner=owners[CAMPAIGNS[key][0]], status=status)
        if client:
            row.converted_client_id = clients[client].id
            if with_opportunity:
                row.converted_opportunity_id = make_opportunity(s, customer_name=clients[client].name).id
            s.flush()
            s.execute(update(Lead).where(Lead.id == row.id).values(converted_at=at))
    product = make_product(s, "1.00")
    for client, day, amount, status in ORDERS:
        make_order(s, lines=[(product, 1, amount)], client=clients[client], ordered_on=day, status=status)
    sent_at = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    emails = {}
    for n, (key, status, sent, opened, machine, clicked) in enumerate(LEDGER):
        if key not in emails:
            emails[key] = MarketingEmail(campaign=camps[key], subject=f"邀请{key}", body="您好", owner=camps[key].owner)
            s.add(emails[key])
            s.flush()
        s.add(
            EmailLog(
                email_id=emails[key].id,
                address=f"r{n}@example.com",
                status=status,
                token=f"token-{n}-{key}",
                sent_at=sent_at if sent else None,
                opened_at=sent_at + timedelta(hours=1) if opened else None,
                machine_open=machine,
                clicked_at=sent_at + timedelta(hours=2) if clicked else None,
            )
        )
    s.commit()
    return {key: c.id for key, c in camps.items()}, far_user


def money(text) -> Decimal:
    return Decimal(text)


def expected(keys=("spring", "webinar", "far"), window=180) -> dict:
    """The figures per campaign name, computed here from the tables above."""
    result = {}
    for key in keys:
        cost = Decimal(CAMPAIGNS[key][3]) if CAMPAIGNS[key][3] else None
        leads = [row for row in LEADS if row[0] == key]
        converted = [row for row in leads if row[1] == "converted"]
        first: dict = {}
        for _, _, client, at, _ in converted:
            first[client] = min(first.get(client, at), at)
        won = Decimal("0.00")
        for client, at in first.items():
            day = at.astimezone(ZONE).date()
            for who, ordered, amount, status in ORDERS:
                if who == client and status != "cancelled" and day <= ordered < day + timedelta(days=window):
                    won += Decimal(amount)
        ledger = [row for row in LEDGER if row[0] == key]
        per_lead = (cost / len(leads)).quantize(Decimal("0.01"), ROUND_HALF_UP) if cost is not None else None
        roi = ((won - cost) * 100 / cost).quantize(Decimal("0.01"), ROUND_HALF_UP) if cost else None
        result[f"活动{key}"] = {
            "leads": len(leads),
            "converted": len(converted),
            "opportunities": sum(row[4] for row in converted),
            "won": won,
            "cost": cost,
            "per_lead": per_lead,
            "roi": roi,
            "sent": sum(r[2] for r in ledger),
            "delivered": sum(r[2] and r[1] != "bounced" for r in ledger),
            "human": sum(r[3] and not r[4] for r in ledger),
            "machine": sum(r[3] and r[4] for r in ledger),
            "clicks": sum(r[5] for r in ledger),
            "unsubscribes": sum(r[1] == "unsubscribed" for r in ledger),
        }
    return result


def table(html: str, number: int) -> dict[str, dict]:
    """The report's table ``number`` as {campaign: {column key: cell text}} (the totals too)."""
    part = html[html.index(f'id="report-table-{number}"') :]
    part = part[: part.index("</table>")]
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", part, re.S):
        cells = {key: inner for key, inner in re.findall(r'data-key="(\w+)">(.*?)</td>', row, re.S)}
        if cells:
            rows[re.sub(r"<[^>]+>", "", cells["name"]).strip()] = cells
    return rows


def text(cell: str) -> str:
    return re.sub(r"<[^>]+>", "", cell).strip()


def shown(value, kind) -> str:
    if value is None:
        return ""
    if kind == "money":
        return f"¥{value:,.2f}"
    if kind == "percent":
        return f"{value:.2f}%"
    return str(value)


MAIL_KEYS = ("sent", "delivered", "human", "machine", "clicks", "unsubscribes")
KINDS = {"won": "money", "cost": "money", "per_lead": "money", "roi": "percent"}


def check_page(html: str, want: dict) -> None:
    first, second = table(html, 1), table(html, 2)
    names = set(want)
    assert set(first) - {"Total"} == names and set(second) - {"Total"} == names
    for name, figures in want.items():
        for key, value in figures.items():
            cell = (first if key in first[name] else second)[name][key]
            assert text(cell) == shown(value, KINDS.get(key, "int")), (name, key)


def test_figures_against_an_independent_computation(data, client_as):
    html = client_as("executive").get(f"{URL}?{PERIOD}&lang=en").get_data(as_text=True)
    want = expected()
    check_page(html, want)
    spring = want["活动spring"]
    # the case analysis behind the figures, spelt out: day 1 and day 180, once per client
    assert spring["won"] == Decimal("1200.00") + Decimal("300.00") + Decimal("400.50")
    assert spring["roi"] == Decimal("90.05") and spring["per_lead"] == Decimal("166.67")
    assert (spring["sent"], spring["delivered"], spring["human"], spring["machine"]) == (7, 6, 3, 2)
    totals = table(html, 1)["Total"]
    assert text(totals["leads"]) == str(sum(w["leads"] for w in want.values()))
    assert text(totals["won"]) == shown(sum(w["won"] for w in want.values()), "money")
    assert text(table(html, 2)["Total"]["sent"]) == str(sum(w["sent"] for w in want.values()))


def test_the_window_and_the_filters(data, client_as, db_session):
    web = client_as("executive")
    html = web.get(f"{URL}?{PERIOD}&window=30&lang=en").get_data(as_text=True)
    check_page(html, expected(window=30))
    assert expected(window=30)["活动spring"]["won"] == Decimal("1600.50")
    fair = lookup(db_session, CampaignType, "研讨会").id
    html = web.get(f"{URL}?{PERIOD}&type={fair}&lang=en").get_data(as_text=True)
    check_page(html, expected(("webinar",)))
    html = web.get(f"{URL}?date_from=2025-01-01&date_to=2025-12-31&lang=en").get_data(as_text=True)
    check_page(html, expected(("old",)))
    assert web.get(f"{URL}?{PERIOD}&window=7").status_code == 200  # not offered: the default, named
    assert "is not a valid choice" in web.get(f"{URL}?{PERIOD}&window=7&lang=en").get_data(as_text=True)
    assert web.get(f"{URL}?{PERIOD}&window=7&format=csv").status_code == 400


def test_scope_a_marketing_user_of_another_department(data, client_as):
    _, far_user = data
    mine = client_as("marketing").get(f"{URL}?{PERIOD}&lang=en").get_data(as_text=True)
    check_page(mine, expected(("spring", "webinar")))
    theirs = client_as(far_user).get(f"{URL}?{PERIOD}&lang=en").get_data(as_text=True)
    check_page(theirs, expected(("far",)))
    assert "活动spring" not in theirs


@pytest.mark.parametrize("username", ["sales_director", "account_manager", "clerk", "finance", "service"])
def test_403_without_the_right(client_as, username):
    assert client_as(username).get(URL).status_code == 403


def test_drill_through_lead_counts_open_the_lead_list(data, client_as):
    web = client_as("marketing")
    html = web.get(f"{URL}?{PERIOD}&lang=en").get_data(as_text=True)
    want = expected(("spring", "webinar"))
    rows = table(html, 1)
    for name in want:
        for key in ("leads", "converted"):
            link = re.search(r'href="([^"]+)"', rows[name][key])
            assert link, (name, key)
            page = web.get(unescape(link.group(1)))
            assert page.status_code == 200
            listed = set(re.findall(r"/admin/lead/details/\?id=(\d+)", page.get_data(as_text=True)))
            assert len(listed) == want[name][key] == int(text(rows[name][key])), (name, key)


def test_downloads_carry_the_same_figures(data, client_as):
    from openpyxl import load_workbook
    from pypdf import PdfReader

    web = client_as("executive")
    want = expected()
    data_csv = web.get(f"{URL}?{PERIOD}&format=csv&lang=en").data.decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(data_csv)))
    headers = [n for n, line in enumerate(lines) if line and line[0] == "Campaign"]
    assert len(headers) == 2
    first = {line[0]: line for line in lines[headers[0] + 1 : headers[1]] if len(line) > 5}
    spring = want["活动spring"]
    assert first["活动spring"][5:12] == [
        "1000.00",
        str(spring["leads"]),
        str(spring["converted"]),
        str(spring["opportunities"]),
        "1900.50",
        "166.67",
        "90.05",
    ]
    assert first["活动webinar"][5] == "" and first["活动webinar"][11] == ""  # no cost: no ROI
    second = {line[0]: line for line in lines[headers[1] + 1 :] if len(line) == 7}
    assert second["活动spring"][1:] == [str(spring[k]) for k in MAIL_KEYS]
    sheet = load_workbook(io.BytesIO(web.get(f"{URL}?{PERIOD}&format=xlsx&lang=en").data)).worksheets[0]
    found = [[c.value for c in row] for row in sheet.iter_rows() if row[0].value == "活动spring"]
    assert len(found) == 2  # the campaign's row in either section
    assert Decimal(str(found[0][9])) == spring["won"] and Decimal(str(found[0][5])) == Decimal("1000.00")
    assert found[1][1:7] == [spring[k] for k in MAIL_KEYS]
    pdf = web.get(f"{URL}?{PERIOD}&format=pdf&lang=en").data
    words = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "1,900.50" in words and "90.05%" in words and "166.67" in words


def test_statements_do_not_grow_with_the_campaigns(data, app, client_as, db_session):
    web = client_as("executive")
    url = f"{URL}?{PERIOD}&lang=en"
    web.get(url)

    def statements():
        with count_queries(app) as sent:
            assert web.get(url).status_code == 200
        return list(sent)

    small = statements()
    for n in range(6):
        extra = campaign(db_session, name=f"加开活动{n}", starts_on=date(2026, 2, 1 + n), actual_cost=Decimal("10.00"))
        lead(db_session, extra, status="new")
    db_session.commit()
    large = statements()
    assert len(large) == len(small)
    figures = [s for s in large if re.search(r"\bFROM campaign\b", s) and "email_log" in s]
    assert len(figures) == 1, figures  # the figures: one statement


# ------------------------------------------------------------------ effect report
def test_effect_report_action_and_details_buttons(data, client_as):
    from openpyxl import load_workbook
    from pypdf import PdfReader

    ids, far_user = data
    web = client_as("marketing")
    details = web.get(f"/admin/campaign/details/?id={ids['spring']}&lang=en").get_data(as_text=True)
    assert 'id="effect-pdf"' in details and 'id="effect-xlsx"' in details
    link = unescape(re.search(r'id="effect-xlsx" href="([^"]+)"', details).group(1))
    book = load_workbook(io.BytesIO(web.get(link).data))
    values = [[c.value for c in row] for row in book.worksheets[0].iter_rows()]
    names = [row[0] for row in values]
    assert "活动spring" in names and "活动webinar" not in names
    spring = next(row for row in values if row[0] == "活动spring")
    assert Decimal(str(spring[9])) == Decimal("1900.50")
    # the list action: the chosen campaigns in scope only (the other department's is ignored)
    assert "effect_pdf" in web.get("/admin/campaign/?lang=en").get_data(as_text=True)
    form = {"action": "effect_pdf", "rowid": [str(ids["spring"]), str(ids["webinar"]), str(ids["far"])]}
    response = web.post("/admin/campaign/action/", data=form)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    words = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)
    assert "活动spring" in words and "活动webinar" in words and "活动far" not in words
    assert "1,900.50" in words
    # nothing in scope: back to the list with a message
    refused = web.get(f"/admin/campaign/effect/?ids={ids['far']}&format=pdf&lang=en", follow_redirects=True)
    assert "Choose at least one campaign" in refused.get_data(as_text=True)


def test_effect_report_needs_the_report_right(data, client_as):
    ids, _ = data
    web = client_as("sales_director")  # reads campaigns (V), holds no marketing report
    details = web.get(f"/admin/campaign/details/?id={ids['spring']}&lang=en")
    assert details.status_code == 200 and 'id="effect-pdf"' not in details.get_data(as_text=True)
    assert web.get(f"/admin/campaign/effect/?ids={ids['spring']}&format=pdf").status_code == 403
