"""Printable documents (reports/printing.py, views/crud/printing.py): a quote and an order
confirmation as A4 PDFs — title, number, client, lines, totals, the amount in capital
numerals, the company from the settings, page n of N and the generation time — from the
details page's button and as one PDF of several from the list's bulk action; only records in
the user's scope; the view right needed."""

from __future__ import annotations

import io
import re
from decimal import Decimal

from pypdf import PdfReader
from sqlalchemy import select

from models.auth import SystemConfig
from models.capitals import rmb_capital
from tests.conftest import csrf_token_from
from tests.factories import make_client, make_order, make_product, make_quote


def pdf_pages(response) -> list[str]:
    assert response.status_code == 200, response.data[:300]
    assert response.mimetype == "application/pdf" and response.data.startswith(b"%PDF")
    return [page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages]


def test_a_quote_prints_with_its_lines_totals_and_capital_amount(client_as, db_session):
    address = db_session.scalar(select(SystemConfig).where(SystemConfig.name == "company_address"))
    address.value = "杭州市西湖区文三路1号"
    product = make_product(db_session, "1234.50", unit="台", name="打印测试机")
    client = make_client(db_session, "account_manager", name="打印客户有限公司")
    quote = make_quote(db_session, lines=[(product, 10)], discount="10", client=client)
    db_session.commit()
    assert quote.total == Decimal("11110.50")  # 12,345.00 less 10 %
    web = client_as("account_manager")
    details = web.get(f"/admin/quote/details/?id={quote.id}").get_data(as_text=True)
    url = re.search(r'id="print-document" href="([^"]+)"', details).group(1)
    (text,) = pdf_pages(web.get(url.replace("&amp;", "&")))
    flat = re.sub(r"\s+", "", text)
    for expected in ("报价单", quote.number, "打印客户有限公司", "打印测试机", "12,345.00", "11,110.50"):
        assert expected in flat, expected
    assert rmb_capital(quote.total) == "壹万壹仟壹佰壹拾元伍角整" and "壹万壹仟壹佰壹拾元伍角整" in flat
    assert "杭州市西湖区文三路1号" in flat and "第1页，共1页" in flat and "生成时间" in flat


def test_bulk_print_one_document_per_page_within_scope(client_as, db_session):
    product = make_product(db_session, "100.00")
    mine = [make_order(db_session, lines=[(product, n)]) for n in (1, 2)]
    other = make_order(db_session, owner="am_other", lines=[(product, 3)])
    db_session.commit()
    web = client_as("account_manager")
    page = web.get("/admin/order/")
    ids = [str(o.id) for o in (*mine, other)]
    response = web.post(
        "/admin/order/action/",
        data={"action": "print", "rowid": ids, "csrf_token": csrf_token_from(page.data)},
    )
    pages = pdf_pages(response)
    assert len(pages) == 2  # the other manager's order is not printed
    for order, text in zip(mine, pages, strict=True):
        flat = re.sub(r"\s+", "", text)
        assert "订单确认书" in flat and order.number in flat and rmb_capital(order.total) in flat
    assert other.number not in "".join(pages)
    alone = web.get(f"/admin/order/print/?ids={other.id}")
    assert alone.status_code == 302  # nothing in scope: back to the list with a message


def test_only_printable_lists_offer_the_action(client_as):
    web = client_as("admin")
    assert 'data-crm-action="print"' in web.get("/admin/quote/").get_data(as_text=True)
    assert 'data-crm-action="print"' not in web.get("/admin/client/").get_data(as_text=True)
    assert web.get("/admin/client/print/?ids=1").status_code == 404


def test_printing_needs_the_view_right(client_as, db_session):
    quote = make_quote(db_session, lines=[(make_product(db_session), 1)])
    db_session.commit()
    assert client_as("service").get(f"/admin/quote/print/?ids={quote.id}").status_code == 403


def test_a_receipt_voucher_names_its_allocations_and_the_amount_in_words(client_as, db_session):
    from models.finance import ContractReceipt, Receipt
    from models.lookups import PaymentMethod
    from tests.factories import lookup, make_contract, user

    client = make_client(db_session, "account_manager", name="回款客户有限公司")
    contract = make_contract(db_session, client, amount="5000.00", number="HT-PRINT-1", name="年度服务合同")
    receipt = Receipt(
        number="HK-PRINT-1",
        client=client,
        amount=Decimal("3000.05"),
        received_on=contract.starts_on,
        method=lookup(db_session, PaymentMethod),
        recorded_by=user(db_session, "finance"),
        payer="王会计",
    )
    receipt.allocations = [ContractReceipt(contract=contract, amount=Decimal("3000.05"))]
    db_session.add(receipt)
    db_session.commit()
    (text,) = pdf_pages(client_as("finance").get(f"/admin/receipt/print/?ids={receipt.id}"))
    flat = re.sub(r"\s+", "", text)
    for expected in ("收款凭证", "HK-PRINT-1", "回款客户有限公司", "王会计", "HT-PRINT-1", "年度服务合同", "3,000.05"):
        assert expected in flat, expected
    assert "叁仟元零伍分" in flat


