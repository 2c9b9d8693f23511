"""Locale selection and the Chinese/English catalogues (SPEC §2.3: ``?lang=`` switches and is
remembered, else Accept-Language, else zh_CN; every label and menu exists in both languages).

The .mo files are build products: run ``pybabel compile -d translations`` (``make translations``)
before these tests.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
ZH_PO = TRANSLATIONS / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
EN_PO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
POT = TRANSLATIONS / "messages.pot"

PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")

# SPEC §4.2: endpoint → the Chinese menu name of each lookup table.
LOOKUP_MENU_ZH = {
    "trade": "产品分类/行业", "followup_type": "跟单类型", "client_type": "客户类型",
    "client_source": "客户来源", "star_rating": "星级评定", "position": "职位",
    "contract_type": "合同类型", "revenue_band": "年营业额", "capital_band": "注册资金",
    "company_size": "企业规模", "business_model": "经营模式", "area": "所属地区",
    "appointment_type": "预约类型", "sales_stage": "销售阶段", "service_type": "服务类型",
    "payment_method": "回款方式", "invoice_type": "发票类型", "campaign_type": "活动类型",
}


# ----------------------------------------------------------------------------- helpers
def html_lang(response) -> str | None:
    match = re.search(r'<html[^>]*\slang="([^"]+)"', response.get_data(as_text=True))
    return match.group(1) if match else None


def title(response) -> str:
    match = re.search(r"<title>(.*?)</title>", response.get_data(as_text=True), re.S)
    assert match, "page has no <title>"
    return " ".join(match.group(1).split())


def menu_item(response, endpoint: str) -> str:
    """The text of the navigation entry that links to /admin/<endpoint>/."""
    match = re.search(rf'<a class="dropdown-item[^"]*" href="/admin/{endpoint}/">(.*?)</a>',
                      response.get_data(as_text=True), re.S)
    assert match, f"no menu entry for /admin/{endpoint}/"
    return " ".join(match.group(1).split())


def admin_tabs(response) -> tuple[str, str]:
    """Flask-Admin's own "List (n)" and "Create" tabs of a list page."""
    html = response.get_data(as_text=True)
    listed = re.search(r'<a href="javascript:void\(0\)" class="nav-link active">([^<(]+)\(\d+\)</a>',
                       html)
    create = re.search(r'<a href="/admin/[^"]+/new/[^"]*"[^>]*class="nav-link">([^<]+)</a>', html)
    assert listed and create, "list page without List/Create tabs"
    return listed.group(1).strip(), create.group(1).strip()


def column_headers(response) -> list[str]:
    """The column labels of a Flask-Admin list table (sortable and plain headers)."""
    html = response.get_data(as_text=True)
    table = html[html.index("<thead>"):html.index("</thead>")]
    cells = re.findall(r"<th[^>]*>(.*?)</th>", table, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in cells]


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def messages(po_path: Path):
    with po_path.open("rb") as f:
        catalog = read_po(f)
    return catalog, [m for m in catalog if m.id]


# ------------------------------------------------------------------- locale selection
def test_default_locale_is_chinese(app):
    response = app.test_client().get("/login")
    assert response.status_code == 200
    assert html_lang(response) == "zh-CN"


def test_default_login_page_text_is_chinese(app):
    response = app.test_client().get("/login")
    html = response.get_data(as_text=True)
    assert title(response) == "登录 - 客户关系管理系统"
    assert ">员工帐号</label>" in html and ">密码</label>" in html
    assert "Log in" not in html and "Username" not in html


@pytest.mark.parametrize("header, lang", [
    ("en", "en"),
    ("en-US,en;q=0.9", "en"),
    ("de, en;q=0.5", "en"),
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
    ("fr", "zh-CN"),
    ("fr-FR, ja;q=0.5", "zh-CN"),
])
def test_accept_language_decides(app, header, lang):
    response = app.test_client().get("/login", headers={"Accept-Language": header})
    assert response.status_code == 200
    assert html_lang(response) == lang
    html = response.get_data(as_text=True)
    if lang == "en":
        assert title(response) == "Log in - CRM back office"
        assert ">Username</label>" in html and ">Password</label>" in html


@pytest.mark.parametrize("header", ["fr", "zh-CN,zh;q=0.9,en;q=0.8"])
def test_accept_language_chinese_text(app, header):
    response = app.test_client().get("/login", headers={"Accept-Language": header})
    assert title(response) == "登录 - 客户关系管理系统"


def test_lang_parameter_is_remembered_in_the_session(app):
    client = app.test_client()
    # ?lang wins over the browser's preference ...
    response = client.get("/login?lang=en", headers={"Accept-Language": "zh-CN"})
    assert html_lang(response) == "en"
    assert title(response) == "Log in - CRM back office"
    # ... and is remembered for the next requests without the parameter
    with client.session_transaction() as session:
        assert session["lang"] == "en"
    response = client.get("/login", headers={"Accept-Language": "zh-CN"})
    assert html_lang(response) == "en"
    assert title(response) == "Log in - CRM back office"
    # switching back
    response = client.get("/login?lang=zh_CN", headers={"Accept-Language": "en"})
    assert html_lang(response) == "zh-CN"
    response = client.get("/login", headers={"Accept-Language": "en"})
    assert html_lang(response) == "zh-CN"
    with client.session_transaction() as session:
        assert session["lang"] == "zh_CN"
    # an unknown code changes nothing
    response = client.get("/login?lang=fr", headers={"Accept-Language": "en"})
    assert html_lang(response) == "zh-CN"
    with client.session_transaction() as session:
        assert session["lang"] == "zh_CN"


