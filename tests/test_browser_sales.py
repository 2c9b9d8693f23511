"""End-to-end browser test of the sales path (headless Debian Chromium, Playwright, CSRF ON,
the app's strict CSP): the sales director assigns an opportunity to the account manager,
who adds a development plan, closes it as won, creates a quote from it with two lines and
a discount above the approval threshold and submits it; the director approves it; the
account manager records the customer's acceptance and converts it into an order.

Screenshots (opportunity with its plan, the filled quote form, the approved quote, the
order) go into tmp_path, or into docs/sales-*.png when CRM_DOCS_SCREENSHOTS=1.
Elements are located by id / name, not by their (translated) labels."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.conftest import (
    log_in,
    log_out,
    page_transition,
    save_form,
    screenshot_folder,
    serving,
    shot,
    stored_in,
)

CLIENT = "浏览器销售测试有限公司"
TITLE = "浏览器测试:ERP 升级项目"
PRODUCTS = [("服务器 R740", "台", Decimal("45000.00"), 10), ("ERP 许可证", "套", Decimal("12000.00"), 50)]


@pytest.fixture
def sales_server(csrf_app):
    """The app with CSRF ON, served; before serving, a client of account_manager, two
    products in stock and an unassigned opportunity created by the sales director."""
    from models import db
    from models.auth import SystemConfig
    from models.lookups import SalesStage
    from models.opportunities import Opportunity
    from models.products import Product, Stock
    from tests.factories import lookup, make_client, user

    app = csrf_app
    with app.app_context():
        session = db.session
        client = make_client(session, "account_manager", name=CLIENT)
        for name, unit, price, quantity in PRODUCTS:
            product = Product(name=name, unit=unit, price=price)
            session.add_all([product, Stock(product=product, warehouse="华东仓", quantity=quantity)])
        opportunity = Opportunity(
            client=client,
            customer_name=CLIENT,
            title=TITLE,
            description="客户计划升级 ERP",
            stage=lookup(session, SalesStage, "方案报价"),
            expected_amount=Decimal("120000.00"),
            created_by=user(session, "sales_director"),
        )
        session.add(opportunity)
        session.commit()
        assert SystemConfig.get("quote_discount_approval_pct") == "10"
        ids = {"client": client.id, "opportunity": opportunity.id}
        session.remove()
    with serving(app) as base:
        yield app, base, ids


def save_and_check(page) -> None:
    save_form(page)
    assert page.locator(".has-error, .is-invalid").count() == 0, page.locator(".invalid-feedback").all_inner_texts()


def test_opportunity_to_quote_to_order(sales_server, page_watch, tmp_path):
    from models import db
    from models.opportunities import DevelopmentPlan, Opportunity
    from models.orders import Order, Quote

    app, base, ids = sales_server
    page, watch = page_watch
    out = screenshot_folder(tmp_path)
    pngs = []
    stored = stored_in(app)

    # 1. the sales director assigns the opportunity to the account manager
    log_in(page, base, "sales_director")
    assert (
        page_transition(page, base, "opportunity", ids["opportunity"], "assign", "请跟进", person="测试account_manager")
        == "已指派"
    )
    assigned = stored(select(Opportunity).where(Opportunity.id == ids["opportunity"]))[0]
    assert assigned.status == "assigned" and assigned.assigned_at is not None
    log_out(page)

    # 2. the account manager adds a development plan on the edit page
    log_in(page, base, "account_manager")
    page.goto(f"{base}/admin/opportunity/edit/?id={ids['opportunity']}")
    page.wait_for_load_state("networkidle")
    page.click("#plans-button")
    page.fill("#plans-0-planned_on", "2026-12-01")
    page.click("#plans-0-todo")
    page.fill("#plans-0-todo", "拜访客户 CIO,演示方案")
    save_and_check(page)
    plans = stored(select(DevelopmentPlan.todo).where(DevelopmentPlan.opportunity_id == ids["opportunity"]))
    assert plans == ["拜访客户 CIO,演示方案"]

    # 3. … and closes it as won; the details page offers a quote
    assert page_transition(page, base, "opportunity", ids["opportunity"], "win", "客户已签约意向") == "已归档"
    assert page.locator("#plan-table").inner_text().count("拜访客户 CIO") == 1
    pngs.append(shot(page, out / "sales-opportunity.png", full_page=True))
    page.click("#create-quote")
    page.wait_for_url(re.compile(r"/admin/quote/new/\?.*opportunity_id="))
    page.wait_for_load_state("networkidle")

    # 4. a quote with two lines and a 15 % discount (above the 10 % threshold)
    assert CLIENT in page.locator("#s2id_client .select2-chosen").inner_text()
    page.fill("#discount_pct", "15")
    for index, (name, _unit, _price, _quantity) in enumerate(PRODUCTS):
        page.click("#lines-button")
        select_id = f"#lines-{index}-product"
        page.wait_for_selector(select_id, state="attached")
        option = page.locator(f"{select_id} option", has_text=name)
        page.select_option(select_id, option.get_attribute("value"), force=True)
        page.fill(f"#lines-{index}-quantity", str(index + 2))
    page.click("#discount_pct")
    pngs.append(shot(page, out / "sales-quote-form.png", full_page=True))
    save_and_check(page)
    quotes = stored(select(Quote).where(Quote.opportunity_id == ids["opportunity"]))
    assert len(quotes) == 1
    quote_id = quotes[0].id
    assert quotes[0].client_id == ids["client"] and quotes[0].discount_pct == Decimal("15.00")

    assert page_transition(page, base, "quote", quote_id, "submit", "折扣超出权限,请审批") == "已提交"
    log_out(page)

    # 5. the director approves the discount
    log_in(page, base, "sales_director")
    assert page_transition(page, base, "quote", quote_id, "approve", "同意 15% 折扣") == "已审批"
    pngs.append(shot(page, out / "sales-quote.png", full_page=True))
    log_out(page)

    # 6. the customer accepts; the account manager converts the quote into an order
    log_in(page, base, "account_manager")
    assert page_transition(page, base, "quote", quote_id, "accept") == "客户已接受"
    page.click("#convert-to-order")
    page.wait_for_url(re.compile(r"/admin/order/details/\?id="))
    assert page.locator(".alert-danger").count() == 0
    pngs.append(shot(page, out / "sales-order.png", full_page=True))

    orders = stored(select(Order).where(Order.quote_id == quote_id))
    assert len(orders) == 1
    with app.app_context():
        order = db.session.get(Order, orders[0].id)
        lines = sorted((line.product.name, line.quantity, line.unit, line.unit_price) for line in order.lines)
        total = order.total
        db.session.remove()
    # unit prices carry the 15 % discount, rounded to the fen; quantities 2 and 3
    assert lines == sorted(
        [("服务器 R740", 2, "台", Decimal("38250.00")), ("ERP 许可证", 3, "套", Decimal("10200.00"))]
    )
    assert total == Decimal("38250.00") * 2 + Decimal("10200.00") * 3
    assert order.status == "pending"

    assert not watch.page_errors, watch.page_errors
    assert not watch.csp_console_errors(), watch.csp_console_errors()
    assert all(p.stat().st_size > 10_000 for p in pngs)
