"""客户贡献分析 /admin/reports/contribution/ (SPEC §7.1): the ranking, ABC tiers (a boundary
exactly at 80 % and 95 %), adjustable cut-offs, tier movement against the previous period,
scope, drill-through to the order list, and the three downloads carrying the same figures."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from tests.factories import make_client, make_order, make_product

URL = "/admin/reports/contribution/"
START, END = date(2026, 7, 1), date(2026, 9, 30)  # 92 days
PREVIOUS = (date(2026, 3, 31), date(2026, 6, 30))  # the 92 days before
PERIOD = f"date_from={START}&date_to={END}"


@pytest.fixture
def orders(db_session):
    """Seven clients. This period: 500 / 300 / 100 / 50 / 30 / 20 (cumulative 50, 80, 90,
    95, 98, 100 %); the previous period: 贡献三 900, 贡献六 100, 贡献七 100. Noise a report
    must leave out: a cancelled order, a deleted one, one a day after the period."""
    s = db_session
    product = make_product(s, "1.00")
    owners = ["account_manager"] * 4 + ["am_other"] * 3
    clients = [
        make_client(s, owner, name=f"贡献{n}有限公司") for n, owner in zip("一二三四五六七", owners, strict=True)
    ]
    made = []

    def order(client, amount, day, **fields):
        record = make_order(
            s, owners[clients.index(client)], lines=[(product, 1, amount)], client=client, ordered_on=day, **fields
        )
        made.append(record)
        return record

    for client, amount in zip(clients[:6], ("499.50", "300.00", "100.00", "50.00", "30.00", "20.00"), strict=True):
        order(client, amount, date(2026, 8, 1))
    order(clients[0], "0.50", START)  # both ends of the period count
    order(clients[1], "0.00", END)
    order(clients[2], "900.00", date(2026, 4, 15))
    order(clients[5], "100.00", PREVIOUS[0])
    order(clients[6], "100.00", PREVIOUS[1])
    order(clients[0], "7000.00", date(2026, 8, 2), status="cancelled")
    gone = order(clients[0], "8000.00", date(2026, 8, 3))
    gone.is_deleted = True
    order(clients[3], "9000.00", date(2026, 10, 1))
    s.commit()
    return {"clients": clients, "orders": made}


# ----------------------------------------------------------- independent expectation
def counted(orders, start, end, owners=None):
    """client name → (Σ total, order numbers) of the orders the report counts."""
    result: dict = {}
    for o in orders:
        if o.is_deleted or o.status == "cancelled" or not (start <= o.ordered_on <= end):
            continue
        if owners is not None and o.owner.username not in owners:
            continue
        total, numbers = result.get(o.client.name, (Decimal(0), set()))
        result[o.client.name] = (total + o.total, numbers | {o.number})
    return result


def tiers(totals: dict, a=80, b=15) -> dict:
    """client name → tier: ranked by total (ties by creation order = id), A while the share
    before the client is below a %, B below a + b %, else C — in exact fractions."""
    ranked = sorted(totals.items(), key=lambda item: -item[1])
    grand = sum(totals.values())
    result, before = {}, Fraction(0)
    for name, total in ranked:
        share = before / Fraction(grand) * 100 if grand else Fraction(100)
        result[name] = "A" if share < a else "B" if share < a + b else "C"
        before += Fraction(total)
    return result


def sums(orders, start, end, owners=None) -> dict:
    return {name: total for name, (total, _) in counted(orders, start, end, owners).items()}


def report(session, username, **values):
    from reports.contribution import REPORT
    from reports.framework import parse
    from tests.factories import user

    args = {"date_from": START.isoformat(), "date_to": END.isoformat(), **{k: str(v) for k, v in values.items()}}
    parsed, errors = parse(REPORT.fields, args, END)
    assert not errors
    return REPORT.run(session, user(session, username), parsed)


def section(result, title_start):
    return next(s for s in result.sections if str(s.title).startswith(title_start))


# ------------------------------------------------------------------------ figures
def test_ranking_shares_and_tiers_equal_an_independent_calculation(orders, db_session, app):
    with app.test_request_context():
        result = report(db_session, "executive")
    want = sums(orders["orders"], START, END)
    want_tiers = tiers(want)
    rows = section(result, "Clients ranked").rows
    assert [r["client"] for r in rows] == sorted(want, key=lambda name: -want[name])
    assert {r["client"]: r["amount"] for r in rows} == want
    assert {r["client"]: r["tier"] for r in rows} == want_tiers
    grand = sum(want.values())
    assert rows[1]["cumulative"] == Decimal("80.00") and rows[1]["tier"] == "A"  # exactly 80 % closes A
    assert rows[2]["tier"] == "B" and rows[3]["cumulative"] == Decimal("95.00") and rows[3]["tier"] == "B"
    assert rows[4]["tier"] == "C"
    assert sum(r["share"] for r in rows) == Decimal("100.00")
    tier_rows = {r["tier"]: r for r in section(result, "ABC tiers").rows}
    for tier in "ABC":
        members = [name for name, t in want_tiers.items() if t == tier]
        assert tier_rows[tier]["clients"] == len(members)
        assert tier_rows[tier]["amount"] == sum(want[name] for name in members)
    assert section(result, "ABC tiers").totals["amount"] == grand


def test_cut_offs_are_adjustable(orders, db_session, app):
    with app.test_request_context():
        result = report(db_session, "executive", cut_a=50, cut_b=40)
    want = tiers(sums(orders["orders"], START, END), 50, 40)
    assert {r["client"]: r["tier"] for r in section(result, "Clients ranked").rows} == want
    assert list(want.values()) == ["A", "B", "B", "C", "C", "C"]  # 50 % exactly closes A, 90 % closes B


def test_tier_movement_against_the_previous_period(orders, db_session, app):
    with app.test_request_context():
        result = report(db_session, "executive")
    now = tiers(sums(orders["orders"], START, END))
    then = tiers(sums(orders["orders"], *PREVIOUS))
    moved = {
        name: (then.get(name, "—"), now.get(name, "—"))
        for name in set(now) | set(then)
        if then.get(name, "—") != now.get(name, "—")
    }
    assert moved["贡献三有限公司"] == ("A", "B")  # one client in two tiers across the periods
    assert moved["贡献七有限公司"] == ("B", "—")
    got = {r["client"]: (r["before"], r["now"]) for r in section(result, "Clients that changed tier").rows}
    assert got == moved
    counts: dict = {}
    for pair in moved.values():
        counts[pair] = counts.get(pair, 0) + 1
    assert {(r["before"], r["now"]): r["clients"] for r in section(result, "Tier movement").rows} == counts


def test_an_empty_period(orders, db_session, app):
    from reports.contribution import REPORT
    from reports.framework import parse
    from tests.factories import user

    with app.test_request_context():
        values, _ = parse(REPORT.fields, {"date_from": "2020-01-01", "date_to": "2020-01-31"}, END)
        result = REPORT.run(db_session, user(db_session, "executive"), values)
    assert section(result, "Clients ranked").rows == []
    assert [r["clients"] for r in section(result, "ABC tiers").rows] == [0, 0, 0]
    assert section(result, "ABC tiers").totals["amount"] == 0


# ------------------------------------------------------------------- page and scope
def ranked_rows(html: str) -> dict:
    """client → order total text, from the ranking table of the page."""
    table = html[html.index('id="report-table-2"') :]
    table = table[: table.index("</table>")]
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table, re.S):
        cells = re.findall(r'data-key="(\w+)">(.*?)</td>', row, re.S)
        values = {key: re.sub(r"<[^>]+>", "", text).strip() for key, text in cells}
        if values.get("client"):
            rows[values["client"]] = values
    return rows


def test_account_manager_sees_only_own_figures_on_page_and_downloads(orders, client_as):
    web = client_as("account_manager")
    html = web.get(f"{URL}?{PERIOD}&lang=en").get_data(as_text=True)
    want = sums(orders["orders"], START, END, owners={"account_manager"})
    assert set(ranked_rows(html)) == set(want)
    assert "贡献五有限公司" not in html
    data = web.get(f"{URL}?{PERIOD}&format=csv&lang=en").data.decode("utf-8-sig")
    assert "贡献一有限公司" in data and "贡献五有限公司" not in data
    grand = sum(want.values())
    assert f"{grand:.2f}" in data


def test_the_owner_filter_keeps_that_owner_s_clients(orders, client_as, db_session):
    from tests.factories import user

    owner = user(db_session, "am_other")
    html = client_as("admin").get(f"{URL}?{PERIOD}&owner={owner.id}&lang=en").get_data(as_text=True)
    assert set(ranked_rows(html)) == set(sums(orders["orders"], START, END, owners={"am_other"}))


def test_page_has_chart_filters_and_links(orders, client_as):
    html = client_as("executive").get(f"{URL}?{PERIOD}&lang=en").get_data(as_text=True)
    assert "data-crm-chart" in html and "crm-chart-option" in html
    assert "Generated at" in html and START.isoformat() in html
    assert 'name="cut_a" value="80"' in html and 'name="cut_b" value="15"' in html
    assert html.count('class="crm-drill"') >= 6
    for fmt in ("xlsx", "pdf", "csv"):
        assert f'id="download-{fmt}"' in html


def test_invalid_cut_offs_are_named_and_bounded(client_as):
    html = client_as("executive").get(f"{URL}?cut_a=90&cut_b=30&lang=en").get_data(as_text=True)
    assert "tier B was reduced to 10" in html
    html = client_as("executive").get(f"{URL}?cut_a=abc&lang=en").get_data(as_text=True)
    assert "is not a valid choice" in html
    assert client_as("executive").get(f"{URL}?cut_a=abc&format=csv").status_code == 400


def numbers_on_list(web, url) -> set[str]:
    html = web.get(url + "&lang=en").get_data(as_text=True)
    return set(re.findall(r"DD-T-\d{5}", html))


@pytest.mark.parametrize("username", ["executive", "account_manager"])
def test_drill_through_lists_exactly_the_orders_behind_each_figure(orders, client_as, username):
    web = client_as(username)
    html = web.get(f"{URL}?{PERIOD}&lang=en").get_data(as_text=True)
    owners = {"account_manager"} if username == "account_manager" else None
    behind = counted(orders["orders"], START, END, owners)
    table = html[html.index('id="report-table-2"') :]
    table = table[: table.index("</table>")]
    links = re.findall(r'<td class="[^"]*" data-key="amount"><a href="([^"]+)"', table)
    names = [m for m in re.findall(r'data-key="client">([^<]+)</td>', table)]
    assert len(links) == len(names) == len(behind)
    for name, link in zip(names, links, strict=True):
        assert numbers_on_list(web, link.replace("&amp;", "&")) == behind[name][1], name
    # the total row's link: every order counted
    total = html[html.index('id="report-table-1"') :]
    total = total[total.index("<tfoot>") : total.index("</tfoot>")]
    link = re.search(r'data-key="amount"><a href="([^"]+)"', total).group(1).replace("&amp;", "&")
    assert numbers_on_list(web, link) == set().union(*(numbers for _, numbers in behind.values()))
    # the moved clients' figures of either period
    moved = html[html.index('id="report-table-4"') :]
    moved = moved[: moved.index("</table>")]
    before = counted(orders["orders"], *PREVIOUS, owners)
    checked = 0
    for row in re.findall(r"<tr>(.*?)</tr>", moved, re.S):
        found = re.search(r'data-key="client">([^<]+)</td>', row)
        if found is None:  # the heading
            continue
        name = found.group(1)
        for key, want in (("amount_before", before), ("amount", behind)):
            link = re.search(rf'data-key="{key}"><a href="([^"]+)"', row)
            assert (link is not None) == (name in want), (name, key)
            if link:
                assert numbers_on_list(web, link.group(1).replace("&amp;", "&")) == want[name][1], (name, key)
                checked += 1
    assert checked >= 2


def test_three_downloads_carry_identical_figures(orders, client_as):
    from openpyxl import load_workbook
    from pypdf import PdfReader

    web = client_as("executive")
    want = sums(orders["orders"], START, END)
    got = {fmt: web.get(f"{URL}?{PERIOD}&format={fmt}&lang=en") for fmt in ("csv", "xlsx", "pdf")}
    for fmt, response in got.items():
        assert response.status_code == 200
        assert f"contribution-{START:%Y%m%d}-{END:%Y%m%d}.{fmt}" in response.headers["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(got["csv"].data.decode("utf-8-sig"))))
    header = next(line for line in lines if line[:2] == ["Rank", "Client"])
    at = lines.index(header)
    csv_rows = {line[1]: Decimal(line[3]) for line in lines[at + 1 : at + 1 + len(want)]}
    assert csv_rows == want
    assert any(line and line[0] == "Generated at" for line in lines) and ["From", START.isoformat()] in lines
    sheet = load_workbook(io.BytesIO(got["xlsx"].data)).worksheets[0]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    at = next(i for i, row in enumerate(values) if row[:2] == ["Rank", "Client"])
    xlsx_rows = {row[1]: Decimal(str(row[3])).quantize(Decimal("0.01")) for row in values[at + 1 : at + 1 + len(want)]}
    assert xlsx_rows == want
    assert any(row[0] == "Generated at" for row in values)
    text = "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(got["pdf"].data)).pages)
    for name, total in want.items():
        assert name in text and f"{total:,.2f}" in text
    assert "Generated at" in text


# ------------------------------------------------------------------------- rights
@pytest.mark.parametrize("username", ["clerk", "finance", "service", "marketing"])
def test_403_without_the_right_and_no_menu_entry(client_as, username):
    web = client_as(username)
    assert web.get(URL).status_code == 403
    assert web.get(f"{URL}?format=csv").status_code == 403
    assert 'href="/admin/reports/contribution/"' not in web.get("/admin/?lang=en").get_data(as_text=True)


@pytest.mark.parametrize("username", ["admin", "executive", "sales_director", "account_manager"])
def test_seeded_holders_see_it_in_the_menu(client_as, username):
    web = client_as(username)
    assert web.get(URL).status_code == 200
    assert 'href="/admin/reports/contribution/"' in web.get("/admin/?lang=en").get_data(as_text=True)
