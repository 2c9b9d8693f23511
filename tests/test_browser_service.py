"""Browser test of the service desk (headless Chromium, zh-CN, the strict CSP), as the people
who use it: a clerk opens a client's page and logs a complaint with the "+" of its tickets
(type chosen in the picker by keyboard, title and request typed); the service lead assigns it
to an agent on the confirmation page; the agent handles it (handling and result typed) and
asks the customer for feedback; the customer opens the link on a phone-sized screen, taps four
stars and a reason, types a comment and sends it; the answer is on the ticket and in the
client's service satisfaction. Screenshots go to docs/ with CRM_DOCS_SCREENSHOTS=1."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from models.service import ServiceTicket
from tests.conftest import PASSWORD, log_in, log_out, page_transition, screenshot_folder, serving, shot, stored_in

TITLE = "发票寄错地址"
AGENT = "客服小王"


@pytest.fixture
def desk(app):
    from models import db
    from seed import make_user
    from tests.factories import make_client

    with app.app_context():
        client = make_client(db.session, "account_manager", name="浏览服务有限公司", email="kehu@example.com")
        make_user("agent_wang", "service", PASSWORD, name=AGENT, department="销售一部")
        db.session.commit()
        client_id = client.id
        db.session.remove()
    with serving(app) as base:
        yield base, client_id


def type_into(page, selector: str, text: str) -> None:
    page.click(selector)
    page.keyboard.type(text)


def test_complaint_from_the_client_page_to_the_customers_answer(desk, app, browser, page_watch, tmp_path):
    base, client_id = desk
    page, watch = page_watch
    out = screenshot_folder(tmp_path)
    stored = stored_in(app)

    # the clerk logs the complaint from the client's page
    log_in(page, base, "clerk")
    page.goto(f"{base}/admin/client/details/?id={client_id}")
    page.locator('a[href*="/admin/service/new/?client_id="]').click()
    page.wait_for_url(re.compile(r"/admin/service/new/"))
    page.click("#s2id_type .select2-choice")
    page.keyboard.type("投诉")
    page.keyboard.press("Enter")
    assert page.locator("#type").input_value() == _type_id(app, "投诉")
    type_into(page, "#title", TITLE)
    page.select_option("#priority", "high")
    type_into(page, "#request", "客户来电：发票寄到了旧地址，要求重开并寄到新地址。")
    page.locator('form.admin-form input[type="submit"].btn-primary').click()
    page.wait_for_url(re.compile(rf"/admin/client/details/\?id={client_id}"))
    assert page.locator(".alert-danger").count() == 0
    assert TITLE in page.locator("body").inner_text()
    (ticket_id,) = stored(select(ServiceTicket.id).where(ServiceTicket.title == TITLE))
    (due,) = stored(select(ServiceTicket.due_at).where(ServiceTicket.id == ticket_id))
    assert due is not None  # a complaint of high priority has its SLA clock
    log_out(page)

    # the service lead assigns it to the agent
    log_in(page, base, "service")
    assert page_transition(page, base, "service", ticket_id, "assign", "请尽快联系客户", person=AGENT) == "已分配"
    page.goto(f"{base}/admin/service/")
    assert TITLE in page.locator("table.model-list").inner_text()
    log_out(page)

    # the agent handles it and asks the customer for feedback
    log_in(page, base, "agent_wang")
    page.goto(f"{base}/admin/service/details/?id={ticket_id}")
    page.click("#wf-handle")
    page.wait_for_url(re.compile(r"/admin/service/transition/\?.*action=handle"))
    type_into(page, "#handling", "已作废原发票，重新开具并顺丰寄至新地址。")
    type_into(page, "#result", "客户确认收到新发票")
    page.click("#transition-submit")
    page.wait_for_url(re.compile(r"/admin/service/details/\?id="))
    assert page.locator(".alert-danger").count() == 0
    assert page.locator("#workflow-state").inner_text().strip() == "已处理"
    page.click("#feedback-issue")
    link = page.locator("#feedback-link").input_value()
    assert link.startswith(base + "/feedback/")

    # the customer answers on a phone
    phone = browser.new_context(
        locale="zh-CN", viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    mobile = phone.new_page()
    mobile.goto(link)
    assert TITLE in mobile.locator("#feedback-form").inner_text()
    width = mobile.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the form is wider than the phone: {width}px"
    mobile.tap('label[for="stars-4"]')
    mobile.locator('input[name="reasons"]').first.tap()
    mobile.tap("#comment")
    mobile.keyboard.type("处理很及时 <b>谢谢</b>")
    shot(mobile, out / "feedback-phone.png", full_page=True)
    with mobile.expect_navigation():
        mobile.tap("#feedback-submit")
    assert mobile.locator("#feedback-thanks").count() == 1, mobile.locator("body").inner_text()
    mobile.goto(link)  # answered once: the link is closed now
    assert mobile.locator("#feedback-form").count() == 0
    phone.close()

    # the answer is on the ticket and in the client's figure
    (stars,) = stored(select(ServiceTicket.satisfaction).where(ServiceTicket.id == ticket_id))
    assert stars == 4
    page.goto(f"{base}/admin/service/details/?id={ticket_id}")
    panel = page.locator("#feedback-panel").inner_text()
    assert "★★★★" in panel and "处理很及时 <b>谢谢</b>" in panel  # shown as text, not markup
    shot(page, out / "service-ticket.png", full_page=True)
    page.goto(f"{base}/admin/client/details/?id={client_id}")
    assert "4" in page.locator("#client-satisfaction").inner_text()
    watch.assert_clean()


def _type_id(app, name: str) -> str:
    from models.lookups import ServiceType

    (found,) = stored_in(app)(select(ServiceType.id).where(ServiceType.name == name))
    return str(found)
