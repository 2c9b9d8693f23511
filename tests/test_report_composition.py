"""客户构成分析 /admin/reports/composition/ (SPEC §7.2): counts and shares by each dimension
against an independent count, provinces then cities, scope, drill-through to the client
list (its rows are exactly the clients counted) and the downloads."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from decimal import Decimal

import pytest

from models.lookups import Area, ClientType, RevenueBand, StarRating
from tests.factories import lookup, make_client

URL = "/admin/reports/composition/"
NAME = re.compile(r"构成\d+号有限公司")


@pytest.fixture
def clients(db_session):
    """Nine clients over types, stars, areas (广东: 广州 and 深圳; 北京), revenue bands; two
    owners; one deleted (not counted)."""
    s = db_session
    vip, normal = lookup(s, ClientType, "重要客户"), lookup(s, ClientType, "普通客户")
    five = lookup(s, StarRating, "五星")
    band = lookup(s, RevenueBand, "100万以下")
    guangzhou, shenzhen, beijing = (lookup(s, Area, name) for name in ("广州", "深圳", "北京"))
    spec = [  # owner, type, star, area, band
        ("account_manager", vip, five, guangzhou, band),
        ("account_manager", vip, None, guangzhou, None),
        ("account_manager", normal, five, shenzhen, band),
        ("account_manager", None, None, beijing, None),
        ("am_other", vip, five, shenzhen, None),
        ("am_other", normal, None, beijing, band),
        ("am_other", normal, None, beijing, None),
        ("am_other", None, five, guangzhou, None),
    ]
    made = []
    for n, (owner, kind, star, area, revenue) in enumerate(spec, start=1):
        made.append(
            make_client(s, owner, name=f"构成{n}号有限公司", type=kind, star=star, area=area, revenue_band=revenue)
        )
    gone = make_client(s, "account_manager", name="构成99号有限公司", type=vip, area=guangzhou)
    gone.is_deleted = True
    s.commit()
    return made


def expected(clients, key, owners=None) -> Counter:
    return Counter(key(c) for c in clients if owners is None or c.owner.username in owners)


def page_rows(html: str) -> dict:
    """value → (clients, share, drill link) from the report table."""
    table = html[html.index('id="report-table-1"') :]
    table = table[table.index("<tbody>") : table.index("</tbody>")]
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table, re.S):
        value = re.search(r'data-key="value">([^<]*)</td>', row).group(1)
        count = re.search(r'data-key="clients"><a href="([^"]+)" class="crm-drill">(\d+)</a>', row)
        share = re.search(r'data-key="share">([^<]*)</td>', row).group(1)
        rows[value] = (int(count.group(2)), share, count.group(1).replace("&amp;", "&"))
    return rows


def names_on_list(web, url) -> set[str]:
    return set(NAME.findall(web.get(url + "&lang=en").get_data(as_text=True)))


DIMENSIONS = {
    "type": lambda c: c.type.name if c.type else "(none)",
    "star": lambda c: c.star.name if c.star else "(none)",
    "revenue_band": lambda c: c.revenue_band.name if c.revenue_band else "(none)",
    "owner": lambda c: c.owner.name,
    "area": lambda c: "广东" if c.area.name in ("广州", "深圳") else c.area.name,
}


@pytest.mark.parametrize("dimension", sorted(DIMENSIONS))
def test_counts_shares_and_drill_through_per_dimension(clients, client_as, dimension):
    web = client_as("executive")
    html = web.get(f"{URL}?dimension={dimension}&lang=en").get_data(as_text=True)
    want = expected(clients, DIMENSIONS[dimension])
    rows = page_rows(html)
    assert {value: count for value, (count, _, _) in rows.items()} == dict(want)
    total = sum(want.values())
    for value, (count, share, link) in rows.items():
        assert share == f"{Decimal(count * 100) / total:.2f}%"
        behind = {c.name for c in clients if DIMENSIONS[dimension](c) == value}
        assert names_on_list(web, link) == behind, value
    assert "data-crm-chart" in html and '"url":' in html  # the chart's bars drill through too


def test_a_province_breaks_down_into_its_cities(clients, client_as, db_session):
    web = client_as("executive")
    guangdong = lookup(db_session, Area, "广东")
    html = web.get(f"{URL}?dimension=area&area={guangdong.id}&lang=en").get_data(as_text=True)
    rows = page_rows(html)
    assert {value: count for value, (count, _, _) in rows.items()} == {"广州": 3, "深圳": 2}
    for value, (_, _, link) in rows.items():
        assert names_on_list(web, link) == {c.name for c in clients if c.area.name == value}


def test_account_manager_sees_only_own_clients_downloads_too(clients, client_as):
    web = client_as("account_manager")
    rows = page_rows(web.get(f"{URL}?dimension=type&lang=en").get_data(as_text=True))
    want = expected(clients, DIMENSIONS["type"], owners={"account_manager"})
    assert {value: count for value, (count, _, _) in rows.items()} == dict(want)
    for _, _, link in rows.values():
        assert names_on_list(web, link) <= {c.name for c in clients if c.owner.username == "account_manager"}
    data = web.get(f"{URL}?dimension=type&format=csv&lang=en").data.decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(data)))
    assert ["Total", str(sum(want.values())), "100.00"] in lines


def test_owner_and_period_filters(clients, client_as, db_session):
    from tests.factories import user

    web = client_as("executive")
    other = user(db_session, "am_other")
    rows = page_rows(web.get(f"{URL}?dimension=star&owner={other.id}&lang=en").get_data(as_text=True))
    want = expected(clients, DIMENSIONS["star"], owners={"am_other"})
    assert {value: count for value, (count, _, _) in rows.items()} == dict(want)
    for value, (_, _, link) in rows.items():
        assert names_on_list(web, link) == {
            c.name for c in clients if c.owner.username == "am_other" and DIMENSIONS["star"](c) == value
        }
    html = web.get(f"{URL}?dimension=star&date_from=2001-01-01&date_to=2001-12-31&lang=en").get_data(as_text=True)
    assert "No clients match these filters." in html
    html = web.get(f"{URL}?dimension=star&date_from=2001-01-01&date_to=2999-01-01&lang=en").get_data(as_text=True)
    rows = page_rows(html)
    assert sum(count for count, _, _ in rows.values()) == len(clients)
    for value, (_, _, link) in rows.items():
        assert names_on_list(web, link) == {c.name for c in clients if DIMENSIONS["star"](c) == value}


def test_three_downloads_carry_identical_figures(clients, client_as):
    from openpyxl import load_workbook
    from pypdf import PdfReader

    web = client_as("executive")
    want = expected(clients, DIMENSIONS["type"])
    got = {fmt: web.get(f"{URL}?dimension=type&format={fmt}&lang=en") for fmt in ("csv", "xlsx", "pdf")}
    lines = list(csv.reader(io.StringIO(got["csv"].data.decode("utf-8-sig"))))
    at = lines.index(["Client type", "Number of clients", "Share"])
    assert {line[0]: int(line[1]) for line in lines[at + 1 : at + 1 + len(want)]} == dict(want)
    assert ["Dimension", "Client type"] in lines and any(line and line[0] == "Generated at" for line in lines)
    sheet = load_workbook(io.BytesIO(got["xlsx"].data)).worksheets[0]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    at = values.index(["Client type", "Number of clients", "Share"])
    assert {row[0]: row[1] for row in values[at + 1 : at + 1 + len(want)]} == dict(want)
    text = "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(got["pdf"].data)).pages)
    assert "Generated at" in text and "重要客户" in text and "Client type" in text


@pytest.mark.parametrize("username", ["clerk", "finance", "service", "marketing"])
def test_403_without_the_right(client_as, username):
    assert client_as(username).get(URL).status_code == 403
