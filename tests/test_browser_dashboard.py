"""Browser test of the dashboard (headless Chromium, the app's strict CSP): an executive
opens /admin/, sees the KPI cards and the two charts drawn, clicks a stage of the funnel
(an SVG path) and lands on the opportunity list filtered to that stage's open
opportunities. The screenshot goes into tmp_path, or docs/ when CRM_DOCS_SCREENSHOTS=1
(docs/dashboard.png itself is taken on a seed-demo database, see docs/dashboard.md)."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest

from tests.conftest import log_in, screenshot_folder, serving, shot

#: (stage index in the sort order, title, status) — two open in the second stage, one closed
OPPORTUNITIES = [
    (0, "看板测试：第一阶段", "assigned"),
    (1, "看板测试：第二阶段甲", "assigned"),
    (1, "看板测试：第二阶段乙", "unassigned"),
    (1, "看板测试：第二阶段已归档", "archived"),
]


@pytest.fixture
def dashboard_server(app):
    from sqlalchemy import select

    from models import db
    from models.lookups import SalesStage
    from tests.factories import make_opportunity

    with app.app_context():
        session = db.session
        stages = session.execute(select(SalesStage).order_by(SalesStage.sort_order, SalesStage.id)).scalars().all()
        for index, title, status in OPPORTUNITIES:
            opportunity = make_opportunity(
                session,
                created_by="account_manager",
                assigned_to="account_manager" if status == "assigned" else None,
                stage_name=stages[index].name,
                title=title,
                expected_amount=Decimal("1000.00"),
            )
            opportunity.status = status
        session.commit()
        second = stages[1].id
        session.remove()
    with serving(app) as base:
        yield base, second


def stage_paths(page):
    """The funnel's stage shapes (SVG paths larger than a legend item), top to bottom."""
    boxes = []
    for path in page.locator("#chart-funnel [data-crm-chart] svg path").all():
        box = path.bounding_box()
        if box and box["width"] > 60 and box["height"] > 30:
            boxes.append((box["y"], path, box))
    return [(path, box) for _, path, box in sorted(boxes, key=lambda item: item[0])]


def test_an_executive_clicks_a_funnel_stage_and_lands_on_its_opportunities(dashboard_server, zh_page, tmp_path):
    base, second = dashboard_server
    page, watch = zh_page
    log_in(page, base, "executive")
    page.wait_for_selector("#kpi-opportunities")
    page.wait_for_selector("#chart-funnel [data-crm-chart] svg path", state="attached")
    page.wait_for_selector("#chart-orders [data-crm-chart] svg", state="attached")
    assert "待我处理" in page.locator("#waiting-for-me").inner_text()
    shot(page, screenshot_folder(tmp_path) / "dashboard-test.png", full_page=True)

    page.locator("#chart-funnel").scroll_into_view_if_needed()  # below the fold with more cards
    stages = stage_paths(page)
    assert len(stages) == 2, [box for _, box in stages]  # the stages with open opportunities
    path, box = stages[1]
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_url("**/admin/opportunity/**")
    query = parse_qs(urlparse(page.url).query)
    assert [int(v) for k, v in ((k, v[0]) for k, v in query.items()) if k.endswith("sales_stage_equals")] == [second]
    page.wait_for_selector("table.model-list")
    rows = page.locator("table.model-list tbody tr").all_inner_texts()
    titles = sorted(title for _, title, _ in OPPORTUNITIES if title in " ".join(rows))
    assert titles == ["看板测试：第二阶段乙", "看板测试：第二阶段甲"]
    watch.assert_clean()
