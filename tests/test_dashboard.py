"""The dashboard /admin/ (SPEC §7.9, issue 11 item 5): KPI cards per role and scope on a
fixed data set against a computation written here, each figure's link opening a list
with as many rows as the figure counts, "waiting for me" and the two charts' options."""

from __future__ import annotations

import html as html_lib
import json
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import select, update

from models import clock
from models.auth import Department, SystemConfig
from models.churn import ClientLoss
from models.finance import ContractReceipt, Receipt
from models.lookups import PaymentMethod, SalesStage
from models.targets import SalesTarget, WeeklyReport
from models.workflow import perform
from tests.conftest import ROLES, english
from tests.factories import (
    lookup,
    make_client,
    make_contract,
    make_opportunity,
    make_order,
    make_product,
    make_quote,
    user,
)

TEAM = "销售一部"  # the department of every role's test user, and of am_team
#: who sees whose records: scope all, department (销售一部 and below) or own
ALL = ("admin", "executive", "finance")
TEAM_MEMBERS = {*ROLES, "am_team"}
#: the kinds of "waiting for me" each role is shown (their workflow rights, SPEC §6)
WAITING_KINDS = {
    "executive": {"contract"},
    "sales_director": {"contract", "quote", "purchase_request", "weekly_report", "order"},
    "account_manager": {"order"},
    "finance": {"payment", "expense_contract", "purchase_request"},
    "clerk": set(),
}


def sees(viewer: str, owner: str) -> bool:
    if viewer in ALL:
        return True
    if viewer in ("sales_director", "clerk"):
        return owner in TEAM_MEMBERS
    return viewer == owner


@dataclass
class Row:
    owner: str
    day: object = None  # the local day it counts on
    amount: Decimal = Decimal("0")
    rate: int = 0
    status: str = ""
    stage: str = ""


def local(day, hour=12):
    return clock.to_utc(datetime.combine(day, time(hour)))


def money(text: str) -> Decimal:
    return Decimal(re.sub(r"[^\d.\-]", "", text))


