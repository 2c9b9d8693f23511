"""销售漏斗 /admin/reports/funnel/ (SPEC §7.5): open opportunities by stage — count, expected
and weighted amount against an independent computation (exact, half up), scope, the
drill-through to the opportunity list and the downloads."""

from __future__ import annotations

import csv
import io
import re
from decimal import ROUND_HALF_UP, Decimal

import pytest

from tests.factories import make_opportunity

URL = "/admin/reports/funnel/"
NAME = re.compile(r"漏斗\d+号有限公司")

#: n: (stage, expected amount, success rate (None: the stage's), assignee, archived)
SPEC = {
    1: ("需求确认", "1000.00", None, "account_manager", False),
    2: ("需求确认", "333.33", 33, "account_manager", False),
    3: ("谈判审核", None, None, "am_other", False),
    4: ("方案报价", "500.00", None, "am_other", True),
    5: ("初步接洽", "200.00", None, None, False),
}
PROBABILITY = {"初步接洽": 10, "需求确认": 30, "方案报价": 50, "谈判审核": 80}


@pytest.fixture
def opportunities(db_session):
    made = {}
    for n, (stage, amount, rate, assignee, archived) in SPEC.items():
        fields = {"customer_name": f"漏斗{n}号有限公司"}
        if amount:
            fields["expected_amount"] = Decimal(amount)
        if rate is not None:
            fields["success_rate"] = rate
        if archived:
            fields.update(status="archived", outcome="won")
        made[n] = make_opportunity(db_session, "sales_director", assigned_to=assignee, stage_name=stage, **fields)
    return made


def expected(visible) -> dict:
    result = {
        stage: {"count": 0, "amount": Decimal(0), "weighted": Decimal(0), "names": set()} for stage in PROBABILITY
    }
    for n, (stage, amount, rate, _, archived) in SPEC.items():
        if archived or n not in visible:
            continue
        figures = result[stage]
        money = Decimal(amount or 0)
        figures["count"] += 1
        figures["amount"] += money
        figures["weighted"] += money * (rate if rate is not None else PROBABILITY[stage]) / 100
        figures["names"].add(f"漏斗{n}号有限公司")
    for figures in result.values():
        figures["weighted"] = figures["weighted"].quantize(Decimal("0.01"), ROUND_HALF_UP)
    return result


def page_rows(html: str) -> dict:
    part = html[html.index('id="report-table-1"') :]
    part = part[part.index("<tbody>") : part.index("</tbody>")]
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", part, re.S):
        cells = {}
        for key, inner in re.findall(r'data-key="(\w+)">(.*?)</td>', row, re.S):
            link = re.search(r'href="([^"]+)"', inner)
            cells[key] = (re.sub(r"<[^>]+>", "", inner).strip(), link.group(1).replace("&amp;", "&") if link else None)
        rows[cells["stage"][0]] = cells
    return rows


def names(web, url) -> set[str]:
    return set(NAME.findall(web.get(url + "&lang=en").get_data(as_text=True)))


@pytest.mark.parametrize(
    ("username", "visible"), [("executive", {1, 2, 3, 4, 5}), ("account_manager", {1, 2}), ("am_other", {3, 4})]
)
def test_stages_figures_and_drill_through(opportunities, client_as, username, visible):
    web = client_as(username)
    rows = page_rows(web.get(f"{URL}?lang=en").get_data(as_text=True))
    want = expected(visible)
    assert list(rows) == list(PROBABILITY)  # every stage, in the stages' order
    for stage, figures in want.items():
        row = rows[stage]
        assert int(row["opportunities"][0]) == figures["count"], stage
        assert row["amount"][0] == f"¥{figures['amount']:,.2f}", stage
        assert row["weighted"][0] == f"¥{figures['weighted']:,.2f}", stage
        assert names(web, row["opportunities"][1]) == figures["names"], stage
    if username == "executive":
        assert want["需求确认"]["weighted"] == Decimal("410.00")  # 300 + 109.9989, rounded once


def test_owner_filter_and_downloads(opportunities, client_as, db_session):
    from openpyxl import load_workbook

    from tests.factories import user

    web = client_as("executive")
    owner = user(db_session, "account_manager")
    want = expected({1, 2})
    rows = page_rows(web.get(f"{URL}?owner={owner.id}&lang=en").get_data(as_text=True))
    assert int(rows["需求确认"]["opportunities"][0]) == 2 and int(rows["初步接洽"]["opportunities"][0]) == 0
    assert names(web, rows["需求确认"]["amount"][1]) == want["需求确认"]["names"]
    lines = list(csv.reader(io.StringIO(web.get(f"{URL}?format=csv&lang=en").data.decode("utf-8-sig"))))
    at = lines.index(
        ["Sales stage", "Probability (%)", "Number of opportunities", "Expected amount", "Weighted amount"]
    )
    full = expected({1, 2, 3, 4, 5})
    got = {line[0]: (int(line[2]), Decimal(line[3]), Decimal(line[4])) for line in lines[at + 1 : at + 5]}
    assert got == {s: (f["count"], f["amount"], f["weighted"]) for s, f in full.items()}
    sheet = load_workbook(io.BytesIO(web.get(f"{URL}?format=xlsx&lang=en").data)).worksheets[0]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    at = next(i for i, row in enumerate(values) if row[:1] == ["Sales stage"])
    xlsx = {
        row[0]: (row[2], Decimal(str(row[3])).quantize(Decimal("0.01")), Decimal(str(row[4])).quantize(Decimal("0.01")))
        for row in values[at + 1 : at + 5]
    }
    assert xlsx == got
    assert web.get(f"{URL}?format=pdf").data.startswith(b"%PDF")


@pytest.mark.parametrize("username", ["clerk", "finance", "service", "marketing"])
def test_403_without_the_right(client_as, username):
    assert client_as(username).get(URL).status_code == 403