def test_language_links_keep_the_page(app):
    html = app.test_client().get("/login?next=/admin/user/").get_data(as_text=True)
    assert 'id="lang-en"' in html and 'id="lang-zh"' in html
    en_link = re.search(r'<a href="([^"]+)" id="lang-en">', html).group(1)
    assert en_link.startswith("/login?") and "lang=en" in en_link and "next=" in en_link


# ---------------------------------------------------------------- Flask-Admin pages
def test_admin_list_flask_admin_strings_in_chinese(client_as):
    client = client_as("admin")
    response = client.get("/admin/user/?lang=zh_CN")
    assert response.status_code == 200
    assert admin_tabs(response) == ("列表", "创建")
    html = response.get_data(as_text=True)
    assert "添加筛选器" in html  # Flask-Admin's "Add Filter"


def test_admin_user_list_labels_in_chinese(client_as):
    client = client_as("admin")
    response = client.get("/admin/user/?lang=zh_CN")
    headers = column_headers(response)
    for label in ("员工帐号", "员工姓名", "部门", "角色", "手机", "启用", "客户数量", "最后登录时间"):
        assert label in headers, (label, headers)
    assert "Username" not in headers and "Full name" not in headers
    assert title(response) == "系统管理 - 用户 - 客户关系管理系统"
    assert menu_item(response, "user") == "用户"


def test_admin_user_list_in_english(client_as):
    client = client_as("admin")
    response = client.get("/admin/user/?lang=en")
    assert response.status_code == 200
    assert admin_tabs(response) == ("List", "Create")
    headers = column_headers(response)
    for label in ("Username", "Full name", "Department", "Role", "Clients", "Last login"):
        assert label in headers, (label, headers)
    assert title(response) == "System - Users - CRM back office"
    # remembered: the next admin page stays English
    response = client.get("/admin/role/")
    assert admin_tabs(response) == ("List", "Create")
    assert "Role name" in column_headers(response)


@pytest.mark.parametrize("endpoint", sorted(LOOKUP_MENU_ZH))
def test_lookup_menu_names_in_chinese(client_as, endpoint):
    client = client_as("admin")
    response = client.get(f"/admin/{endpoint}/?lang=zh_CN")
    assert response.status_code == 200
    name = LOOKUP_MENU_ZH[endpoint]
    assert menu_item(response, endpoint) == name
    assert title(response) == f"数据字典 - {name} - 客户关系管理系统"


def test_lookup_menu_covers_every_lookup():
    from models.lookups import LOOKUPS
    assert set(LOOKUP_MENU_ZH) == set(LOOKUPS)


@pytest.mark.parametrize("endpoint", sorted(LOOKUP_MENU_ZH))
def test_lookup_pages_in_english(app, client_as, endpoint):
    from models.lookups import LOOKUPS
    with app.test_request_context("/?lang=en"):
        name = str(LOOKUPS[endpoint].__label__)
    assert name.isascii()
    client = client_as("admin")
    response = client.get(f"/admin/{endpoint}/?lang=en")
    assert response.status_code == 200
    assert menu_item(response, endpoint) == name
    assert title(response) == f"Lookups - {name} - CRM back office"
    assert admin_tabs(response) == ("List", "Create")


# ------------------------------------------------------------------------- catalogues
def test_chinese_catalogue_is_complete():
    catalog, entries = messages(ZH_PO)
    assert not catalog.fuzzy, "the zh_CN catalogue header is marked fuzzy"
    missing, fuzzy, bad_placeholders = [], [], []
    for message in entries:
        ids = message.id if isinstance(message.id, (list, tuple)) else (message.id,)
        strings = message.string if isinstance(message.string, (list, tuple)) else (message.string,)
        if message.fuzzy:
            fuzzy.append(ids[0])
        if not strings or not strings[0] or not strings[0].strip():
            missing.append(ids[0])
            continue
        for text in strings:
            if text and placeholders(text) != placeholders(ids[0]):
                bad_placeholders.append((ids[0], text))
    assert not missing, f"{len(missing)} messages without a Chinese translation: {missing}"
    assert not fuzzy, f"fuzzy (ignored at run time): {fuzzy}"
    assert not bad_placeholders, f"placeholders differ between msgid and msgstr: {bad_placeholders}"


def test_catalogues_cover_the_template():
    _, template = messages(POT)
    wanted = {m.id if isinstance(m.id, str) else m.id[0] for m in template}
    for po in (ZH_PO, EN_PO):
        catalog, entries = messages(po)
        have = {m.id if isinstance(m.id, str) else m.id[0] for m in entries}
        assert not wanted - have, f"{po.relative_to(ROOT)} lacks {sorted(wanted - have)}"
        assert not [m.id for m in entries if m.fuzzy], f"fuzzy entries in {po.relative_to(ROOT)}"
        assert not catalog.fuzzy, f"{po.relative_to(ROOT)} header is marked fuzzy"


def test_english_catalogue_placeholders():
    _, entries = messages(EN_PO)
    for message in entries:
        if message.string and isinstance(message.string, str):
            assert placeholders(message.string) == placeholders(message.id), message.id


def test_compiled_catalogues_exist():
    for lang in ("zh_Hans_CN", "en"):
        mo = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.mo"
        assert mo.exists(), f"{mo} missing: run pybabel compile -d translations"


def test_flash_message_in_english(app):
    client = app.test_client()
    client.get("/login?lang=en")
    response = client.post("/login", data={"username": "nobody", "password": "x" * 10})
    assert response.status_code == 401
    assert "Unknown username or wrong password." in response.get_data(as_text=True)


def test_flash_message_in_chinese(app):
    client = app.test_client()
    response = client.post("/login?lang=zh_CN", data={"username": "nobody", "password": "x" * 10})
    assert response.status_code == 401
    assert "员工帐号或密码错误。" in response.get_data(as_text=True)
