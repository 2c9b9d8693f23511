"""End-to-end browser tests of the client pages: headless Debian Chromium (Playwright)
against the real app on a localhost port, CSRF ON, under the app's strict CSP.

test_clerk_creates_client_with_contacts_and_follow_up is the issue's acceptance test: a
clerk creates a client with two inline contacts and a follow-up, finds it by the second
contact's mobile, opens its details page. test_docs_customer_screenshots writes
docs/client-list.png, client-details.png, client-form.png and user-list.png (demo data,
admin, Chinese, 1366x900) only when CRM_DOCS_SCREENSHOTS=1, else into tmp_path.

Elements are located by id / name, not by their (translated) labels."""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select

from tests.conftest import (
    PASSWORD,
    TIMEOUT_MS,
    PageWatch,
    list_table,
    log_in,
    make_app,
    screenshot_folder,
    serving,
    shot,
)

CLIENT = "浏览器测试科技有限公司"
MOBILES = ("13812345671", "13812345672")
FOLLOW_UP = "电话沟通：介绍新产品，客户有兴趣"


@contextmanager
def app_session(database_url, tmp_path):
    """The session of a separate set-up app on the same database."""
    from models import db

    setup_app = make_app(database_url, tmp_path)
    with setup_app.app_context():
        try:
            yield db.session
        finally:
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def csrf_server(csrf_server, db_session):
    """conftest's csrf_server (CSRF ON), plus decoy clients the clerk can see whose mobiles
    resemble the ones the test types, so the search must filter."""
    from tests.factories import add_children, make_client

    make_client(db_session, "clerk", name="相似号码贸易有限公司", contact_mobile="13812345679")
    decoy = make_client(db_session, "am_team", name="另一家咨询有限公司", contact_mobile="13912345672")
    add_children(db_session, decoy, mobile="13812345670")
    db_session.commit()
    return csrf_server


def inline_rows(page, field: str):
    """The inline sub-forms added so far under `field` (linkmans, followups, ...)."""
    return page.locator(f"#{field} > .inline-field-list > .inline-field")


def body_rows(table):
    return table.locator("tbody tr")


# --------------------------------------------------------------------------- tests
def test_clerk_creates_client_with_contacts_and_follow_up(csrf_server, zh_page, tmp_path):  # noqa: F811
    page, watch = zh_page
    base = csrf_server
    log_in(page, base, "clerk")

    # the create form: company and main contact (area is a select2 over <select id="area">)
    page.goto(f"{base}/admin/client/new/")
    page.wait_for_load_state("networkidle")
    page.fill("#name", CLIENT)
    area = page.locator("#area option", has_text=re.compile(r"^\s*上海\s*$")).get_attribute("value")
    page.select_option("#area", area, force=True)  # select2 hides the <select>
    assert page.locator("#s2id_area .select2-chosen").inner_text().strip() == "上海", (
        "select2 did not pick up the area chosen on the underlying <select>"
    )
    page.fill("#address", "上海市徐汇区漕溪北路88号")
    page.fill("#phone", "021-64871234")
    page.fill("#contact_name", "王主任")
    page.fill("#contact_mobile", "13998765432")

    # two contacts inline
    for _ in MOBILES:
        page.click("#linkmans-button")
    assert inline_rows(page, "linkmans").count() == 2
    contacts = [("李明", "采购经理", "男", MOBILES[0]), ("赵丽", "财务总监", "女", MOBILES[1])]
    for i, (name, position, gender, mobile) in enumerate(contacts):
        page.fill(f"#linkmans-{i}-name", name)
        page.fill(f"#linkmans-{i}-position", position)
        page.select_option(f"#linkmans-{i}-gender", gender)
        page.fill(f"#linkmans-{i}-mobile", mobile)

    # one follow-up inline: type (select2), time (datetime picker text input), content
    page.click("#followups-button")
    assert inline_rows(page, "followups").count() == 1
    follow_type = page.locator("#followups-0-type option").nth(1)
    type_name = follow_type.inner_text().strip()
    page.select_option("#followups-0-type", follow_type.get_attribute("value"), force=True)
    page.fill("#followups-0-followed_at", "2026-03-02 10:30:00")
    page.click("#followups-0-content")  # closes the date picker, which keeps the typed time
    page.fill("#followups-0-content", FOLLOW_UP)
    assert page.input_value("#followups-0-followed_at") == "2026-03-02 10:30:00"
    assert page.locator(".daterangepicker:visible").count() == 0
    shot(page, tmp_path / "01-client-form.png", full_page=True)

    page.locator('form.admin-form input[type="submit"].btn-primary').click()
    page.wait_for_url(re.compile(r"/admin/client/(\?.*)?$"))
    assert page.locator(".alert-danger").count() == 0, page.locator(".alert-danger").all_inner_texts()
    shot(page, tmp_path / "02-client-saved.png")

    # search by the second contact's mobile → exactly that client
    assert body_rows(list_table(page)).count() == 3  # the new client and the two decoys
    page.fill('input[name="search"]', MOBILES[1])
    page.press('input[name="search"]', "Enter")
    page.wait_for_url(re.compile(r"[?&]search=" + MOBILES[1]))
    rows = body_rows(list_table(page))
    assert rows.count() == 1 and CLIENT in rows.first.inner_text(), rows.all_inner_texts()
    shot(page, tmp_path / "03-client-search.png")

    # its details page: both contacts and the follow-up
    rows.first.locator('a[href*="/admin/client/details/"]').click()
    page.wait_for_url(re.compile(r"/admin/client/details/"))
    assert CLIENT in page.locator("table").first.inner_text()
    linkmans = body_rows(page.locator("#linkmans + table"))
    assert linkmans.count() == 2, linkmans.all_inner_texts()
    for name, position, gender, mobile in contacts:
        cells = [c.strip() for c in linkmans.filter(has_text=mobile).locator("td").all_inner_texts()]
        assert cells[:4] == [name, position, gender, mobile], cells
    followups = body_rows(page.locator("#followups + table"))
    assert followups.count() == 1, followups.all_inner_texts()
    text = followups.first.inner_text()
    assert FOLLOW_UP in text and type_name in text and "2026-03-02 10:30" in text, text
    assert "测试clerk" in text, f"the follow-up should be by the clerk who saved it: {text}"
    shot(page, tmp_path / "04-client-details.png", full_page=True)

    watch.assert_clean()