@pytest.fixture
def data(db_session):
    """The fixed data set, and what it holds in plain rows for the expectations."""
    s = db_session
    s.execute(update(SystemConfig).where(SystemConfig.name == "contract_approval_threshold").values(value="500"))
    today = clock.today()
    first = today.replace(day=1)
    last_month = first - timedelta(days=1)
    rows = {"clients": [], "lost": [], "opps": [], "orders": [], "receipts": [], "overdue": []}

    def client(owner, day):
        made = make_client(s, owner)
        made.created_at = local(day, 0) + timedelta(seconds=1)
        rows["clients"].append(Row(owner, day))
        return made

    am1 = client("account_manager", today)
    client("account_manager", last_month)
    team = client("am_team", today)
    other = client("am_other", today)
    gone = make_client(s, "account_manager")  # deleted: never counted
    gone.soft_delete(None)

    now = clock.now()
    for owner, made, status in (("account_manager", am1, "confirmed"), ("am_other", other, "confirmed")):
        s.add(ClientLoss(client=made, owner=user(s, owner), detected_on=today, status=status, confirmed_at=now))
        rows["lost"].append(Row(owner, today))
    s.add(ClientLoss(client=team, owner=user(s, "am_team"), detected_on=today, status="warning"))

    stages = s.execute(select(SalesStage).order_by(SalesStage.sort_order, SalesStage.id)).scalars().all()
    for owner, amount, rate, stage, status in (
        ("account_manager", "1000.00", 30, stages[0], "assigned"),
        ("am_other", "333.33", 33, stages[0], "assigned"),
        ("am_team", "200.01", 50, stages[1], "assigned"),
        ("account_manager", "999.00", 90, stages[1], "archived"),  # closed: not open
    ):
        opp = make_opportunity(
            s, created_by=owner, assigned_to=owner, stage_name=stage.name, expected_amount=Decimal(amount)
        )
        opp.success_rate, opp.status = rate, status
        rows["opps"].append(Row(owner, amount=Decimal(amount), rate=rate, status=status, stage=stage.name))
    s.flush()

    product = make_product(s, price="10.00")
    for owner, day, total, status in (
        ("account_manager", today, "200.00", "pending"),
        ("account_manager", today, "50.00", "cancelled"),
        ("account_manager", last_month, "70.00", "pending"),
        ("am_other", today, "30.00", "pending"),
        ("am_team", today, "11.11", "completed"),
    ):
        make_order(
            s,
            owner,
            lines=[(product, 1, total)],
            client={"account_manager": am1, "am_other": other, "am_team": team}[owner],
            ordered_on=day,
            status=status,
        )
        rows["orders"].append(Row(owner, day, Decimal(total), status=status))

    due = make_contract(s, am1, amount="1000.00", starts_on=today.replace(year=today.year - 1))
    make_contract(s, other, amount="250.00", starts_on=today - timedelta(days=3))
    make_contract(s, am1, amount="70.00", starts_on=today + timedelta(days=1))  # not due yet
    make_contract(s, am1, amount="90.00", starts_on=today - timedelta(days=9), status="draft")  # not receivable
    paid = make_contract(s, team, amount="40.00", starts_on=today - timedelta(days=9))
    rows["overdue"] += [Row("account_manager", amount=Decimal("600.00")), Row("am_other", amount=Decimal("250.00"))]

    method = lookup(s, PaymentMethod)
    for n, (made, owner, amount, day, allocations) in enumerate(
        (
            (am1, "account_manager", "500.00", today, [(due, "400.00")]),
            (other, "am_other", "40.00", today, []),
            (team, "am_team", "40.00", last_month, [(paid, "40.00")]),
        )
    ):
        receipt = Receipt(
            number=f"HK-D-{n}",
            client=made,
            amount=Decimal(amount),
            received_on=day,
            method=method,
            recorded_by=user(s, "finance"),
        )
        receipt.allocations = [ContractReceipt(contract=c, amount=Decimal(a)) for c, a in allocations]
        s.add(receipt)
        rows["receipts"].append(Row(owner, day, Decimal(amount)))

    month = first.strftime("%Y-%m")
    departments = {d.name: d for d in s.execute(select(Department)).scalars()}
    targets = [
        SalesTarget(user=user(s, "account_manager"), month=month, amount=Decimal("1000.00")),
        SalesTarget(user=user(s, "am_other"), month=month, amount=Decimal("300.00")),
        SalesTarget(department=departments[TEAM], month=month, amount=Decimal("5000.00")),
        SalesTarget(department=departments["销售部"], month=month, amount=Decimal("8000.00")),
        SalesTarget(user=user(s, "account_manager"), month=last_month.strftime("%Y-%m"), amount=Decimal("100.00")),
    ]
    s.add_all(targets)
    tops = sum(
        (t.amount for t in targets if t.month == month and t.department and t.department.parent_id is None),
        Decimal("0"),
    )
    rows["targets"] = {
        "all": tops,
        "sales_director": Decimal("5000.00"),
        "clerk": Decimal("5000.00"),
        "account_manager": Decimal("1000.00"),
    }

    # waiting for approval: above the threshold (500) a director's first approval, then an executive
    am, director = user(s, "account_manager"), user(s, "sales_director")
    for owner_client, amount, submitter, approver in (
        (am1, "300.00", am, None),  # the director's (and an admin's) to approve
        (am1, "900.00", am, director),  # the executive's second approval
        (team, "100.00", director, None),  # the director submitted it: not theirs (four-eyes)
    ):
        contract = make_contract(s, owner_client, amount=amount, status="submitted")
        contract.submitted_by_id = submitter.id
        contract.approved_by_id = approver.id if approver else None
    quote = make_quote(s, "account_manager", lines=[(product, 1)], discount="50", client=am1)  # above the threshold
    s.commit()
    perform(quote, "submit", am)
    report = WeeklyReport(user=am, week_start=today - timedelta(days=today.weekday()), summary="本周")
    s.add(report)
    s.commit()
    perform(report, "submit", am)
    s.commit()
    rows.update(today=today, first=first, last_month=last_month)
    return rows


def figures(page: str) -> dict[str, tuple[str, str | None]]:
    """id → (shown value, link) of every figure on the dashboard."""
    found = {}
    for match in re.finditer(r'<(a|span) class="crm-figure" id="figure-([\w-]+)"(?: href="([^"]*)")?>([^<]*)<', page):
        found[match.group(2)] = (match.group(4), html_lib.unescape(match.group(3)) if match.group(3) else None)
    return found


def waiting(page: str) -> dict[str, tuple[int, str]]:
    found = {}
    for match in re.finditer(
        r'id="waiting-(\w+)">\s*<a href="([^"]*)">[^<]*</a>\s*<span class="badge[^"]*">(\d+)</span>', page
    ):
        found[match.group(1)] = (int(match.group(3)), html_lib.unescape(match.group(2)))
    return found


