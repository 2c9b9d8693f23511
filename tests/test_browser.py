"""End-to-end browser tests: headless Debian Chromium (Playwright) against the real app,
served on a localhost port with CSRF ON, under the app's strict Content-Security-Policy.

Run with CRM_REQUIRE_BROWSER=1 to turn a missing Chromium into a failure (CI); without it
the tests skip. test_docs_screenshots writes docs/login.png and docs/user-list.png only
when CRM_DOCS_SCREENSHOTS=1 (otherwise into tmp_path, so CI never modifies the repo).

Any CSP violation fails the tests (KNOWN_CSP_BUGS lists tolerated ones: none)."""

from __future__ import annotations

import re

from tests.conftest import PASSWORD, TIMEOUT_MS, PageWatch, list_table, log_in, screenshot_folder, shot


# --------------------------------------------------------------------------- helpers
def row_of(page, text: str):
    return list_table(page).locator("tbody tr", has_text=text)


def tab(page, label: str):
    """A list/create tab by its exact label (创建 is also the title prefix of 创建新记录)."""
    return page.locator(".nav-tabs a", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))


def create_lookup(page, base: str, endpoint: str, name: str) -> None:
    """Create one lookup value through the real create form (CSRF token included)."""
    page.goto(f"{base}/admin/{endpoint}/")
    tab(page, "创建").click()
    page.wait_for_url(re.compile(rf"/admin/{endpoint}/new/"))
    page.fill("#name", name)
    page.click('input[type="submit"][value="保存"]')
    page.wait_for_url(re.compile(rf"/admin/{endpoint}/(\?.*)?$"))
    assert row_of(page, name).count() == 1, f"{name!r} not in the list after saving"


def expect_gone(page, text: str) -> None:
    """The list no longer shows `text` (waits for the post-delete redirect to render)."""
    page.wait_for_function(
        """t => { const tb = document.querySelector('table.model-list tbody');
                  return tb && !tb.innerText.includes(t); }""",
        arg=text,
        timeout=TIMEOUT_MS,
    )
    assert row_of(page, text).count() == 0


def open_lookups_menu(page):
    """Open the navbar's 数据字典 (Lookups) dropdown; return its 产品分类/行业 link."""
    page.locator("nav a.dropdown-toggle", has_text=re.compile(r"^\s*数据字典\s*$")).click()
    link = page.locator('nav a.dropdown-item[href="/admin/trade/"]')
    assert link.is_visible(), "the 数据字典 dropdown did not open (bootstrap JS not running?)"
    assert link.inner_text().strip() == "产品分类/行业"
    return link


# --------------------------------------------------------------------------- tests
def test_admin_flow(csrf_server, zh_page, tmp_path):
    page, watch = zh_page
    base = csrf_server
    name = "测试行业-浏览器"

    # 1. the login page
    page.goto(f"{base}/login")
    assert page.locator("#login-submit").is_visible()
    shot(page, tmp_path / "01-login.png")

    # 2. log in → the dashboard with the welcome text and the user's name
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{base}/admin/")
    welcome = page.locator("#welcome").inner_text()
    assert "欢迎" in welcome and "测试admin" in welcome, welcome
    shot(page, tmp_path / "02-dashboard.png")

    # 3. navbar: 数据字典 → 产品分类/行业 (/admin/trade/)
    open_lookups_menu(page).click()
    page.wait_for_url(f"{base}/admin/trade/")
    assert list_table(page).is_visible()
    shot(page, tmp_path / "03-trade-list.png")

    # 4. 创建 → fill the name → 保存 → back on the list, with the new row
    tab(page, "创建").click()
    page.wait_for_url(re.compile(r"/admin/trade/new/"))
    page.fill("#name", name)
    shot(page, tmp_path / "04-trade-create.png")
    page.click('input[type="submit"][value="保存"]')
    page.wait_for_url(re.compile(r"/admin/trade/(\?.*)?$"))
    assert row_of(page, name).count() == 1
    shot(page, tmp_path / "05-trade-created.png")

    assert "名称" in list_table(page).locator("thead").inner_text()

    # 5. switch to English through the navbar language menu
    page.click("#lang-menu")
    page.locator("#lang-en").click()
    page.wait_for_url(re.compile(r"lang=en"))
    headers = list_table(page).locator("thead").inner_text()
    assert "Name" in headers, headers
    assert tab(page, "Create").count() == 1 and tab(page, "创建").count() == 0
    assert row_of(page, name).count() == 1
    assert page.locator("#lang-menu").inner_text().strip() == "English"
    assert page.locator("nav a.dropdown-toggle", has_text="Lookups").count() == 1
    shot(page, tmp_path / "06-english.png")

    # 6. log out through the user menu (a CSRF-protected POST form)
    page.click("#user-menu")
    page.locator("#logout").click()
    page.wait_for_url(re.compile(r"/login(\?.*)?$"))
    assert page.locator("#login-submit").is_visible()
    shot(page, tmp_path / "07-logged-out.png")
    page.goto(f"{base}/admin/trade/")
    assert "/login" in page.url, "still logged in after logging out"

    watch.assert_clean()


