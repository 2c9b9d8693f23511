"""销售业绩 /admin/reports/performance/ (SPEC §7.6): orders and receipts per person and
department per month against the sales targets — against an independent computation on a
fixed data set (a month without target, a cancelled order, an unconfirmed receipt, a quarter
equal to its months), scope, drill-through to the order and receipt lists, the downloads."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import select

from tests.factories import lookup, make_client, make_order, make_product, user

URL = "/admin/reports/performance/?date_from=2025-01-01&date_to=2025-03-31"
AM, OTHER = "测试account_manager", "二部经理"
#: owner, order date, total, cancelled
ORDERS = [
    ("account_manager", date(2025, 1, 10), "100.00", False),
    ("account_manager", date(2025, 2, 5), "200.00", False),
    ("account_manager", date(2025, 2, 20), "999.00", True),
    ("account_manager", date(2025, 3, 3), "50.00", False),
    ("am_other", date(2025, 1, 15), "300.00", False),
    ("am_other", date(2024, 12, 31), "77.00", False),  # before the period
]
#: client owner, date, amount, confirmed
RECEIPTS = [
    ("account_manager", date(2025, 1, 20), "80.00", True),
    ("account_manager", date(2025, 2, 1), "70.00", False),
    ("am_other", date(2025, 3, 10), "30.00", True),
]
#: person, month, amount (February of account_manager has none)
TARGETS = [
    ("account_manager", "2025-01", "1000.00"),
    ("account_manager", "2025-03", "100.00"),
    ("am_other", "2025-01", "600.00"),
]
NAMES = {"account_manager": AM, "am_other": OTHER}
ORDER_NO = re.compile(r"DD-P-\d+")
RECEIPT_NO = re.compile(r"HK-P-\d+")


@pytest.fixture
def sales(db_session):
    from models.finance import PaymentMethod, Receipt
    from models.targets import SalesTarget

    s = db_session
    product = make_product(s, price="1.00")
    clients = {owner: make_client(s, owner) for owner in NAMES}
    for n, (owner, day, total, cancelled) in enumerate(ORDERS):
        order = make_order(
            s, owner, lines=[(product, 1, Decimal(total))], client=clients[owner], ordered_on=day, number=f"DD-P-{n}"
        )
        if cancelled:
            order.status = "cancelled"
    for n, (owner, day, amount, confirmed) in enumerate(RECEIPTS):
        s.add(
            Receipt(
                number=f"HK-P-{n}",
                client=clients[owner],
                amount=Decimal(amount),
                received_on=day,
                method=lookup(s, PaymentMethod),
                recorded_by=user(s, "finance"),
                status="confirmed" if confirmed else "recorded",
            )
        )
    for owner, month, amount in TARGETS:
        s.add(SalesTarget(user=user(s, owner), month=month, amount=Decimal(amount)))
    s.commit()


def period(day: date, kind: str) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}" if kind == "quarter" else f"{day:%Y-%m}"


def expected(kind: str, people=("account_manager", "am_other")) -> dict:
    """(name, period) → (orders, order total, target, completion, receipts, received)."""
    start, end = date(2025, 1, 1), date(2025, 3, 31)
    cells: dict = {}

    def cell(owner, key):
        return cells.setdefault((NAMES[owner], key), [0, Decimal(0), Decimal(0), 0, Decimal(0)])

    for owner, day, total, cancelled in ORDERS:
        if owner in people and not cancelled and start <= day <= end:
            c = cell(owner, period(day, kind))
            c[0] += 1
            c[1] += Decimal(total)
    for owner, day, amount, confirmed in RECEIPTS:
        if owner in people and confirmed:
            c = cell(owner, period(day, kind))
            c[3] += 1
            c[4] += Decimal(amount)
    for owner, month, amount in TARGETS:
        if owner in people:
            cell(owner, period(date.fromisoformat(month + "-01"), kind))[2] += Decimal(amount)
    result = {}
    for key, (orders, total, target, receipts, received) in cells.items():
        done = f"{(total * 100 / target).quantize(Decimal('0.01'), ROUND_HALF_UP)}%" if target else "—"
        result[key] = (orders, total, target, done, receipts, received)
    return result


def tables(html: str) -> list[dict]:
    """Each report table: (name, period) → {key: (text, link)}."""
    found = []
    for part in re.findall(r'id="report-table-\d+".*?<tbody>(.*?)</tbody>', html, re.S):
        rows = {}
        for row in re.findall(r"<tr>(.*?)</tr>", part, re.S):
            cells = {}
            for key, inner in re.findall(r'data-key="(\w+)">(.*?)</td>', row, re.S):
                link = re.search(r'href="([^"]+)"', inner)
                text = re.sub(r"<[^>]+>", "", inner).strip()
                cells[key] = (text, link.group(1).replace("&amp;", "&") if link else None)
            if "period" in cells:
                rows[(cells.get("name", ("",))[0], cells["period"][0])] = cells
        found.append(rows)
    return found


def shown(cells) -> tuple:
    money = lambda key: Decimal(cells[key][0].replace("¥", "").replace(",", ""))  # noqa: E731
    return (
        int(cells["orders"][0]),
        money("orders_amount"),
        money("target"),
        cells["completion"][0],
        int(cells["receipts"][0]),
        money("receipts_amount"),
    )


@pytest.mark.parametrize("kind", ["month", "quarter"])
def test_person_figures_against_an_independent_computation(sales, client_as, kind):
    html = client_as("executive").get(f"{URL}&period={kind}&lang=en").get_data(as_text=True)
    total, departments, people = tables(html)
    want = expected(kind)
    assert {key: shown(cells) for key, cells in people.items()} == want
    if kind == "month":
        assert want[(AM, "2025-02")][3] == "—"  # no target that month; the cancelled 999.00 is left out
        assert want[(AM, "2025-02")][1] == Decimal("200.00")
    else:  # the quarter is the sum of its months
        months = expected("month")
        assert want[(AM, "2025-Q1")][1] == sum((v[1] for k, v in months.items() if k[0] == AM), Decimal(0))
        assert want[(AM, "2025-Q1")][3] == "31.82%"
    # the total adds up the people; its target is the dashboard's rule (top departments, else people)
    assert sum(shown(c)[1] for c in total.values()) == sum(v[1] for v in want.values())
    assert ("销售一部", "2025-01" if kind == "month" else "2025-Q1") in departments


def test_account_manager_sees_own_only(sales, client_as):
    html = client_as("account_manager").get(f"{URL}&lang=en").get_data(as_text=True)
    parts = tables(html)
    assert len(parts) == 2  # total and people: no department rows
    total, people = parts
    assert {key: shown(cells) for key, cells in people.items()} == expected("month", people=("account_manager",))
    assert shown(total[("", "2025-01")])[1] == Decimal("100.00")  # am_other's 300.00 is not in the total
    assert shown(total[("", "2025-01")])[2] == Decimal("1000.00")  # own target


def test_drill_through_counts_equal_the_figures(sales, client_as):
    web = client_as("executive")
    _, _, people = tables(web.get(f"{URL}&period=quarter&lang=en").get_data(as_text=True))
    for (name, _), cells in people.items():
        orders = set(ORDER_NO.findall(web.get(cells["orders"][1]).get_data(as_text=True)))
        assert len(orders) == int(cells["orders"][0]), name
        receipts = set(RECEIPT_NO.findall(web.get(cells["receipts_amount"][1]).get_data(as_text=True)))
        assert len(receipts) == int(cells["receipts"][0]), name
    am = people[(AM, "2025-Q1")]
    assert set(ORDER_NO.findall(web.get(am["orders_amount"][1]).get_data(as_text=True))) == {
        "DD-P-0",
        "DD-P-1",
        "DD-P-3",
    }
    assert set(RECEIPT_NO.findall(web.get(am["receipts"][1]).get_data(as_text=True))) == {"HK-P-0"}


def test_owner_filter_and_the_three_downloads(sales, client_as, db_session):
    from openpyxl import load_workbook

    from models.auth import User

    web = client_as("executive")
    owner = db_session.execute(select(User.id).where(User.username == "account_manager")).scalar()
    url = f"{URL}&owner={owner}&lang=en"
    total, _, people = tables(web.get(url).get_data(as_text=True))
    assert set(people) == {(AM, "2025-01"), (AM, "2025-02"), (AM, "2025-03")}
    assert shown(total[("", "2025-03")])[2] == Decimal("100.00")  # the owner's target
    want = expected("month", people=("account_manager",))
    lines = list(csv.reader(io.StringIO(web.get(url + "&format=csv").data.decode("utf-8-sig"))))
    at = [i for i, line in enumerate(lines) if line[:2] == ["Owner", "Period"]][0]
    got = {
        (line[0], line[1]): (int(line[2]), Decimal(line[3]), Decimal(line[4]), line[5], int(line[6]), Decimal(line[7]))
        for line in lines[at + 1 : at + 4]
    }
    assert got == want
    sheet = load_workbook(io.BytesIO(web.get(url + "&format=xlsx").data)).worksheets[0]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    at = next(i for i, row in enumerate(values) if row[:2] == ["Owner", "Period"])
    cents = lambda v: Decimal(str(v)).quantize(Decimal("0.01"))  # noqa: E731
    xlsx = {(r[0], r[1]): (r[2], cents(r[3]), cents(r[4]), r[5], r[6], cents(r[7])) for r in values[at + 1 : at + 4]}
    assert xlsx == want
    assert web.get(url + "&format=pdf").data.startswith(b"%PDF")


@pytest.mark.parametrize("username", ["clerk", "finance", "service", "marketing"])
def test_403_without_the_right(client_as, username):
    assert client_as(username).get(URL).status_code == 403


def test_the_page_in_chinese(sales, client_as):
    html = client_as("executive").get(f"{URL}&period=year&lang=zh_Hans_CN").get_data(as_text=True)
    assert "销售业绩" in html and "按人员" in html and "回款完成率" in html
    people = tables(html)[2]
    assert shown(people[(AM, "2025")])[1] == Decimal("350.00")


def test_department_targets_in_one_statement_whatever_their_number(app, client_as, db_session):
    """The department rows take their targets from one statement: the page sends as many
    statements for 6 departments as for 2; each row's target is the department's own, else
    the sum of its subtree's people (the dashboard's rule)."""
    from models.auth import Department
    from models.targets import SalesTarget
    from tests.conftest import count_queries
    from tests.factories import person

    s = db_session
    top = Department(name="业绩测试部")
    s.add(top)
    s.add(SalesTarget(department=top, month="2025-02", amount=Decimal("5000.00")))
    made: list = []

    def add_groups(n):
        for _ in range(n):
            group = Department(name=f"业绩测试{len(made) + 1}组", parent=top if len(made) % 2 == 0 else made[-1])
            made.append(group)
            s.add(group)
            member = user(s, person(s, scope="own", department=group))
            s.add(SalesTarget(user=member, month="2025-01", amount=Decimal(100 * len(made))))
        s.commit()

    web = client_as("executive")
    url = f"{URL}&department={{}}&lang=en"
    web.get(url.format(top.id))
    counts, targets = [], []
    for n in (1, 4):  # the top and 1 group (2 departments), then the top and 5 groups (6)
        add_groups(n)
        with count_queries(app) as statements:
            html = web.get(url.format(top.id)).get_data(as_text=True)
        counts.append(len(statements))
        departments = tables(html)[1]
        targets.append({key: shown(cells)[2] for key, cells in departments.items()})
    assert counts[0] == counts[1]
    got = targets[1]
    # 2025-01: no own target → Σ the people below; 2025-02: its own; the groups their people's
    assert got[("业绩测试部", "2025-01")] == Decimal(100 + 200 + 300 + 400 + 500)
    assert got[("业绩测试部", "2025-02")] == Decimal("5000.00")
    assert got[("业绩测试1组", "2025-01")] == Decimal(100 + 200)  # the 2nd group is below the 1st
    assert got[("业绩测试3组", "2025-01")] == Decimal(300 + 400)
    assert got[("业绩测试5组", "2025-01")] == Decimal(500)
    assert len(targets[0]) == 3 and len(got) == 7  # groups show only months with a figure