def test_statements_are_offered_on_the_client_and_contract_pages(client_as, db_session):
    from tests.factories import make_contract

    client = make_client(db_session, "account_manager", name="对账客户有限公司")
    contract = make_contract(db_session, client, amount="800.00")
    db_session.commit()
    finance = client_as("finance")
    for endpoint, record in (("client", client), ("contract", contract)):
        html = finance.get(f"/admin/{endpoint}/details/?id={record.id}").get_data(as_text=True)
        for fmt in ("pdf", "xlsx"):
            url = re.search(rf'id="statement-{fmt}" href="([^"]+)"', html).group(1).replace("&amp;", "&")
            response = finance.get(url)
            assert response.status_code == 200 and response.data[:4] in (b"%PDF", b"PK\x03\x04"), (endpoint, fmt)
    assert 'id="statement-pdf"' not in client_as("clerk").get(f"/admin/client/details/?id={client.id}").get_data(
        as_text=True
    )  # no right to receipts: no statement


def test_a_delivery_note_prints_per_shipment_with_what_is_left(en_client, db_session):
    from models.products import Stock
    from models.workflow import perform
    from tests.factories import user

    s = db_session
    product = make_product(s, unit="台", stock=4, warehouse="主仓", name="发货测试机")
    s.add(Stock(product=product, warehouse="华东仓", quantity=10))
    client = make_client(s, "account_manager", name="收货客户有限公司")
    order = make_order(s, lines=[(product, 9)], client=client)
    s.commit()
    for warehouse, quantity in (("主仓", 4), ("华东仓", 2)):
        perform(
            order, "ship", user(s, "account_manager"), warehouse=warehouse, quantities={order.lines[0].id: quantity}
        )
        s.commit()
    first, second = order.shipments
    web = en_client("account_manager")
    details = web.get(f"/admin/order/details/?id={order.id}").get_data(as_text=True)
    assert f'href="/admin/shipment/print/?ids={second.id}"' in details
    (text,) = pdf_pages(web.get(f"/admin/shipment/print/?ids={second.id}"))
    flat = re.sub(r"\s+", "", text)
    for expected in (
        "Deliverynote",
        second.number,
        order.number,
        "收货客户有限公司",
        "华东仓",
        "发货测试机",
        "Shippedby(consignor)",
        "Receivedby(consignee)",
    ):
        assert expected in flat, expected
    # ordered 9, shipped before 4, this shipment 2, left pending 3
    assert re.search(r"发货测试机\s*X-\d+\s*台\s*9\s*4\s*2\s*3", text), text
    # the shipment list's bulk action: one PDF, one note per page
    both = web.post("/admin/shipment/action/", data={"action": "print", "rowid": [first.id, second.id]})
    pages = pdf_pages(both)
    assert len(pages) == 2 and first.number in pages[0] and second.number in pages[1]
    assert re.search(r"发货测试机\s*X-\d+\s*台\s*9\s*0\s*4\s*5", pages[0]), pages[0]


def test_the_contract_cover_sheet_names_the_approver_and_the_comment(en_client, db_session):
    from models.workflow import perform
    from tests.factories import make_contract, user

    s = db_session
    client = make_client(s, "account_manager", name="盖章客户有限公司")
    contract = make_contract(
        s, client, amount="12345.67", status="draft", number="HT20261202-00042", name="设备采购合同"
    )
    s.commit()
    perform(contract, "submit", user(s, "account_manager"))
    s.commit()
    perform(contract, "approve", user(s, "sales_director"), "价格已核对，同意盖章")
    s.commit()
    web = en_client("account_manager")
    details = web.get(f"/admin/contract/details/?id={contract.id}").get_data(as_text=True)
    assert 'id="print-document"' in details
    (text,) = pdf_pages(web.get(f"/admin/contract/print/?ids={contract.id}"))
    flat = re.sub(r"\s+", "", text)
    director = user(s, "sales_director")
    submitter = user(s, "account_manager")
    for expected in (
        "Contractapprovalsheet",
        "HT20261202-00042",
        "设备采购合同",
        "盖章客户有限公司",
        "价格已核对，同意盖章",
        re.sub(r"\s+", "", director.name),
        re.sub(r"\s+", "", submitter.name),
        "壹万贰仟叁佰肆拾伍元陆角柒分",
    ):
        assert expected in flat, expected
    assert "HT20261202-00042" in text  # the number on one line, never split


def test_the_logo_from_the_settings_is_drawn_on_every_page(client_as, db_session, app):
    from pathlib import Path

    from PIL import Image

    logo = Path(app.instance_path) / "logo-test.png"
    logo.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (120, 60), (200, 30, 30)).save(logo)
    row = db_session.scalar(select(SystemConfig).where(SystemConfig.name == "company_logo"))
    if row is None:
        row = SystemConfig(name="company_logo", value="")
        db_session.add(row)
    quote = make_quote(db_session, lines=[(make_product(db_session), 1)])
    db_session.commit()
    web = client_as("account_manager")
    plain = PdfReader(io.BytesIO(web.get(f"/admin/quote/print/?ids={quote.id}").data))
    assert [len(page.images) for page in plain.pages] == [0]
    row.value = "logo-test.png"
    db_session.commit()
    try:
        response = web.get(f"/admin/quote/print/?ids={quote.id}")
        pdf_pages(response)
        reader = PdfReader(io.BytesIO(response.data))
        assert [len(page.images) for page in reader.pages] == [1]
        row.value = "missing.png"  # a setting naming no image prints without a logo, never an error
        db_session.commit()
        assert [
            len(p.images) for p in PdfReader(io.BytesIO(web.get(f"/admin/quote/print/?ids={quote.id}").data)).pages
        ] == [0]
    finally:
        row.value = ""
        db_session.commit()
        logo.unlink()