def charts(page: str) -> list[dict]:
    return [
        json.loads(html_lib.unescape(raw))
        for raw in re.findall(r'<script type="application/json" class="crm-chart-option">(.*?)</script>', page, re.S)
    ]


def list_count(client, url: str) -> int:
    response = client.get(url)
    assert response.status_code == 200, url
    page = response.get_data(as_text=True)
    match = re.search(r'class="nav-link active">[^<(]*\(([\d,]+)\)</a>', page)
    return int(match.group(1).replace(",", "")) if match else 0


def expected(rows, viewer: str) -> dict:
    """The figures computed from the plain rows."""
    today, first = rows["today"], rows["first"]

    def mine(kind):
        return [r for r in rows[kind] if sees(viewer, r.owner)]

    opened = [r for r in mine("opps") if r.status != "archived"]
    orders = [r for r in mine("orders") if r.status != "cancelled" and r.day >= first]
    receipts = [r for r in mine("receipts") if r.day >= first]
    scope = "all" if viewer in ALL else viewer
    return {
        "clients-new_today": sum(r.day == today for r in mine("clients")),
        "clients-new_month": sum(r.day >= first for r in mine("clients")),
        "lost-lost_month": len(mine("lost")),
        "opportunities-open_count": len(opened),
        "opportunities-open_amount": sum((r.amount for r in opened), Decimal("0.00")),
        "opportunities-open_weighted": (sum(r.amount * r.rate for r in opened) / 100).quantize(
            Decimal("0.01"), ROUND_HALF_UP
        ),
        "orders-orders_count": len(orders),
        "orders-orders_amount": sum((r.amount for r in orders), Decimal("0.00")),
        "receipts-receipts_count": len(receipts),
        "receipts-receipts_amount": sum((r.amount for r in receipts), Decimal("0.00")),
        "orders-target": rows["targets"][scope],
        "overdue-overdue_count": len(mine("overdue")),
        "overdue-overdue_amount": sum((r.amount for r in mine("overdue")), Decimal("0.00")),
    }


@pytest.mark.parametrize("role", ["executive", "sales_director", "account_manager", "finance", "clerk"])
def test_cards_per_role_equal_an_independent_computation_and_their_lists(client_as, data, role):
    client = english(client_as(role))
    page = client.get("/admin/").get_data(as_text=True)
    shown = figures(page)
    want = expected(data, role)
    rights = {  # the cards a role sees: those of the lists it may open (SPEC §6)
        "clients": True,
        "lost": role != "finance" and role != "clerk",
        "opportunities": True,
        "orders": True,
        "receipts": role not in ("clerk",),
        "overdue": True,
        "tickets": role != "finance",  # service tickets (issue 12): viewed by all but finance
    }
    assert {key.split("-")[0] for key in shown} == {card for card, seen in rights.items() if seen}
    for key, value in want.items():
        card = key.split("-")[0]
        if not rights[card]:
            continue
        text, url = shown[key]
        got = money(text) if isinstance(value, Decimal) else int(text.replace(",", ""))
        assert got == value, (role, key, text)
        if key.endswith("_count") or key.endswith("_month") or key.endswith("_today"):
            assert url and list_count(client, url) == value, (role, key, url)
    if rights["orders"]:
        percent = (want["orders-orders_amount"] * 100 / want["orders-target"]).quantize(Decimal("0.1"), ROUND_HALF_UP)
        assert money(shown["orders-orders_percent"][0]) == percent


def test_an_account_manager_sees_own_figures_only(client_as, data):
    page = english(client_as("account_manager")).get("/admin/").get_data(as_text=True)
    shown = figures(page)
    assert money(shown["opportunities-open_amount"][0]) == Decimal("1000.00")
    assert money(shown["orders-orders_amount"][0]) == Decimal("200.00")
    assert money(shown["overdue-overdue_amount"][0]) == Decimal("600.00")
    assert int(shown["clients-new_today"][0]) == 1


def test_waiting_for_me_counts_and_links(client_as, data):
    want = {
        "executive": {"contract": 1},  # the contract above the threshold, approved once
        "sales_director": {"contract": 1, "quote": 1, "purchase_request": 0, "weekly_report": 1, "order": 2},
        "account_manager": {"order": 2},  # own pending orders (this month's and last month's)
        "finance": {"payment": 0, "expense_contract": 0, "purchase_request": 0},
        "clerk": {},
    }
    for role, counts in want.items():
        client = english(client_as(role))
        page = client.get("/admin/").get_data(as_text=True)
        shown = waiting(page)
        assert set(shown) == WAITING_KINDS[role], role
        assert {kind: count for kind, (count, _) in shown.items()} == counts, role
        for kind, (count, url) in shown.items():
            assert "waiting_for_me_equals=1" in url
            assert list_count(client, url) == count, (role, kind)
        if not counts:
            assert 'id="waiting-for-me"' not in page


