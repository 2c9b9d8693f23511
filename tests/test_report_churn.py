"""客户流失分析 /admin/reports/churn/ (SPEC §7.4): warnings, delayed and confirmed losses per
month (an empty month included), live clients at each month's start and the churn rate
against an independent computation, by reason and manager, scope, drill-through to the
churn list and the downloads."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from decimal import Decimal

import pytest

from models.churn import ClientLoss
from tests.factories import make_client, user

URL = "/admin/reports/churn/"
PERIOD = "date_from=2026-01-01&date_to=2026-03-31"
MONTHS = ["2026-01", "2026-02", "2026-03"]
NAME = re.compile(r"流失\d+号有限公司")

#: client n: (owner, created (UTC, midday), warning date, status, confirmed at (UTC, midday), reason)
RECORDS = {
    1: ("account_manager", datetime(2025, 6, 1, 4), date(2026, 1, 5), "confirmed", datetime(2026, 1, 20, 4), "价格"),
    2: ("account_manager", datetime(2025, 6, 1, 4), date(2026, 1, 10), "delayed", None, None),
    3: ("am_other", datetime(2025, 6, 1, 4), date(2026, 3, 3), "warning", None, None),
    4: ("am_other", datetime(2025, 6, 1, 4), date(2025, 12, 20), "confirmed", datetime(2026, 3, 5, 4), "价格"),
    5: ("am_other", datetime(2025, 6, 1, 4), date(2026, 3, 10), "confirmed", datetime(2026, 3, 12, 4), None),
    6: ("am_other", datetime(2025, 6, 1, 4), date(2026, 3, 1), "confirmed", datetime(2026, 4, 2, 4), "服务"),
    7: ("account_manager", datetime(2026, 2, 10, 4), None, None, None, None),  # live from March on
    8: ("account_manager", datetime(2025, 6, 1, 4), None, None, None, None),
}


@pytest.fixture
def losses(db_session):
    s = db_session
    made = {}
    for n, (owner, created, warned, status, confirmed_at, reason) in RECORDS.items():
        client = make_client(s, owner, name=f"流失{n}号有限公司")
        client.created_at = created
        if warned:
            s.add(
                ClientLoss(
                    client=client,
                    owner=user(s, owner),
                    detected_on=warned,
                    status=status,
                    confirmed_at=confirmed_at,
                    reason=reason,
                )
            )
        made[n] = client
    s.commit()
    return made


def expected(owners=None) -> dict:
    """month → figures and the client names behind each (UTC midday: the local day too)."""
    rows = {}
    for month in MONTHS:
        first = date.fromisoformat(month + "-01")
        records = {n: r for n, r in RECORDS.items() if owners is None or r[0] in owners}
        warned = {n for n, r in records.items() if r[2] and f"{r[2]:%Y-%m}" == month}
        delayed = {n for n in warned if records[n][3] == "delayed"}
        confirmed = {n for n, r in records.items() if r[3] == "confirmed" and f"{r[4]:%Y-%m}" == month}
        live = {
            n for n, r in records.items() if r[1].date() < first and not (r[3] == "confirmed" and r[4].date() < first)
        }
        rows[month] = {"warnings": warned, "delayed": delayed, "confirmed": confirmed, "live": len(live)}
    return rows


def table(html: str, number: int) -> list[dict]:
    part = html[html.index(f'id="report-table-{number}"') :]
    part = part[part.index("<tbody>") : part.index("</tbody>")]
    result = []
    for row in re.findall(r"<tr>(.*?)</tr>", part, re.S):
        cells = {}
        for key, inner in re.findall(r'data-key="(\w+)">(.*?)</td>', row, re.S):
            link = re.search(r'href="([^"]+)"', inner)
            cells[key] = (re.sub(r"<[^>]+>", "", inner).strip(), link.group(1).replace("&amp;", "&") if link else None)
        result.append(cells)
    return result


def names(web, url) -> set[str]:
    return set(NAME.findall(web.get(url + "&lang=en").get_data(as_text=True)))


def numbers(clients) -> set[str]:
    return {f"流失{n}号有限公司" for n in clients}


@pytest.mark.parametrize("username", ["executive", "account_manager"])
def test_months_rates_and_drill_through(losses, client_as, username):
    web = client_as(username)
    owners = {"account_manager"} if username == "account_manager" else None
    want = expected(owners)
    rows = table(web.get(f"{URL}?{PERIOD}&lang=en").get_data(as_text=True), 1)
    assert [r["month"][0] for r in rows] == MONTHS
    for row in rows:
        month = want[row["month"][0]]
        for key in ("warnings", "delayed", "confirmed"):
            assert int(row[key][0]) == len(month[key]), (row["month"], key)
            assert names(web, row[key][1]) == numbers(month[key]), (row["month"], key)
        assert int(row["live"][0]) == month["live"]
        rate = Decimal(len(month["confirmed"]) * 100) / month["live"] if month["live"] else Decimal(0)
        assert row["rate"][0] == f"{rate:.2f}%"
    if owners is None:
        assert [int(r["warnings"][0]) for r in rows] == [2, 0, 3]  # February: an empty month
        assert [int(r["live"][0]) for r in rows] == [7, 6, 7]


def test_by_reason_and_by_manager(losses, client_as, db_session):
    web = client_as("executive")
    html = web.get(f"{URL}?{PERIOD}&lang=en").get_data(as_text=True)
    reasons = {r["reason"][0]: r for r in table(html, 2)}
    assert {k: int(v["losses"][0]) for k, v in reasons.items()} == {"价格": 2, "(none)": 1}
    assert names(web, reasons["价格"]["losses"][1]) == numbers({1, 4})
    assert names(web, reasons["(none)"]["losses"][1]) == numbers({5})
    managers = {r["owner"][0]: r for r in table(html, 3)}
    other = user(db_session, "am_other").name
    assert int(managers[other]["warnings"][0]) == 3 and int(managers[other]["confirmed"][0]) == 2
    assert names(web, managers[other]["warnings"][1]) == numbers({3, 5, 6})
    assert names(web, managers[other]["confirmed"][1]) == numbers({4, 5})


def test_owner_filter_narrows_to_the_manager(losses, client_as, db_session):
    web = client_as("executive")
    other = user(db_session, "am_other")
    rows = table(web.get(f"{URL}?{PERIOD}&owner={other.id}&lang=en").get_data(as_text=True), 1)
    assert [int(r["confirmed"][0]) for r in rows] == [0, 0, 2]
    assert names(web, rows[2]["confirmed"][1]) == numbers({4, 5})


def test_downloads_carry_the_same_figures_and_stay_in_scope(losses, client_as):
    from openpyxl import load_workbook

    web = client_as("account_manager")
    want = expected({"account_manager"})
    data = web.get(f"{URL}?{PERIOD}&format=csv&lang=en").data.decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(data)))
    at = lines.index(["Month", "Warnings", "Delayed", "Confirmed lost", "Live clients at the start", "Churn rate"])
    got = {line[0]: [int(x) for x in line[1:5]] for line in lines[at + 1 : at + 4]}
    assert got == {m: [len(w["warnings"]), len(w["delayed"]), len(w["confirmed"]), w["live"]] for m, w in want.items()}
    assert "流失5号" not in data
    sheet = load_workbook(io.BytesIO(web.get(f"{URL}?{PERIOD}&format=xlsx&lang=en").data)).worksheets[0]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    at = next(i for i, row in enumerate(values) if row[:2] == ["Month", "Warnings"])
    assert {row[0]: list(row[1:5]) for row in values[at + 1 : at + 4]} == got
    assert web.get(f"{URL}?{PERIOD}&format=pdf").data.startswith(b"%PDF")


def test_a_long_period_is_cut_and_named(client_as):
    html = client_as("executive").get(f"{URL}?date_from=2020-01-01&date_to=2026-03-31&lang=en").get_data(as_text=True)
    assert "limited to 36 months" in html
    assert len(table(html, 1)) == 36


@pytest.mark.parametrize("username", ["clerk", "finance", "service", "marketing"])
def test_403_without_the_right(client_as, username):
    assert client_as(username).get(URL).status_code == 403
