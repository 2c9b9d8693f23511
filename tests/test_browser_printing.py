"""Browser test of printing (issue 14 item 6; headless Chromium, zh-CN): an account manager
opens a quote and clicks its *Print (PDF)* button, then ships part of an order on the ship
page (warehouse chosen, a quantity typed) and clicks the delivery note of the shipment; both
PDFs are downloaded, their text checked (pdftotext) and their first page rendered (pdftoppm)."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.conftest import log_in, serving


@pytest.fixture
def papers(app):
    from models import db
    from models.products import Stock
    from tests.factories import make_client, make_order, make_product, make_quote

    with app.app_context():
        product = make_product(db.session, "1280.00", unit="台", stock=4, warehouse="主仓", name="浏览打印机")
        db.session.add(Stock(product=product, warehouse="华东仓", quantity=10))
        client = make_client(db.session, "account_manager", name="浏览打印有限公司")
        quote = make_quote(db.session, lines=[(product, 3)], client=client)
        order = make_order(db.session, lines=[(product, 9)], client=client)
        db.session.commit()
        ids = quote.id, quote.number, order.id, order.lines[0].id
        db.session.remove()
    with serving(app) as base:
        yield base, ids


def _download(page, selector, path):
    with page.expect_download() as info:
        page.click(selector)
    info.value.save_as(path)
    subprocess.run(
        ["pdftoppm", "-png", "-f", "1", "-l", "1", "-r", "60", str(path), str(path.with_suffix(""))], check=True
    )
    assert next(path.parent.glob(f"{path.stem}*.png")).stat().st_size > 1000
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


def test_print_a_quote_and_a_delivery_note(papers, browser, page_watch, tmp_path):
    base, (quote_id, quote_number, order_id, line_id) = papers
    page, watch = page_watch
    log_in(page, base, "account_manager")
    page.goto(f"{base}/admin/quote/details/?id={quote_id}")
    text = _download(page, "#print-document", tmp_path / "quote.pdf")
    assert quote_number in text and "浏览打印有限公司" in text and "叁仟捌佰肆拾元整" in text.replace(" ", "")

    page.goto(f"{base}/admin/order/details/?id={order_id}")
    page.click("#wf-ship")
    page.wait_for_url(re.compile(r"/admin/order/ship/"))
    page.select_option("#warehouse", "华东仓")
    page.click("#warehouse-choose")
    page.wait_for_url(re.compile(r"warehouse="))
    page.fill(f"#quantity-{line_id}", "")
    page.click(f"#quantity-{line_id}")
    page.keyboard.type("5")
    page.click("#ship-submit")
    page.wait_for_url(re.compile(r"/admin/order/details/"))
    assert "部分发货" in page.locator("#workflow-state").inner_text() or "Partly" in page.inner_text("#workflow-state")
    note = _download(page, ".print-delivery-note", tmp_path / "note.pdf")
    assert "浏览打印有限公司" in note and "华东仓" in note and re.search(r"FH\d{8}-\d{3}", note), note
    assert re.search(r"台\s+9\s+0\s+5\s+4", note), note
    watch.assert_clean()