def test_the_charts_options_equal_the_figures(client_as, data):
    client = english(client_as("sales_director"))
    page = client.get("/admin/").get_data(as_text=True)
    orders, funnel = charts(page)
    months = orders["xAxis"]["data"]
    assert len(months) == 12 and months[-1] == data["first"].strftime("%Y-%m")
    assert months[-2] == data["last_month"].strftime("%Y-%m")
    bars, line = orders["series"]
    assert bars["type"] == "bar" and line["type"] == "line"
    seen = [r for r in data["orders"] if sees("sales_director", r.owner) and r.status != "cancelled"]
    for month, point, target in zip(months, bars["data"], line["data"], strict=True):
        inside = [r for r in seen if r.day.strftime("%Y-%m") == month]
        assert Decimal(str(point["value"])) == sum((r.amount for r in inside), Decimal("0"))
        assert list_count(client, html_lib.unescape(point["url"])) == len(inside), month
        if month == months[-1]:
            assert Decimal(str(target["value"])) == Decimal("5000")
    # no department target last month: the people's targets of the department count (am's 100)
    assert Decimal(str(line["data"][-2]["value"])) == Decimal("100")
    stages = funnel["series"][0]["data"]
    open_ = [r for r in data["opps"] if sees("sales_director", r.owner) and r.status != "archived"]
    names = sorted({r.stage for r in open_})
    assert sorted(p["name"] for p in stages) == names
    for point in stages:
        count = sum(r.stage == point["name"] for r in open_)
        assert point["value"] == count
        assert list_count(client, html_lib.unescape(point["url"])) == count


def test_dashboard_in_chinese_has_its_labels(client_as, data):
    page = client_as("executive").get("/admin/").get_data(as_text=True)
    for text in ("新增客户", "待我处理", "销售漏斗", "逾期应收"):
        assert text in page, text
    for english_text in ("New clients", "Waiting for me", "Overdue receivables", "Weighted by probability"):
        assert english_text not in page, english_text


#: the statements of one dashboard page (reports/kpis.py, views/dashboard.py): the user, the
#: reminders, new clients (today and month in one), lost clients, open opportunities per stage
#: (the card adds the chart's rows up), orders of 12 months (card and chart), targets of 12
#: months (card and chart), receipts, overdue receivables, the contract threshold (who may
#: approve contracts), every "waiting for me" count in one statement, the user's department;
#: a director's scope reads the department tree once per scoped statement. A new card adds
#: its statement here: the service tickets' card (issue 12) is one more; a director's ticket
#: scope (assignee, creator or the client's owner in the department tree) reads the tree 4 times.
DASHBOARD_STATEMENTS = {"executive": 13, "sales_director": 31, "account_manager": 12}


@pytest.mark.parametrize("role", sorted(DASHBOARD_STATEMENTS))
def test_dashboard_statements_are_pinned(app, client_as, data, role):
    from tests.conftest import count_queries

    client = english(client_as(role))
    client.get("/admin/")
    with count_queries(app) as statements:
        page = client.get("/admin/").get_data(as_text=True)
    assert len(charts(page)) == 2
    reads = dict.fromkeys(TABLES_ONCE, 0)
    for statement in statements:
        while re.search(r"\([^()]*\)", statement):  # the statement's own FROM: subqueries left out
            statement = re.sub(r"\([^()]*\)", "", statement)
        found = re.search(r"\bFROM (\w+)", statement)
        if found and found.group(1) in reads:
            reads[found.group(1)] += 1
    assert reads == dict.fromkeys(TABLES_ONCE, 1), reads  # the cards and charts share their reads
    waiting = [s for s in statements if re.search(r"SELECT \(SELECT count\(\*\)", s)]
    assert len(waiting) == 1  # every kind of "waiting for me" in one statement
    assert len(statements) == DASHBOARD_STATEMENTS[role], "\n".join(s[:120] for s in statements)


#: the tables one dashboard statement each reads (cards and charts together)
TABLES_ONCE = ("sal_chance", "sales_target", "clients", "client_loss", "receipt")
