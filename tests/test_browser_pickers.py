"""Browser test of the form pickers (issue 14 item 4; headless Chromium, CSRF ON, the
strict CSP — static/pickers.js, no inline script): picking a product fills the quote
line's unit price, a changed price is what is saved; the contract's contact select offers
only the chosen client's contacts."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.conftest import log_in, save_form, serving, stored_in

PRICE = Decimal("4321.50")


@pytest.fixture
def picker_server(csrf_app):
    from models import db
    from models.lookups import SalesStage
    from models.opportunities import Opportunity
    from models.products import Product
    from tests.factories import add_children, lookup, make_client, user

    app = csrf_app
    with app.app_context():
        s = db.session
        mine, other = make_client(s, "account_manager"), make_client(s, "account_manager")
        contacts = [add_children(s, mine)["linkman"] for _ in range(2)]
        add_children(s, other)
        product = Product(name="浏览器填价产品", unit="台", price=PRICE)
        opportunity = Opportunity(  # the quote form starts from it, with its client
            client=mine,
            customer_name=mine.name,
            title="填价测试项目",
            description="报价填价测试",
            stage=lookup(s, SalesStage, "方案报价"),
            expected_amount=Decimal("8000.00"),
            created_by=user(s, "account_manager"),
        )
        s.add_all([product, opportunity])
        s.commit()
        ids = {"mine": mine.id, "product": product.id, "contacts": sorted(c.id for c in contacts)}
        ids["opportunity"] = opportunity.id
        s.remove()
    with serving(app) as base:
        yield app, base, ids


def test_product_price_fill_and_the_contact_picker(picker_server, page_watch):
    from models.orders import Quote, QuoteLine

    app, base, ids = picker_server
    page, watch = page_watch
    stored = stored_in(app)
    log_in(page, base, "account_manager")

    page.goto(f"{base}/admin/quote/new/?opportunity_id={ids['opportunity']}")
    page.wait_for_load_state("networkidle")
    page.click("#lines-button")
    page.wait_for_selector("#lines-0-product", state="attached")
    page.select_option("#lines-0-product", str(ids["product"]), force=True)
    expect(page.locator("#lines-0-unit_price")).to_have_value("4321.50")
    page.fill("#lines-0-unit_price", "4000.00")
    page.fill("#lines-0-quantity", "2")
    save_form(page)
    quote_id = stored(select(Quote.id).where(Quote.client_id == ids["mine"]))[0]
    prices = stored(select(QuoteLine.unit_price).where(QuoteLine.quote_id == quote_id))
    assert prices == [Decimal("4000.00")]

    page.goto(f"{base}/admin/contract/new/?client_id={ids['mine']}")
    page.wait_for_load_state("networkidle")
    expect(page.locator("#linkman option")).to_have_count(len(ids["contacts"]) + 1)
    offered = page.eval_on_selector_all("#linkman option", "os => os.map(o => o.value)")
    assert sorted(int(v) for v in offered if v != "__None") == ids["contacts"]
    watch.assert_clean()
