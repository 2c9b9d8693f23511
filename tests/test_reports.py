"""Reports (SPEC §7): the receivables report /admin/reports/receivables/ (§7.6) with its
XLSX/PDF/CSV downloads, and the statement actions (customer statement 对账单 on clients,
receivables statement on contracts).

Expected figures are computed here, in Python over the ORM objects the test built
(never with the report's query). Organisation (tests/conftest.py): 销售部 ⊃ {销售一部,
销售二部}; account_manager and am_team are in 销售一部, am_other in 销售二部. Seeded
rights: report.receivables for admin, executive and finance only.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from models.auth import Right, Role
from models.customers import Client, Contract
from models.finance import ContractReceipt, Invoice, Receipt
from models.lookups import Area, InvoiceType, PaymentMethod
from tests.conftest import count_queries
from tests.factories import lookup, make_client, make_contract, user

URL = "/admin/reports/receivables/"
AS_OF = date(2025, 6, 30)
RECEIVABLE = ("approved", "signed", "archived")
BUCKETS = ("not_due", "days_0_30", "days_31_60", "days_61_90", "days_over_90")
MONEY_COLUMNS = ("amount", "received", "invoiced", "balance") + BUCKETS
_seq = itertools.count(1)


# ------------------------------------------------------------------------ builders
def make_receipt(session, client, amount, received_on, allocations=(), deleted=False):
    n = next(_seq)
    receipt = Receipt(
        number=f"HK-{n:05d}",
        client=client,
        amount=Decimal(amount),
        received_on=received_on,
        method_id=lookup(session, PaymentMethod).id,
        recorded_by_id=user(session, "finance").id,
        payer="付款人",
    )
    receipt.allocations = [ContractReceipt(contract=c, amount=Decimal(a)) for c, a in allocations]
    if deleted:
        receipt.soft_delete(None)
    session.add(receipt)
    session.flush()
    return receipt


def make_invoice(session, contract, amount, issued_on, rate=13, status="issued"):
    n = next(_seq)
    amount = Decimal(amount)
    tax = (amount * rate / 100).quantize(Decimal("0.01"))
    invoice = Invoice(
        contract=contract,
        type_id=lookup(session, InvoiceType).id,
        number=f"FP-{n:06d}",
        amount=amount,
        tax_rate=rate,
        tax=tax,
        total=amount + tax,
        issued_on=issued_on,
        status=status,
    )
    session.add(invoice)
    session.flush()
    return invoice


def grant(session, role_code, right_code):
    role = session.execute(select(Role).where(Role.code == role_code)).scalar_one()
    right = session.execute(select(Right).where(Right.code == right_code)).scalar_one()
    if right not in role.rights:
        role.rights.append(right)


# ----------------------------------------------------------- independent expectation
def bucket_of(days: int) -> str:
    if days < 0:
        return "not_due"
    if days <= 30:
        return "days_0_30"
    if days <= 60:
        return "days_31_60"
    if days <= 90:
        return "days_61_90"
    return "days_over_90"


def expected(session, as_of=AS_OF, visible_owners=None):
    """contract number → its figures, and the totals, computed in Python from the ORM
    objects (the rules of SPEC §7.6 as the test reads them)."""
    session.expire_all()
    receipts = session.execute(select(Receipt)).scalars().all()
    invoices = session.execute(select(Invoice)).scalars().all()
    rows = {}
    for contract in session.execute(select(Contract)).scalars():
        if contract.is_deleted or contract.status not in RECEIVABLE:
            continue
        if visible_owners is not None and contract.client.owner.username not in visible_owners:
            continue
        received = sum(
            (
                a.amount
                for r in receipts
                if not r.is_deleted and r.received_on <= as_of
                for a in r.allocations
                if a.contract_id == contract.id
            ),
            Decimal("0.00"),
        )
        invoiced = sum(
            (
                i.total
                for i in invoices
                if i.contract_id == contract.id and i.status != "voided" and i.issued_on <= as_of
            ),
            Decimal("0.00"),
        )
        balance = contract.amount - received
        days = (as_of - contract.starts_on).days
        row = {
            "amount": contract.amount,
            "received": received,
            "invoiced": invoiced,
            "balance": balance,
            "days_past_due": days,
            "bucket": bucket_of(days),
            "client": contract.client.name,
        }
        row.update({b: (balance if b == row["bucket"] else Decimal("0.00")) for b in BUCKETS})
        rows[contract.number] = row
    totals = {key: sum((r[key] for r in rows.values()), Decimal("0.00")) for key in MONEY_COLUMNS}
    totals["contracts"] = len(rows)
    return rows, totals


# ------------------------------------------------------------------------- data set
@pytest.fixture
def ledger(db_session):
    """Two clients of account_manager and am_team with contracts in every state,
    receipts (one deleted, one after the as-of date), invoices (one voided, one later)."""
    s = db_session
    mine = make_client(s, "account_manager", name="北京应收科技有限公司")
    team = make_client(s, "am_team", name="上海账龄贸易有限公司", area=lookup(s, Area, "上海"))
    c1 = make_contract(s, mine, "100000.00", AS_OF - timedelta(days=10), "approved", number="YS-A1")
    c2 = make_contract(s, mine, "50000.50", AS_OF - timedelta(days=45), "signed", number="YS-A2")
    c3 = make_contract(s, mine, "8000.00", AS_OF + timedelta(days=5), "archived", number="YS-A3")
    make_contract(s, mine, "999.00", AS_OF - timedelta(days=5), "draft", number="YS-DRAFT")
    make_contract(s, mine, "777.00", AS_OF - timedelta(days=5), "terminated", number="YS-TERM")
    make_contract(s, mine, "666.00", AS_OF - timedelta(days=5), "submitted", number="YS-SUB")
    gone = make_contract(s, mine, "555.00", AS_OF - timedelta(days=5), "approved", number="YS-DEL")
    gone.soft_delete(None)
    t1 = make_contract(s, team, "30000.00", AS_OF - timedelta(days=120), "approved", number="YS-B1")
    make_contract(s, team, "12345.67", AS_OF - timedelta(days=75), "signed", number="YS-B2")
    make_receipt(s, mine, "60000.00", AS_OF - timedelta(days=3), [(c1, "40000.00"), (c2, "20000.00")])
    make_receipt(s, mine, "5000.00", AS_OF - timedelta(days=2), [(c1, "5000.00")], deleted=True)
    make_receipt(s, mine, "1000.00", AS_OF + timedelta(days=1), [(c3, "1000.00")])  # after the as-of date
    make_receipt(s, team, "10000.00", AS_OF - timedelta(days=30), [(t1, "10000.00")])
    make_invoice(s, c1, "50000.00", AS_OF - timedelta(days=9))
    make_invoice(s, c1, "10000.00", AS_OF - timedelta(days=8), status="voided")
    make_invoice(s, c2, "20000.00", AS_OF - timedelta(days=20), rate=6)
    make_invoice(s, t1, "5000.00", AS_OF + timedelta(days=3))  # after the as-of date
    s.commit()
    return {"mine": mine.id, "team": team.id, "c1": c1.id, "t1": t1.id, "c2": c2.id}


def report_rows(session, as_of=AS_OF, username="finance", **filters):
    from reports.receivables import ReceivablesFilters, receivables_report

    report = receivables_report(session, ReceivablesFilters(as_of=as_of, **filters), user(session, username))
    return {row["number"]: dict(row) for row in report.rows}, dict(report.totals)


# ------------------------------------------------------------------------- figures
def test_figures_equal_an_independent_calculation(ledger, db_session):
    rows, totals = report_rows(db_session)
    want_rows, want_totals = expected(db_session)
    assert set(rows) == set(want_rows) == {"YS-A1", "YS-A2", "YS-A3", "YS-B1", "YS-B2"}
    for number, want in want_rows.items():
        got = rows[number]
        for key in MONEY_COLUMNS + ("days_past_due", "bucket"):
            assert got[key] == want[key], (number, key)
    for key in MONEY_COLUMNS:
        assert totals[key] == want_totals[key], key
    assert totals["contracts"] == 5
    # spelled out once, so the expectation itself is checked
    assert rows["YS-A1"]["received"] == Decimal("40000.00")  # the deleted receipt does not count
    assert rows["YS-A1"]["invoiced"] == Decimal("56500.00")  # 50000 + 13 %, voided one not counted
    assert rows["YS-A3"]["received"] == Decimal("0.00") and rows["YS-A3"]["bucket"] == "not_due"
    assert rows["YS-B1"]["invoiced"] == Decimal("0.00")  # issued after the as-of date
    assert totals["balance"] == Decimal("100000.00") + Decimal("50000.50") + Decimal("8000.00") + Decimal(
        "30000.00"
    ) + Decimal("12345.67") - Decimal("70000.00")


def test_aging_buckets_at_their_boundaries(db_session):
    s = db_session
    client = make_client(s, "account_manager", name="边界测试有限公司")
    days = [-1, 0, 1, 30, 31, 60, 61, 90, 91, 365]
    for d in days:
        make_contract(s, client, f"{1000 + d}.00", AS_OF - timedelta(days=d), number=f"AGE{d:+04d}")
    s.commit()
    rows, totals = report_rows(s)
    want = {
        -1: "not_due",
        0: "days_0_30",
        1: "days_0_30",
        30: "days_0_30",
        31: "days_31_60",
        60: "days_31_60",
        61: "days_61_90",
        90: "days_61_90",
        91: "days_over_90",
        365: "days_over_90",
    }
    for d in days:
        row = rows[f"AGE{d:+04d}"]
        assert row["days_past_due"] == d
        assert row["bucket"] == want[d], d
        assert row[want[d]] == Decimal(f"{1000 + d}.00")
        assert sum(row[b] for b in BUCKETS) == row["balance"]
    for bucket in BUCKETS:
        assert totals[bucket] == sum(Decimal(f"{1000 + d}.00") for d in days if want[d] == bucket)


def test_filters_narrow_the_rows(ledger, db_session):
    s = db_session
    department = user(s, "am_team").department_id
    by = lambda **f: set(report_rows(s, **f)[0])  # noqa: E731
    assert by(owner_id=user(s, "am_team").id) == {"YS-B1", "YS-B2"}
    assert by(due_from=AS_OF - timedelta(days=50), due_to=AS_OF) == {"YS-A1", "YS-A2"}
    assert by(area_id=lookup(s, Area, "上海").id) == {"YS-B1", "YS-B2"}
    beijing = lookup(s, Area, "北京")
    assert by(area_id=beijing.id) == {"YS-A1", "YS-A2", "YS-A3"}
    assert by(department_id=department) == {"YS-A1", "YS-A2", "YS-A3", "YS-B1", "YS-B2"}
    parent = s.execute(select(Area).where(Area.name == "广东")).scalar_one()  # a province: none here
    assert by(area_id=parent.id) == set()


def test_province_filter_includes_its_cities(db_session):
    s = db_session
    city = s.execute(select(Area).where(Area.name == "深圳")).scalar_one()
    client = make_client(s, "account_manager", name="深圳城市有限公司", area=city)
    make_contract(s, client, "100.00", AS_OF, number="YS-SZ")
    s.commit()
    rows, _ = report_rows(s, area_id=city.parent_id)
    assert set(rows) == {"YS-SZ"}


# --------------------------------------------------------------------- the page
def test_page_shows_figures_filters_chart_and_rule(ledger, client_as, db_session):
    response = client_as("finance").get(f"{URL}?as_of={AS_OF}&lang=en")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    _, totals = expected(db_session)
    assert "YS-A1" in html and "YS-DRAFT" not in html and "YS-TERM" not in html and "YS-DEL" not in html
    assert f"¥{totals['balance']:,.2f}" in html
    assert (
        '<svg xmlns="http://www.w3.org/2000/svg" class="crm-chart"' in html
        and "<script>" not in html.split('<div class="crm-report-chart"')[1].split("</div>")[0]
    )
    assert "contract start date" in html  # the due-date rule is stated
    assert AS_OF.isoformat() in html and "Generated at" in html
    for fmt in ("xlsx", "pdf", "csv"):
        assert f'id="download-{fmt}" href="/admin/reports/receivables/?as_of={AS_OF}&amp;format={fmt}"' in html


def _page_size(session, rows: int) -> None:
    from sqlalchemy import update

    from models.auth import SystemConfig

    session.execute(update(SystemConfig).where(SystemConfig.name == "report_page_rows").values(value=str(rows)))
    session.commit()


def _table_rows(html: str) -> list[dict[str, str]]:
    """The body rows of the report table: column key → cell text."""
    table = html[html.index('id="report-table"') :]
    body = table[table.index("<tbody>") : table.index("</tbody>")]
    return [
        {key: re.sub(r"<[^>]+>", "", text).strip() for key, text in re.findall(r'data-key="(\w+)">(.*?)</td>', row)}
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def _footer(html: str) -> str:
    table = html[html.index('id="report-table"') :]
    return table[table.index("<tfoot>") : table.index("</tfoot>")]


def test_the_page_is_paged_with_the_totals_of_every_row_on_every_page(ledger, client_as, db_session):
    _page_size(db_session, 2)
    web = client_as("finance")
    _, totals = expected(db_session)
    balance = f"¥{totals['balance']:,.2f}"
    seen = []
    for page in (1, 2, 3):
        html = web.get(f"{URL}?as_of={AS_OF}&lang=en" + (f"&page={page}" if page > 1 else "")).get_data(as_text=True)
        rows = _table_rows(html)
        assert len(rows) == (2 if page < 3 else 1), page
        seen += [row["number"] for row in rows]
        assert balance in _footer(html)  # the totals of all five contracts, on every page
        assert f'data-key="balance">{balance}</td>' in html.split('id="report-totals"')[1].split("</table>")[0]
        assert f"of 5 (page {page} of 3)" in html
    assert sorted(seen) == ["YS-A1", "YS-A2", "YS-A3", "YS-B1", "YS-B2"]  # each row once
    # pager links keep the filters, and a page beyond the last shows the last
    html = web.get(f"{URL}?as_of={AS_OF}&owner={user(db_session, 'account_manager').id}&lang=en").get_data(as_text=True)
    assert 'id="report-pager-next"' in html
    next_url = re.search(r'id="report-pager-next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert f"as_of={AS_OF}" in next_url and f"owner={user(db_session, 'account_manager').id}" in next_url
    assert "page=2" in next_url
    second = web.get(next_url + "&lang=en").get_data(as_text=True)
    assert [row["number"] for row in _table_rows(second)] == ["YS-A3"]  # of YS-A1, YS-A2, YS-A3 by due date
    assert "of 3 (page 2 of 2)" in second
    last = web.get(f"{URL}?as_of={AS_OF}&page=99&lang=en").get_data(as_text=True)
    assert "page 3 of 3" in last and len(_table_rows(last)) == 1
    assert web.get(f"{URL}?as_of={AS_OF}&page=x&lang=en").status_code == 200
    # the downloads hold every row
    csv_rows = parse_csv(web.get(f"{URL}?as_of={AS_OF}&page=2&format=csv&lang=en").data.decode("utf-8-sig"))["rows"]
    assert len(csv_rows) == 5


def test_days_overdue_only_for_items_past_due(ledger, client_as, db_session):
    web = client_as("finance")
    html = web.get(f"{URL}?as_of={AS_OF}&lang=en").get_data(as_text=True)
    days = {row["number"]: row["days_overdue"] for row in _table_rows(html)}
    assert days == {"YS-B1": "120", "YS-B2": "75", "YS-A2": "45", "YS-A1": "10", "YS-A3": ""}  # A3: due in 5 days
    assert not any(text.startswith("-") or text.startswith("−") for text in days.values())
    parsed = parse_csv(web.get(f"{URL}?as_of={AS_OF}&format=csv&lang=en").data.decode("utf-8-sig"))
    at = parsed["header"].index("Days past due")
    in_csv = {line[0]: line[at] for line in parsed["lines"] if line and line[0].startswith("YS-")}
    assert in_csv == {"YS-B1": "120", "YS-B2": "75", "YS-A2": "45", "YS-A1": "10", "YS-A3": ""}
    # due today: not yet past due, no figure either
    make_contract(db_session, db_session.get(Client, ledger["mine"]), "10.00", AS_OF, number="YS-TODAY")
    db_session.commit()
    html = web.get(f"{URL}?as_of={AS_OF}&lang=en").get_data(as_text=True)
    assert {row["number"]: row["days_overdue"] for row in _table_rows(html)}["YS-TODAY"] == ""


def test_menu_shows_reports_only_to_holders(client_as):
    page = client_as("finance").get("/admin/?lang=en").get_data(as_text=True)
    assert 'href="/admin/reports/receivables/"' in page
    page = client_as("clerk").get("/admin/?lang=en").get_data(as_text=True)
    assert 'href="/admin/reports/receivables/"' not in page


@pytest.mark.parametrize("username", ["clerk", "service", "marketing"])
def test_403_without_the_right(client_as, username):
    web = client_as(username)
    assert web.get(URL).status_code == 403
    assert web.get(f"{URL}?format=csv").status_code == 403


def test_anonymous_goes_to_login(app):
    response = app.test_client().get(f"{URL}?format=pdf")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert "reports%2Freceivables" in response.headers["Location"]


@pytest.mark.parametrize("username", ["admin", "executive", "finance", "sales_director", "account_manager"])
def test_seeded_holders_may_open_it(client_as, username):
    assert client_as(username).get(URL).status_code == 200


def test_scope_account_manager_sees_only_own_clients(ledger, client_as, db_session):
    grant(db_session, "account_manager", "report.receivables")
    db_session.commit()
    web = client_as("account_manager")
    html = web.get(f"{URL}?as_of={AS_OF}").get_data(as_text=True)
    assert "YS-A1" in html and "北京应收科技有限公司" in html
    assert "YS-B1" not in html and "上海账龄贸易有限公司" not in html
    csv_text = web.get(f"{URL}?as_of={AS_OF}&format=csv&lang=en").data.decode("utf-8-sig")
    assert "YS-A1" in csv_text and "YS-B1" not in csv_text
    figures = parse_csv(csv_text)
    _, want = expected(db_session, visible_owners={"account_manager"})
    assert figures["totals"]["balance"] == want["balance"]


def test_invalid_filters_are_named_and_downloads_refuse_them(client_as):
    web = client_as("finance")
    html = web.get(f"{URL}?due_from=2025-13-01&owner=abc&lang=en").get_data(as_text=True)
    assert "is not a date" in html and "2025-13-01" in html and "is not a valid choice" in html
    links = re.findall(r'id="download-\w+" href="([^"]+)"', html)
    assert len(links) == 3 and not any("2025-13-01" in link or "abc" in link for link in links)
    assert web.get(f"{URL}?due_from=2025-13-01&format=xlsx").status_code == 400
    assert web.get(f"{URL}?format=docx").status_code == 400


# ------------------------------------------------------------------- downloads
def parse_csv(text: str) -> dict:
    """contract number → figures, and the totals row, from the report CSV."""
    lines = list(csv.reader(io.StringIO(text)))
    header_at = next(i for i, line in enumerate(lines) if len(line) > 10)
    header = lines[header_at]
    index = column_index(header)
    rows, totals = {}, None
    for line in lines[header_at + 1 :]:
        if len(line) != len(header):
            continue
        figures = {key: Decimal(line[i]) for key, i in index.items()}
        if line[0] == "Total":
            totals = figures
        else:
            rows[line[0]] = figures
    return {"header": header, "rows": rows, "totals": totals, "lines": lines}


def column_index(header) -> dict:
    """Money column key → its index, by the English labels (the tests ask with lang=en)."""
    labels = {
        "Contract amount": "amount",
        "Received": "received",
        "Invoiced": "invoiced",
        "Balance": "balance",
        "Not yet due": "not_due",
        "0–30 days": "days_0_30",
        "31–60 days": "days_31_60",
        "61–90 days": "days_61_90",
        "> 90 days": "days_over_90",
    }
    return {labels[label]: index for index, label in enumerate(header) if label in labels}


def parse_xlsx(data: bytes) -> dict:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data))
    sheet = book.worksheets[0]
    values = [[cell for cell in row] for row in sheet.iter_rows()]
    header_at = next(i for i, row in enumerate(values) if sum(1 for c in row if c.value is not None) > 10)
    header = [c.value for c in values[header_at]]
    index = column_index(header)
    rows, totals = {}, None
    for row in values[header_at + 1 :]:
        if row[0].value is None:
            continue
        figures = {}
        for key, i in index.items():
            cell = row[i]
            assert isinstance(cell.value, (int, float)), (key, cell.value)  # numbers, not strings
            assert "¥" in cell.number_format and "#,##0.00" in cell.number_format
            figures[key] = Decimal(str(cell.value)).quantize(Decimal("0.01"))
        if row[0].value == "Total":
            totals = figures
        else:
            rows[row[0].value] = figures
            due = row[header.index("Due date")].value
            assert isinstance(due, datetime | date), due  # dates are dates
    meta = {str(r[0].value): r[1].value for r in values[:header_at] if len(r) > 1 and r[0].value}
    return {"rows": rows, "totals": totals, "meta": meta}


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def test_three_downloads_carry_identical_figures(ledger, client_as, db_session):
    web = client_as("finance")
    want_rows, want_totals = expected(db_session)
    got = {fmt: web.get(f"{URL}?as_of={AS_OF}&format={fmt}&lang=en") for fmt in ("csv", "xlsx", "pdf")}
    for fmt, response in got.items():
        assert response.status_code == 200, fmt
        assert response.headers["Content-Disposition"].startswith("attachment")
        assert f"receivables-{AS_OF:%Y%m%d}.{fmt}" in response.headers["Content-Disposition"]
    assert got["csv"].data.startswith("\ufeff".encode("utf-8"))  # UTF-8 with BOM
    assert got["csv"].mimetype == "text/csv"
    assert got["xlsx"].mimetype.endswith("spreadsheetml.sheet") and got["pdf"].mimetype == "application/pdf"

    csv_figures = parse_csv(got["csv"].data.decode("utf-8-sig"))
    xlsx_figures = parse_xlsx(got["xlsx"].data)
    for figures in (csv_figures, xlsx_figures):
        assert set(figures["rows"]) == set(want_rows)
        for number, want in want_rows.items():
            assert figures["rows"][number] == {k: want[k] for k in MONEY_COLUMNS}, number
        assert figures["totals"] == {k: want_totals[k] for k in MONEY_COLUMNS}
    text = pdf_text(got["pdf"].data)
    for number, want in want_rows.items():
        assert number in text
        for key in ("amount", "received", "invoiced", "balance"):
            assert f"{want[key]:,.2f}" in text, (number, key)
    for key in MONEY_COLUMNS:
        assert f"{want_totals[key]:,.2f}" in text, key
    assert "北京应收科技有限公司" in text  # Chinese in the PDF, with the embedded font

    # the filters used and the generation time on every download
    csv_text = got["csv"].data.decode("utf-8-sig")
    assert re.search(r"^Generated at,\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \(Asia/Shanghai\)", csv_text, re.M)
    assert "Aging as of" in csv_text and AS_OF.isoformat() in csv_text
    assert re.match(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", xlsx_figures["meta"]["Generated at"])
    assert xlsx_figures["meta"]["Aging as of"] == AS_OF.isoformat()
    assert re.search(r"Generated at: \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", text)
    assert f"Aging as of: {AS_OF.isoformat()}" in text


def test_downloads_show_the_filters_used(ledger, client_as, db_session):
    web = client_as("finance")
    owner = user(db_session, "am_team")
    query = f"{URL}?as_of={AS_OF}&owner={owner.id}&due_from=2025-01-01&lang=en"
    text = pdf_text(web.get(query + "&format=pdf").data)
    assert f"Owner: {owner.name}" in text and "2025-01-01" in text
    csv_text = web.get(query + "&format=csv").data.decode("utf-8-sig")
    assert owner.name in csv_text and "YS-A1" not in csv_text and "YS-B1" in csv_text
    meta = parse_xlsx(web.get(query + "&format=xlsx").data)["meta"]
    assert meta["Owner"] == owner.name


def test_a_fixed_number_of_sql_statements(app, client_as, db_session):
    web = client_as("finance")
    client = make_client(db_session, "account_manager", name="计数测试有限公司")

    def add(n):
        for _ in range(n):
            contract = make_contract(db_session, client, "1000.00", AS_OF - timedelta(days=40))
            make_receipt(db_session, client, "100.00", AS_OF - timedelta(days=1), [(contract, "100.00")])
            make_invoice(db_session, contract, "100.00", AS_OF - timedelta(days=1))
        db_session.commit()

    def statements(path):
        with count_queries(app) as sql:
            assert web.get(path).status_code == 200
        return len(sql)

    add(2)
    few = {
        fmt: statements(f"{URL}?as_of={AS_OF}&department=1&owner=1&area=1" + (f"&format={fmt}" if fmt else ""))
        for fmt in ("", "csv", "xlsx", "pdf")
    }
    add(25)
    many = {
        fmt: statements(f"{URL}?as_of={AS_OF}&department=1&owner=1&area=1" + (f"&format={fmt}" if fmt else ""))
        for fmt in ("", "csv", "xlsx", "pdf")
    }
    assert few == many


def test_report_query_count_does_not_grow(db_session):
    """The report functions alone: two statements (rows, totals) for any number of contracts."""
    from sqlalchemy import event

    from reports.receivables import ReceivablesFilters, receivables_report

    s = db_session
    client = make_client(s, "account_manager", name="语句计数有限公司")
    finance = user(s, "finance")
    counts = []
    for n in (1, 30):
        for _ in range(n):
            make_contract(s, client, "10.00", AS_OF)
        s.commit()
        assert finance.data_scope == "all"  # (re)load the user and role before counting
        statements = []
        listener = lambda *args, statements=statements: statements.append(args[2])  # noqa: E731
        event.listen(s.get_bind(), "before_cursor_execute", listener)
        try:
            receivables_report(s, ReceivablesFilters(as_of=AS_OF), finance)
        finally:
            event.remove(s.get_bind(), "before_cursor_execute", listener)
        counts.append(len(statements))
    assert counts == [2, 2]


def test_csv_and_xlsx_never_hold_formulas(db_session, client_as):
    s = db_session
    client = make_client(s, "account_manager", name='=HYPERLINK("http://x")有限公司')
    make_contract(s, client, "10.00", AS_OF, name="+SUM(1,2)")
    s.commit()
    web = client_as("finance")
    text = web.get(f"{URL}?as_of={AS_OF}&format=csv").data.decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "'+SUM(1,2)" in text
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(web.get(f"{URL}?as_of={AS_OF}&format=xlsx").data)).worksheets[0]
    cells = [c for row in sheet.iter_rows() for c in row if isinstance(c.value, str) and "HYPERLINK" in c.value]
    assert cells and all(c.data_type == "s" for c in cells)


def test_chart_svg_escapes_labels():
    from reports.render import bar_chart_svg

    svg = str(bar_chart_svg([("<b>x</b>", Decimal("5.00")), ("y", Decimal("0"))], title="t&t"))
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "t&amp;t" in svg and "¥5.00" in svg


# -------------------------------------------------------------------- statements
@pytest.fixture
def statement_app(app):
    """The app with the statement mixins on the client and contract lists: the real
    views once they carry the mixins, else subclasses registered next to them."""
    from views.client_children import ContractView
    from views.customers import ClientView
    from views.reports import ClientStatementMixin, ContractStatementMixin

    admin = app.extensions["admin"][0] if isinstance(app.extensions["admin"], list) else app.extensions["admin"]
    endpoints = {}
    for base, mixin, endpoint, model in (
        (ClientView, ClientStatementMixin, "client", Client),
        (ContractView, ContractStatementMixin, "contract", Contract),
    ):
        if issubclass(base, mixin):
            endpoints[endpoint] = endpoint
            continue
        view_class = type(f"Statement{base.__name__}", (mixin, base), {"right_endpoint": endpoint})
        admin.add_view(view_class(model, name=f"stmt-{endpoint}", endpoint=f"stmt_{endpoint}"))
        endpoints[endpoint] = f"stmt_{endpoint}"
    app.statement_endpoints = endpoints
    return app


def statement(web, app, kind, ids, fmt):
    """Run the statement action of the list as a user would (POST …/action/)."""
    endpoint = app.statement_endpoints[kind]
    return web.post(
        f"/admin/{endpoint}/action/?lang=en", data={"action": f"statement_{fmt}", "rowid": [str(i) for i in ids]}
    )


@pytest.fixture
def web_as(statement_app):
    from tests.conftest import login

    def make(username):
        web = statement_app.test_client()
        assert login(web, username).status_code == 302
        return web

    return make


def test_customer_statement_pdf_has_the_chinese_name_and_figures(ledger, statement_app, web_as, db_session):
    response = statement(web_as("finance"), statement_app, "client", [ledger["mine"]], "pdf")
    assert response.status_code == 200, response.data[:300]
    assert response.mimetype == "application/pdf"
    assert f"statement-{ledger['mine']}-" in response.headers["Content-Disposition"]
    text = pdf_text(response.data)
    assert "北京应收科技有限公司" in text
    for number in ("YS-A1", "YS-A2", "YS-A3", "HK-"):
        assert number in text
    assert "YS-DRAFT" not in text and "YS-B1" not in text
    # the statement is as of today, after every receipt and invoice of the ledger
    rows, _ = expected(db_session, as_of=date.today())
    mine = {n: r for n, r in rows.items() if r["client"] == "北京应收科技有限公司"}
    assert f"{sum(r['amount'] for r in mine.values()):,.2f}" in text
    assert f"{sum(r['received'] for r in mine.values()):,.2f}" in text


def test_customer_statement_embeds_its_font(ledger, statement_app, web_as):
    from pypdf import PdfReader

    from reports.render import CJK_FONT, ROOT

    assert CJK_FONT.is_relative_to(ROOT) and CJK_FONT.exists()
    assert CJK_FONT.stat().st_size < 5_000_000
    data = statement(web_as("finance"), statement_app, "client", [ledger["mine"]], "pdf").data
    fonts = []
    for page in PdfReader(io.BytesIO(data)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            for descendant in font.get("/DescendantFonts", []):
                descriptor = descendant.get_object()["/FontDescriptor"].get_object()
                fonts.append(("/FontFile2" in descriptor, str(font["/BaseFont"])))
    assert fonts and all(embedded for embedded, _ in fonts), fonts
    assert all("WenQuanYi" in name for _, name in fonts)
    assert len(data) < 400_000  # subset: only the glyphs printed


def test_customer_statement_xlsx_has_numbers_and_dates(ledger, statement_app, web_as, db_session):
    from openpyxl import load_workbook

    response = statement(web_as("finance"), statement_app, "client", [ledger["mine"], ledger["team"]], "xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    assert [s.title for s in book.worksheets] == ["北京应收科技有限公司", "上海账龄贸易有限公司"]
    sheet = book.worksheets[0]
    cells = {c.value: c for row in sheet.iter_rows() for c in row if c.value is not None}
    assert "北京应收科技有限公司" in {str(v) for v in cells}
    a1 = next(row for row in sheet.iter_rows() if row[0].value == "YS-A1")
    numbers = [c for c in a1 if isinstance(c.value, (int, float))]
    assert Decimal("100000") in {Decimal(str(c.value)) for c in numbers}
    money = [c for c in numbers if "¥" in c.number_format]
    assert money and all("#,##0.00" in c.number_format for c in money)
    assert any(isinstance(c.value, datetime) for c in a1)  # due date as a date cell
    receipt_row = next(row for row in sheet.iter_rows() if str(row[0].value).startswith("HK-"))
    assert any(isinstance(c.value, (int, float)) and Decimal(str(c.value)) == Decimal("60000") for c in receipt_row)


def test_statement_totals_tie_out(ledger, db_session):
    """Σ allocations listed = Σ received; Σ non-voided invoices = Σ invoiced; receipts
    allocated + unallocated = received amount."""
    from reports.statement import client_statements

    finance = user(db_session, "finance")
    (stmt,) = client_statements(db_session, [ledger["mine"]], finance, AS_OF)
    rows, _ = expected(db_session)
    mine = [r for r in rows.values() if r["client"] == "北京应收科技有限公司"]
    assert stmt.totals["balance"] == sum(r["balance"] for r in mine)
    assert sum(a["amount"] for a in stmt.allocations) == stmt.totals["received"] == Decimal("60000.00")
    assert stmt.invoice_totals["total"] == stmt.totals["invoiced"] == sum(r["invoiced"] for r in mine)
    assert stmt.receipt_totals["amount"] == Decimal("60000.00")  # deleted and later receipts left out
    assert stmt.receipt_totals["unallocated"] == Decimal("0.00")
    assert {i["number"] for i in stmt.invoices if i["status"] == "voided"}  # shown, not counted


def test_statements_respect_scope_and_rights(ledger, statement_app, web_as, db_session):
    web = web_as("account_manager")  # own scope, holds client.view, receipt.view, invoice.view
    response = statement(web, statement_app, "client", [ledger["team"]], "pdf")
    assert response.status_code == 302  # am_team's client is not in scope: nothing to print
    response = statement(web, statement_app, "client", [ledger["mine"], ledger["team"]], "pdf")
    text = pdf_text(response.data)
    assert "北京应收科技有限公司" in text and "上海账龄贸易有限公司" not in text
    # clerk sees clients but not receipts/invoices: no statement action
    clerk = web_as("clerk")
    endpoint = statement_app.statement_endpoints["client"]
    assert clerk.get(f"/admin/{endpoint}/statement/?ids={ledger['mine']}&format=pdf").status_code == 403
    page = clerk.get(f"/admin/{endpoint}/?lang=en").get_data(as_text=True)
    assert "statement_pdf" not in page
    page = web.get(f"/admin/{endpoint}/?lang=en").get_data(as_text=True)
    assert "statement_pdf" in page and "statement_xlsx" in page


def test_statement_sql_is_fixed(ledger, db_session):
    from sqlalchemy import event

    from reports.statement import client_statements, contract_statements

    s = db_session
    finance = user(s, "finance")
    seen = []

    def listener(*args):
        seen.append(args[2])

    event.listen(s.get_bind(), "before_cursor_execute", listener)
    try:
        client_statements(s, [ledger["mine"]], finance, AS_OF)
        one_client = len(seen)
        seen.clear()
        client_statements(s, [ledger["mine"], ledger["team"]], finance, AS_OF)
        two_clients = len(seen)
        seen.clear()
        contract_statements(s, [ledger["c1"]], finance, AS_OF)
        one_contract = len(seen)
        seen.clear()
        contract_statements(s, [ledger["c1"], ledger["c2"], ledger["t1"]], finance, AS_OF)
        three_contracts = len(seen)
    finally:
        event.remove(s.get_bind(), "before_cursor_execute", listener)
    assert one_client == two_clients == 8
    assert one_contract == three_contracts == 4


def test_contract_receivables_statement(ledger, statement_app, web_as, db_session):
    web = web_as("finance")
    response = statement(web, statement_app, "contract", [ledger["c1"]], "pdf")
    assert response.status_code == 200
    text = pdf_text(response.data)
    assert "YS-A1" in text and "北京应收科技有限公司" in text
    assert "100,000.00" in text and "40,000.00" in text  # amount, received (deleted receipt not counted)
    response = statement(web, statement_app, "contract", [ledger["c1"], ledger["t1"]], "xlsx")
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(response.data))
    assert [s.title for s in book.worksheets] == ["YS-B1", "YS-A1"]  # due-date order
    figures = {row[0].value: row[1].value for row in book["YS-A1"].iter_rows() if row[0].value}
    assert Decimal(str(figures["Balance"])) == Decimal("100000.00") - Decimal("40000.00")


def test_statement_get_link_and_bad_format(ledger, statement_app, web_as):
    web = web_as("finance")
    endpoint = statement_app.statement_endpoints["client"]
    response = web.get(f"/admin/{endpoint}/statement/?ids={ledger['mine']}&format=xlsx")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    assert web.get(f"/admin/{endpoint}/statement/?ids={ledger['mine']}&format=exe").status_code == 400
    assert web.get(f"/admin/{endpoint}/statement/?ids=&format=pdf").status_code == 302


# ------------------------------------------------------------------------ browser
def test_report_page_and_statement_action_in_chromium(ledger, statement_app, live_server, browser, tmp_path):
    """The page under the app's CSP in real Chromium: no error or violation, the chart
    drawn, the filter form works; then the customer statement action downloads a PDF."""
    from tests.conftest import PASSWORD

    page = browser.new_page(locale="zh-CN", viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server}/login")
    page.fill("#username", "finance")
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.goto(f"{live_server}{URL}?as_of={AS_OF}")
    assert page.locator("#report-chart svg .crm-chart-bar").count() == 5
    assert page.locator("#report-table tbody tr").count() == 5
    page.select_option("#owner", label="同组经理")
    page.click("#report-apply")
    page.wait_for_url(re.compile(r".*owner=\d+.*"))
    assert page.locator("#report-table tbody tr").count() == 2
    page.screenshot(path=str(tmp_path / "receivables.png"), full_page=True)

    endpoint = statement_app.statement_endpoints["client"]
    page.goto(f"{live_server}/admin/{endpoint}/")
    page.locator("table.model-list tr", has_text="北京应收科技有限公司").locator("input[name=rowid]").check()
    page.locator("a.dropdown-toggle", has_text=re.compile("选中|With selected")).click()
    with page.expect_download() as info:
        page.locator('[data-crm-action="statement_pdf"]').click()
    path = info.value.path()
    data = open(path, "rb").read()
    assert data.startswith(b"%PDF") and "北京应收科技有限公司" in pdf_text(data)
    assert not errors, errors


def test_codes_stay_on_one_line_in_a_narrow_pdf_column(app):
    """A contract number in a narrow column of a wide table is drawn whole on one line
    (smaller), where a text column of the same width wraps (the issue's split numbers)."""
    from reports.render import Column, Document, Section, write_pdf

    number, name = "HT2026120100042-ABC", "上海某某科技发展有限公司第一分公司"
    columns = [Column("number", "合同编号", "code", width=3), Column("name", "名称", width=3)]
    columns += [Column(f"c{i}", f"列{i}", "int", width=10) for i in range(11)]
    section = Section(title=None, columns=columns, rows=[{"number": number, "name": name}])
    with app.test_request_context():
        lines = pdf_text(write_pdf([Document(title="t", sections=[section])])).splitlines()
    assert any(number in line for line in lines)
    assert not any(name in line for line in lines)  # the text column did wrap
