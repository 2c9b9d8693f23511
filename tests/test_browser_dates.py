"""Dates typed with the keyboard in real Chromium (Playwright) are saved exactly.

A clerk types ``2026-12-08 10:00:00`` into a follow-up, an appointment and a contract form
(``page.keyboard.type``, key by key, with the picker open), saves, and the database holds
exactly that wall-clock time (Asia/Shanghai) or date. Flask-Admin's picker script used to
rewrite the field on every key press (``0002-01-01 00:00:00026-12-08 10:00:00``) and to put
"now" back into a filled field when it closed.

The Chinese picker is photographed into docs/date-picker.png when CRM_DOCS_SCREENSHOTS=1
(otherwise into tmp_path, so the suite never modifies the repo). Skips without Chromium
unless CRM_REQUIRE_BROWSER=1 (see conftest's ``browser``)."""

from __future__ import annotations

import os
import re
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from models.customers import Appointment, Contract, FollowUp
from tests.conftest import PASSWORD, save_form
from tests.factories import make_client

DOCS_DIR = Path(__file__).resolve().parents[1] / "docs"
SHANGHAI = ZoneInfo("Asia/Shanghai")
TIMEOUT_MS = 15_000


@pytest.fixture
def zh_page(browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1100, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page, errors
    context.close()


def log_in(page, base: str, username: str = "admin") -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{base}/admin/")


def type_into(page, selector: str, value: str) -> None:
    """Click into the field (the picker opens) and type the value key by key."""
    page.click(selector)
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.type(value, delay=15)
    assert page.input_value(selector) == value, "the field was rewritten while typing"


def picker(page):
    return page.locator(".daterangepicker:visible")


def save(page, endpoint: str) -> None:
    save_form(page, endpoint, button='input[type="submit"][value="保存"]')


def local(value: datetime) -> datetime:
    return value.astimezone(SHANGHAI).replace(tzinfo=None)


def test_typed_dates_are_saved_exactly(live_server, zh_page, db_session, tmp_path):
    page, errors = zh_page
    client = make_client(db_session, "admin", name="键盘日期测试有限公司")
    db_session.commit()
    log_in(page, live_server)

    # a follow-up: the picker opens in Chinese, typing is never rewritten, closing keeps it
    page.goto(f"{live_server}/admin/followup/new/?client_id={client.id}")
    type_into(page, "#followed_at", "2026-12-08 10:00:00")
    assert picker(page).count() == 1
    calendar = picker(page).inner_text()
    assert "一" in calendar and "日" in calendar and "12月" in picker(page).locator("select").first.inner_text()
    assert picker(page).locator("button.applyBtn").inner_text().strip() == "确定"
    assert picker(page).locator("td.active").first.inner_text().strip() == "8"  # the typed day
    screenshot = (DOCS_DIR if os.environ.get("CRM_DOCS_SCREENSHOTS") == "1" else tmp_path) / "date-picker.png"
    field, calendar_box = page.locator("#followed_at").bounding_box(), picker(page).bounding_box()
    top = field["y"] - 40
    page.screenshot(
        path=str(screenshot),
        clip={"x": 0, "y": top, "width": 640, "height": calendar_box["y"] + calendar_box["height"] + 12 - top},
    )
    assert screenshot.stat().st_size > 0
    color = page.eval_on_selector("#followed_at", "e => getComputedStyle(e).color")
    assert color == "rgb(33, 37, 41)", f"entered text is not black: {color}"
    page.fill("#content", "键盘输入的跟单")
    type_into(page, "#next_follow_at", "2026-12-15 09:05")
    page.click("#content")  # the picker closes by an outside click
    assert page.input_value("#followed_at") == "2026-12-08 10:00:00"
    assert page.input_value("#next_follow_at") == "2026-12-15 09:05"
    save(page, "followup")

    # an appointment: the status starts on 待办, so it becomes a reminder
    page.goto(f"{live_server}/admin/appointment/new/?client_id={client.id}")
    type_into(page, "#scheduled_at", "2026-12-08 10:00")
    type_into(page, "#remind_at", "2026-12-08 09:30:00")
    page.fill("#content", "键盘输入的预约")
    assert page.locator("#status option:checked").inner_text().strip() == "待办"
    save(page, "appointment")

    # a contract: plain dates
    page.goto(f"{live_server}/admin/contract/new/?client_id={client.id}")
    page.fill("#number", "HT-KEYBOARD-1")
    page.fill("#name", "键盘输入的合同")
    type_into(page, "#starts_on", "2026-12-08")
    type_into(page, "#ends_on", "2027-12-07")
    page.click("#name")
    page.fill("#amount", "1234.50")
    save(page, "contract")

    # a value picked with the picker is written (only then)
    page.goto(f"{live_server}/admin/appointment/new/?client_id={client.id}")
    type_into(page, "#scheduled_at", "2026-12-20 14:00")
    page.click("#remind_at")
    assert page.input_value("#remind_at") == ""  # opening the picker writes nothing
    picker(page).locator("td.available:not(.off)", has_text=re.compile(r"^19$")).first.click()
    picker(page).locator("button.applyBtn").click()
    picked = page.input_value("#remind_at")
    assert picked.startswith("2026-12-19 "), picked

    assert not errors, errors
    db_session.expire_all()
    followup = db_session.execute(select(FollowUp).where(FollowUp.content == "键盘输入的跟单")).scalar_one()
    assert local(followup.followed_at) == datetime(2026, 12, 8, 10, 0, 0)
    assert local(followup.next_follow_at) == datetime(2026, 12, 15, 9, 5)
    appointment = db_session.execute(select(Appointment).where(Appointment.content == "键盘输入的预约")).scalar_one()
    assert (local(appointment.scheduled_at), local(appointment.remind_at)) == (
        datetime(2026, 12, 8, 10, 0),
        datetime(2026, 12, 8, 9, 30),
    )
    assert appointment.status == "待办"
    contract = db_session.execute(select(Contract).where(Contract.number == "HT-KEYBOARD-1")).scalar_one()
    assert (contract.starts_on, contract.ends_on) == (date(2026, 12, 8), date(2027, 12, 7))
