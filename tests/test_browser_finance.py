"""End-to-end browser test of the money path (headless Debian Chromium, Playwright, CSRF ON,
the app's strict CSP): the account manager submits a contract, the sales director approves
it, finance records a receipt allocated to it and issues an invoice on it, then downloads
the customer statement (PDF) from the client list.

Screenshots (contract details after approval, the filled receipt and invoice forms) go into
tmp_path, or into docs/finance-*.png when CRM_DOCS_SCREENSHOTS=1.
Elements are located by id / name, not by their (translated) labels."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.conftest import (
    list_table,
    log_in,
    log_out,
    page_transition,
    pick_option,
    save_form,
    screenshot_folder,
    serving,
    shot,
    stored_in,
)

CLIENT = "浏览器回款测试有限公司"
CONTRACT_NUMBER = "HT-BR-000001"
RECEIPT_NUMBER = "HK-BR-000001"
INVOICE_NUMBER = "FP-BR-000001"


@pytest.fixture
def finance_server(csrf_app):
    """The app with CSRF ON, served; before serving, a client of account_manager with a
    draft contract of 10000.00 (made in an app context of that same app, then closed)."""
    from models import db
    from models.customers import Contract
    from models.lookups import ContractType
    from tests.factories import lookup, make_client, user

    app = csrf_app
    with app.app_context():
        session = db.session
        client = make_client(session, "account_manager", name=CLIENT)
        contract = Contract(
            client=client,
            type=lookup(session, ContractType),
            number=CONTRACT_NUMBER,
            name="年度服务合同",
            starts_on=date(2026, 1, 1),
            ends_on=date(2026, 12, 31),
            amount=Decimal("10000.00"),
            owner=user(session, "account_manager"),
        )
        session.add(contract)
        session.commit()
        ids = {"client": client.id, "contract": contract.id}
        session.remove()
    with serving(app) as base:
        yield app, base, ids


def pick_ajax(page, field: str, term: str) -> str:
    """Choose in an ajax select2 (v3) field the way a user does: open it, type, click the
    one result. Returns the chosen text."""
    page.click(f"#s2id_{field} .select2-choice")
    search = page.locator("#select2-drop input.select2-input")
    search.fill(term)
    result = page.locator("#select2-drop .select2-results li.select2-result-selectable")
    result.first.wait_for()
    assert result.count() == 1, result.all_inner_texts()
    text = result.first.inner_text().strip()
    result.first.click()
    assert page.locator(f"#s2id_{field} .select2-chosen").inner_text().strip() == text
    return text


def fill_date(page, field: str, value: str, then: str) -> None:
    """Type a date into a date-picker input, then click `then` to close the picker."""
    page.fill(f"#{field}", value)
    page.click(then)
    assert page.input_value(f"#{field}") == value


# --------------------------------------------------------------------------- test
def test_contract_approval_receipt_invoice_and_statement(finance_server, page_watch, tmp_path):
    from models.customers import Contract
    from models.finance import ContractReceipt, Invoice, Receipt

    app, base, ids = finance_server
    page, watch = page_watch
    out = screenshot_folder(tmp_path)
    pngs = []
    stored = stored_in(app)

    def status() -> str:
        return stored(select(Contract.status).where(Contract.id == ids["contract"]))[0]

    # 1. the account manager submits the contract
    log_in(page, base, "account_manager")
    assert page_transition(page, base, "contract", ids["contract"], "submit", "请审批") == "已提交"
    assert status() == "submitted"
    log_out(page)

    # 2. the sales director approves it
    log_in(page, base, "sales_director")
    assert page_transition(page, base, "contract", ids["contract"], "approve", "同意") == "已审批"
    assert status() == "approved"
    assert page.locator("#wf-approve").count() == 0
    pngs.append(shot(page, out / "finance-contract.png", full_page=True))
    log_out(page)

    # 3. finance records a receipt of 6000.00 allocated to the contract
    log_in(page, base, "finance")
    page.goto(f"{base}/admin/receipt/new/")
    page.wait_for_load_state("networkidle")
    with page.expect_response(lambda r: "/admin/receipt/contracts/?client_id=" in r.url):
        assert pick_ajax(page, "client", "浏览器回款") == CLIENT
    page.fill("#number", RECEIPT_NUMBER)
    page.fill("#amount", "6000.00")
    fill_date(page, "received_on", "2026-03-05", then="#number")
    pick_option(page, "#method")
    page.click("#allocations-button")
    contract_select = "#allocations-0-contract"
    page.wait_for_function(
        "s => document.querySelector(s) && document.querySelector(s).options.length > 1", arg=contract_select
    )
    offered = page.locator(f"{contract_select} option", has_text=CONTRACT_NUMBER)
    assert offered.count() == 1, page.locator(f"{contract_select} option").all_inner_texts()
    page.select_option(contract_select, offered.get_attribute("value"), force=True)
    assert offered.get_attribute("value") == str(ids["contract"])
    page.fill("#allocations-0-amount", "6000.00")
    page.click("#number")  # closes any open picker before the screenshot
    pngs.append(shot(page, out / "finance-receipt.png", full_page=True))
    save_form(page, "receipt")

    receipts = stored(select(Receipt).where(Receipt.number == RECEIPT_NUMBER))
    assert len(receipts) == 1
    allocations = stored(
        select(ContractReceipt.amount)
        .join(Receipt)
        .where(Receipt.number == RECEIPT_NUMBER, ContractReceipt.contract_id == ids["contract"])
    )
    assert allocations == [Decimal("6000.00")]

    # 4. finance issues an invoice of 5000.00 at 13% (tax and total filled by finance.js)
    page.goto(f"{base}/admin/invoice/new/")
    page.wait_for_load_state("networkidle")
    assert CONTRACT_NUMBER in pick_ajax(page, "contract", CONTRACT_NUMBER)
    pick_option(page, "#type")
    page.fill("#number", INVOICE_NUMBER)
    page.fill("#amount", "5000.00")
    page.select_option("#tax_rate", "13", force=True)
    assert page.input_value("#tax") == "650.00"
    assert page.input_value("#total") == "5650.00"
    fill_date(page, "issued_on", "2026-03-06", then="#number")
    pngs.append(shot(page, out / "finance-invoice.png", full_page=True))
    save_form(page, "invoice")

    invoices = stored(select(Invoice).where(Invoice.number == INVOICE_NUMBER))
    assert len(invoices) == 1
    invoice = invoices[0]
    assert (invoice.contract_id, invoice.amount, invoice.tax_rate, invoice.tax, invoice.total) == (
        ids["contract"],
        Decimal("5000.00"),
        13,
        Decimal("650.00"),
        Decimal("5650.00"),
    )

    # 5. the customer statement (PDF) through the client list's 选中的 (With selected) menu
    page.goto(f"{base}/admin/client/")
    row = list_table(page).locator("tbody tr", has_text=CLIENT)
    assert row.count() == 1
    row.locator("input.action-checkbox").check()
    page.locator("a.dropdown-toggle", has_text=re.compile(r"^\s*选中的\s*$")).click()
    action = page.locator('a[data-crm-action="statement_pdf"]')
    assert action.is_visible(), "no 客户对账单 (PDF) in the 选中的 menu"
    with page.expect_download() as info:
        action.click()
    download = info.value
    assert download.suggested_filename.endswith(".pdf"), download.suggested_filename
    pdf = tmp_path / download.suggested_filename
    download.save_as(pdf)
    assert pdf.read_bytes()[:5] == b"%PDF-"

    # the same statement through its GET URL: a PDF with its content type
    response = page.request.get(f"{base}/admin/client/statement/?ids={ids['client']}&format=pdf")
    assert response.ok and response.headers["content-type"] == "application/pdf"
    assert response.body()[:5] == b"%PDF-"

    assert not watch.dialogs, watch.dialogs
    watch.assert_clean()
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
