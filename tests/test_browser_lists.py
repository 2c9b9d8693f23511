"""Browser test of the wide lists (issue 14 item 5; headless Chromium, zh-CN, the strict CSP,
a 1366×768 screen): the contract list fits the screen with its default columns, no status
badge, number, date or amount wraps (measured on the rendered boxes: one line box each), and
an account manager changes the list's columns by clicking in the *Columns* panel — the choice
is there after a reload and a new login; the other big lists (clients, contacts,
opportunities, quotes, orders, receipts, tickets, leads, follow-ups) fit the screen too.
Screenshot docs/list-columns.png with CRM_DOCS_SCREENSHOTS=1."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from models.list_columns import UserListColumns
from tests.conftest import log_in, log_out, screenshot_folder, serving, shot, stored_in, watched_page

STATES = ("draft", "submitted", "approved", "signed", "archived", "terminated", "rejected")

#: each element's text in line boxes (a wrapped text has more than one) and its height
LINES = """els => els.map(el => {
  const range = document.createRange();
  range.selectNodeContents(el);
  const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
  return {text: el.innerText, lines: lines.size, height: el.getBoundingClientRect().height,
          font: parseFloat(getComputedStyle(el).fontSize)};
})"""


@pytest.fixture
def contracts(app):
    from models import db
    from tests.factories import make_client, make_contract

    with app.app_context():
        for n in range(14):
            client = make_client(db.session, "account_manager", name=f"宽列表浏览测试第{n}号电子科技股份有限公司")
            make_contract(
                db.session,
                client,
                f"{1234567 + n * 1000}.89",
                date(2026, 1, 1) + timedelta(days=n),
                STATES[n % len(STATES)],
                number=f"HT2026{n:06d}",
                name=f"年度设备采购与技术服务框架合同第{n}期",
            )
        db.session.commit()
        db.session.remove()
    with serving(app) as base:
        yield base


def headers(page) -> list[str]:
    return [
        re.search(r"col-([\w-]+)", cls).group(1)
        for cls in page.locator("table.model-list th.column-header").evaluate_all("ths => ths.map(t => t.className)")
    ]


def test_the_contract_list_fits_and_remembers_the_chosen_columns(contracts, app, browser, tmp_path):
    base = contracts
    context, page, watch = watched_page(browser)
    try:
        page.set_viewport_size({"width": 1366, "height": 768})
        log_in(page, base, "account_manager")
        page.goto(f"{base}/admin/contract/")
        assert headers(page) == ["number", "name", "client", "amount", "balance", "status", "ends_on", "owner"]

        # nothing wraps that must not: each badge, number, date and amount is one line box
        badges = page.locator("table.model-list td.col-status .badge").evaluate_all(LINES)
        assert len(badges) == 14 and {b["text"] for b in badges} >= {"草稿", "已终止"}
        for badge in badges:
            assert badge["lines"] == 1 and badge["height"] < 2 * badge["font"] + 4, badge
        for column in ("number", "amount", "balance", "ends_on"):
            for cell in page.locator(f"table.model-list td.col-{column} .text-nowrap").evaluate_all(LINES):
                assert cell["lines"] == 1, (column, cell)
        # and the table fits the screen: no sideways scrolling
        widths = page.evaluate(
            "() => [document.querySelector('table.model-list').getBoundingClientRect().right, window.innerWidth]"
        )
        assert widths[0] <= widths[1], widths

        # the chooser: open it, add the start date and the type, drop the owner, save
        assert not page.locator("#column-chooser").is_visible()
        page.click("#column-chooser-button")
        page.locator("#column-chooser.show").wait_for(state="visible")  # opened (the animation over)
        page.click('label[for="column-starts_on"]')
        page.click('label[for="column-type"]')
        page.click('label[for="column-owner"]')
        assert page.locator("#column-owner").is_checked() is False
        page.click("#column-chooser-save")
        page.wait_for_load_state()
        want = ["number", "name", "client", "amount", "balance", "status", "ends_on", "type", "starts_on"]
        assert headers(page) == want
        stored = stored_in(app)
        assert stored(select(UserListColumns.columns).where(UserListColumns.endpoint == "contract")) == [want]
        page.reload()
        assert headers(page) == want
        assert page.locator("table.model-list td.col-starts_on").first.inner_text().strip() == "2026-01-14"
        page.click("#column-chooser-button")
        page.locator("#column-chooser.show").wait_for(state="visible")  # opened (the animation over)
        assert page.locator("#column-starts_on").is_checked() and not page.locator("#column-owner").is_checked()
        shot(page, screenshot_folder(tmp_path) / "list-columns.png")

        # remembered for the user, not the browser session
        log_out(page)
        log_in(page, base, "account_manager")
        page.goto(f"{base}/admin/contract/")
        assert headers(page) == want
        # back to the defaults
        page.click("#column-chooser-button")
        page.locator("#column-chooser.show").wait_for(state="visible")  # opened (the animation over)
        page.click("#column-chooser-reset")
        page.wait_for_load_state()
        assert headers(page)[-1] == "owner" and "starts_on" not in headers(page)
        watch.assert_clean()
    finally:
        context.close()


@pytest.fixture
def big_lists(app):
    """A few rows with long names in each big list (the widths a real list has)."""
    from decimal import Decimal

    from models import db
    from models.customers import Linkman
    from models.finance import Receipt
    from models.lookups import PaymentMethod
    from tests.factories import lookup, make_client, make_opportunity, make_order, make_product, make_quote, ticket
    from tests.factories import user as user_of

    with app.app_context():
        s = db.session
        product = make_product(s, price="12345.67", name="工业级高精度数控加工中心主轴组件")
        for n in range(4):
            client = make_client(s, "account_manager", name=f"宽列表第{n}号华东精密机械制造股份有限公司")
            s.add(
                Linkman(
                    client=client,
                    name=f"欧阳{n}",
                    position="采购部高级经理",
                    gender="男",
                    mobile=f"1391234{n:04d}",
                    phone="021-12345678",
                    email=f"ouyang{n}@example.com",
                )
            )
            make_opportunity(s, title=f"年度生产线自动化改造与设备升级项目第{n}期", client=client)
            make_quote(s, lines=[(product, 3)], discount="5", client=client)
            make_order(s, lines=[(product, 2)], client=client)
            ticket(s, client=client, title=f"数控机床主轴异响需上门检修第{n}次")
            s.add(
                Receipt(
                    number=f"HK2026{n:06d}",
                    client=client,
                    amount=Decimal("1234567.89"),
                    received_on=date(2026, 3, 1),
                    method=lookup(s, PaymentMethod),
                    payer="宽列表华东精密机械制造股份有限公司财务部",
                    recorded_by=user_of(s, "finance"),
                )
            )
        s.commit()
        s.remove()
    with serving(app) as base:
        yield base


LISTS = ("client", "linkman", "opportunity", "quote", "order", "receipt", "service", "lead", "followup")


def test_the_big_lists_fit_a_1366_pixel_screen(big_lists, browser):
    base = big_lists
    context, page, watch = watched_page(browser)
    try:
        page.set_viewport_size({"width": 1366, "height": 768})
        log_in(page, base, "admin")
        badges = 0
        for endpoint in LISTS:
            page.goto(f"{base}/admin/{endpoint}/")
            right, width = page.evaluate(
                "() => [document.querySelector('table.model-list').getBoundingClientRect().right, window.innerWidth]"
            )
            assert right <= width, (endpoint, right, width)
            for cell in page.locator("table.model-list td .crm-badge, table.model-list td .text-nowrap").evaluate_all(
                LINES
            ):
                assert cell["lines"] == 1, (endpoint, cell)
            badges += page.locator("table.model-list td .crm-badge").count()
        assert badges >= 4 * 5  # opportunities, quotes, orders, receipts and tickets (status and SLA) have states
        watch.assert_clean()
    finally:
        context.close()