def _demo_database(tmp_path) -> str:
    """A fresh database as `make run` leaves it: migrated, seeded, an admin, then seed-demo."""
    from flask_migrate import upgrade

    from models import db
    from seed import make_user, seed_reference
    from seed.demo import seed_demo

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    app = make_app(url, tmp_path)
    with app.app_context():
        upgrade()
        seed_reference(echo=lambda *a, **k: None)
        make_user("admin", "admin", PASSWORD, name="系统管理员")
        seed_demo(2026, PASSWORD, clients=120)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return url


def _showcase_client(url, tmp_path) -> tuple[int, str]:
    """A demo client with several contacts, follow-ups and contracts."""
    from models.customers import Client, Contract, FollowUp, Linkman

    with app_session(url, tmp_path) as s:

        def per_client(model):
            return select(model.client_id, func.count().label("n")).group_by(model.client_id).subquery()

        lm, fu, ct = per_client(Linkman), per_client(FollowUp), per_client(Contract)
        row = s.execute(
            select(Client.id, Client.name)
            .join(lm, lm.c.client_id == Client.id)
            .join(fu, fu.c.client_id == Client.id)
            .join(ct, ct.c.client_id == Client.id)
            .where(lm.c.n >= 2, fu.c.n >= 2, Client.is_deleted.is_(False))
            .order_by((lm.c.n + fu.c.n + ct.c.n).desc(), Client.id)
        ).first()
        assert row, "no demo client with contacts, follow-ups and contracts"
        return row.id, row.name


def test_docs_customer_screenshots(browser, tmp_path):
    """1366x900 screenshots for the docs (admin, Chinese, demo data): the client list and
    the user list, and the whole client details page and form. Into docs/ only with
    CRM_DOCS_SCREENSHOTS=1 (docs/user-list.png replaces the one of tests.test_browser,
    which shows the test users)."""
    out = screenshot_folder(tmp_path)
    url = _demo_database(tmp_path)
    client_id, client_name = _showcase_client(url, tmp_path)
    context = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    pngs = []
    try:
        with serving(make_app(url, tmp_path, WTF_CSRF_ENABLED=True)) as base:
            page = context.new_page()
            watch = PageWatch(page)
            log_in(page, base, "admin")

            def visit(path: str):
                page.goto(f"{base}{path}{'&' if '?' in path else '?'}lang=zh_CN")
                page.wait_for_load_state("networkidle")
                assert page.locator("#lang-menu").inner_text().strip() == "中文"

            visit("/admin/client/")
            assert body_rows(list_table(page)).count() == 20
            pngs.append(shot(page, out / "client-list.png"))

            visit(f"/admin/client/details/?id={client_id}")
            assert client_name in page.locator("table").first.inner_text()
            for section in ("linkmans", "followups", "contracts"):
                assert body_rows(page.locator(f"#{section} + table")).count() >= 1
            pngs.append(shot(page, out / "client-details.png", full_page=True))

            visit("/admin/client/new/")
            assert page.locator("fieldset.crm-section .crm-grid-2").count() >= 2
            pngs.append(shot(page, out / "client-form.png", full_page=True))

            visit("/admin/user/")
            users = list_table(page).inner_text()
            assert "系统管理员" in users and "测试" not in users
            pngs.append(shot(page, out / "user-list.png"))
            watch.assert_clean()
    finally:
        context.close()
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