def test_row_delete_and_bulk_action_buttons_work_under_csp(csrf_server, zh_page, tmp_path):
    page, watch = zh_page
    base = csrf_server

    def accept(dialog):
        watch.dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)

    log_in(page, base, "admin")
    single, bulk_a, bulk_b = "浏览器删除-单条", "浏览器删除-批量甲", "浏览器删除-批量乙"
    for value in (single, bulk_a, bulk_b):
        create_lookup(page, base, "followup_type", value)

    # the row's trash button: data-crm-confirm (static/crm.js) → confirm() → POST delete/
    row_of(page, single).locator("form button").click()
    expect_gone(page, single)
    assert len(watch.dialogs) == 1, watch.dialogs
    assert row_of(page, bulk_a).count() == 1 and row_of(page, bulk_b).count() == 1
    shot(page, tmp_path / "row-deleted.png")

    # bulk: tick two rows → 选中的 (With selected) → 删除 → confirm → both gone
    for value in (bulk_a, bulk_b):
        row_of(page, value).locator("input.action-checkbox").check()
    toggle = page.locator("a.dropdown-toggle", has_text=re.compile(r"^\s*选中的\s*$"))
    assert toggle.count() == 1, "no 选中的 (With selected) menu in the list page"
    toggle.click()
    action = page.locator('a[data-crm-action="delete"]')
    assert action.is_visible(), "the 选中的 dropdown did not open"
    assert action.inner_text().strip() == "删除"
    action.click()
    expect_gone(page, bulk_a)
    expect_gone(page, bulk_b)
    assert len(watch.dialogs) == 2, watch.dialogs
    assert page.url.startswith(f"{base}/admin/followup_type/")
    shot(page, tmp_path / "bulk-deleted.png")

    watch.assert_clean()


def test_pages_have_no_csp_violations(csrf_server, zh_page):
    """No CSP violation at all on the main pages and controls, and the boolean inline
    editor (x-editable, is_active) offers its two options without a bogus request."""
    page, watch = zh_page
    base = csrf_server
    log_in(page, base, "admin")
    open_lookups_menu(page).click()
    page.wait_for_url(f"{base}/admin/trade/")
    page.locator("a.dropdown-toggle", has_text=re.compile(r"^\s*选中的\s*$")).click()
    page.keyboard.press("Escape")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/static/" not in r.url else None)
    list_table(page).locator('tbody tr a[data-role="x-editable-boolean"]').first.click()
    page.wait_for_selector(".select2-results li")
    options = page.locator(".select2-results li").all_inner_texts()
    assert [o.strip() for o in options] == ["否", "是"], (options, requests)
    assert not requests, f"the boolean editor fetched its options from {requests}"
    page.goto(f"{base}/admin/trade/new/")
    watch.assert_clean(tolerate={})


def test_docs_screenshots(csrf_server, browser, tmp_path):
    """1366x900 screenshots: the login page for the docs, and the user list (admin, Chinese;
    docs/user-list.png is taken from demo data in test_browser_customers).
    Writes into docs/ only with CRM_DOCS_SCREENSHOTS=1, else into tmp_path."""
    out = screenshot_folder(tmp_path)
    base = csrf_server
    context = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        watch = PageWatch(page)
        page.goto(f"{base}/login?lang=zh_CN")
        page.wait_for_load_state("networkidle")
        login_png = shot(page, out / "login.png")

        page.fill("#username", "admin")
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_url(f"{base}/admin/")
        page.goto(f"{base}/admin/user/?lang=zh_CN")
        page.wait_for_load_state("networkidle")
        assert "测试clerk" in list_table(page).inner_text()
        assert page.locator("#lang-menu").inner_text().strip() == "中文"
        users_png = shot(page, tmp_path / "user-list-test-users.png")  # docs/ gets the demo one
        assert not watch.page_errors, watch.page_errors
    finally:
        context.close()
    for png in (login_png, users_png):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
