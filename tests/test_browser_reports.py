"""Browser test of the reports (headless Chromium, zh-CN, the strict CSP), one session: an
executive opens 客户贡献分析, types the cut-offs 70 / 20 (C keeps the last 10 %) by
keyboard, applies them and sees the tier counts this test computes from its own orders;
types a start date into the report's date field (the forms' own field with its picker),
sees the figures change, and a bad date named on the page; downloads the PDF
(``expect_download``), renders its first page (``pdftoppm``) and finds the cut-offs and the
generation time in its text (``pdftotext``)."""

from __future__ import annotations

import re
import subprocess
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from tests.conftest import log_in, screenshot_folder, serving, shot

#: client → (order total in yuan, order date); the first one's order is in July
TOTALS = {"浏览甲": 400, "浏览乙": 200, "浏览丙": 150, "浏览丁": 100, "浏览戊": 50, "浏览己": 40, "浏览庚": 30}
TOTALS |= {"浏览辛": 20, "浏览壬": 10}
JULY = "浏览甲"


def tier_counts(totals, cut_a, cut_b) -> list[int]:
    """Clients in A, B, C: ranked by total, A while the share of those ranked before is
    below cut_a %, B below cut_a + cut_b %, else C (exact fractions)."""
    counts, before, grand = [0, 0, 0], Fraction(0), sum(totals.values())
    for total in sorted(totals.values(), reverse=True):
        share = before * 100 / grand
        counts[0 if share < cut_a else 1 if share < cut_a + cut_b else 2] += 1
        before += total
    return counts


@pytest.fixture
def report_server(app):
    from models import db
    from tests.factories import make_client, make_order, make_product

    with app.app_context():
        s = db.session
        product = make_product(s, "1.00")
        for name, total in TOTALS.items():
            client = make_client(s, "account_manager", name=f"{name}有限公司")
            day = date(2026, 7, 1) if name == JULY else date(2026, 8, 1)
            make_order(s, "account_manager", lines=[(product, 1, Decimal(total))], client=client, ordered_on=day)
        s.commit()
        s.remove()
    with serving(app) as base:
        yield base


def shown_tiers(page) -> list[int]:
    cells = page.locator('#report-table-1 tbody tr td[data-key="clients"]').all_inner_texts()
    return [int(text.strip()) for text in cells]


def type_into(page, selector: str, text: str) -> None:
    page.click(selector)
    page.keyboard.press("Control+A")
    page.keyboard.press("Backspace")
    page.keyboard.type(text)


def test_contribution_cut_offs_date_field_and_pdf(report_server, page_watch, tmp_path):
    base = report_server
    page, watch = page_watch
    log_in(page, base, "executive")
    page.goto(f"{base}/admin/reports/contribution/?date_from=2026-01-01&date_to=2026-11-30")
    assert shown_tiers(page) == tier_counts(TOTALS, 80, 15) == [4, 3, 2]

    type_into(page, "#cut_a", "70")
    type_into(page, "#cut_b", "20")
    page.click("#report-apply")
    page.wait_for_url(re.compile(r"cut_a=70"))
    assert shown_tiers(page) == tier_counts(TOTALS, 70, 20) == [3, 2, 4]

    # the date field is the forms' own: a text field with the picker, typed by keyboard
    field = page.locator("#date_from")
    assert field.get_attribute("type") == "text" and field.get_attribute("data-role") == "crm-date"
    type_into(page, "#date_from", "2026-07-15")
    page.click("#report-title")  # a click outside closes the picker; what was typed stays
    assert field.input_value() == "2026-07-15"
    page.click("#report-apply")
    page.wait_for_url(re.compile(r"date_from=2026-07-15"))
    later = {name: total for name, total in TOTALS.items() if name != JULY}
    assert shown_tiers(page) == tier_counts(later, 70, 20) == [3, 2, 3]
    folder = screenshot_folder(tmp_path)
    shot(page, folder / "report-contribution-test.png", full_page=True)

    type_into(page, "#date_to", "2026-13-01")
    page.click("#report-title")
    page.click("#report-apply")
    page.wait_for_selector(".crm-filter-error")
    assert "2026-13-01" in page.locator(".crm-filter-error").first.inner_text()
    type_into(page, "#date_to", "2026-11-30")
    page.click("#report-title")
    page.click("#report-apply")
    page.wait_for_url(re.compile(r"date_to=2026-11-30"))

    with page.expect_download() as info:
        page.click("#download-pdf")
    pdf = tmp_path / "contribution.pdf"
    info.value.save_as(pdf)
    subprocess.run(["pdftoppm", "-png", "-f", "1", "-l", "1", "-r", "60", str(pdf), str(tmp_path / "page")], check=True)
    assert list(tmp_path.glob("page*.png")) and next(tmp_path.glob("page*.png")).stat().st_size > 1000
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    assert "70%" in text and "20%" in text and "2026-07-15" in text
    assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", text), text[:500]
    watch.assert_clean()
