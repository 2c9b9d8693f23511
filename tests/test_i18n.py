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
    "trade": "产品分类/行业",
    "followup_type": "跟单类型",
    "client_type": "客户类型",
    "client_source": "客户来源",
    "star_rating": "星级评定",
    "position": "职位",
    "contract_type": "合同类型",
    "revenue_band": "年营业额",
    "capital_band": "注册资金",
    "company_size": "企业规模",
    "business_model": "经营模式",
    "area": "所属地区",
    "appointment_type": "预约类型",
    "sales_stage": "销售阶段",
    "service_type": "服务类型",
    "payment_method": "回款方式",
    "invoice_type": "发票类型",
    "campaign_type": "活动类型",
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
    match = re.search(
        rf'<a class="dropdown-item[^"]*" href="/admin/{endpoint}/">(.*?)</a>', response.get_data(as_text=True), re.S
    )
    assert match, f"no menu entry for /admin/{endpoint}/"
    return " ".join(match.group(1).split())


def admin_tabs(response) -> tuple[str, str]:
    """Flask-Admin's own "List (n)" and "Create" tabs of a list page."""
    html = response.get_data(as_text=True)
    listed = re.search(r'<a href="javascript:void\(0\)" class="nav-link active">([^<(]+)\(\d+\)</a>', html)
    create = re.search(r'<a href="/admin/[^"]+/new/[^"]*"[^>]*class="nav-link">([^<]+)</a>', html)
    assert listed and create, "list page without List/Create tabs"
    return listed.group(1).strip(), create.group(1).strip()


def column_headers(response) -> list[str]:
    """The column labels of a Flask-Admin list table (sortable and plain headers)."""
    html = response.get_data(as_text=True)
    table = html[html.index("<thead>") : html.index("</thead>")]
    cells = re.findall(r"<th[^>]*>(.*?)</th>", table, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in cells]


def form_legends(response) -> list[str]:
    """The section titles (``<legend>``) of a CRM form."""
    html = response.get_data(as_text=True)
    return [" ".join(text.split()) for text in re.findall(r"<legend[^>]*>(.*?)</legend>", html, re.S)]


def form_labels(response) -> dict[str, str]:
    """Field id → its label text (without the required-field star)."""
    html = response.get_data(as_text=True)
    labels = {}
    for field, text in re.findall(r'<label for="([\w-]+)"[^>]*>(.*?)</label>', html, re.S):
        text = re.sub(r"<strong[^>]*>.*?</strong>|<[^>]+>|&nbsp;", " ", text, flags=re.S)
        labels[field] = " ".join(text.split())
    return labels


def section_titles(response) -> list[str]:
    """The ``<h5>`` titles of a details page (the client's contacts, follow-ups, ...)."""
    html = response.get_data(as_text=True)
    return [
        " ".join(re.sub(r"<[^>]+>", " ", t).replace("+", " ").split())
        for t in re.findall(r"<h5[^>]*>(.*?)</h5>", html, re.S)
    ]


def is_chinese(text: str) -> bool:
    return bool(re.search(r"[\u4e00-\u9fff]", text))


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


@pytest.mark.parametrize(
    "header, lang",
    [
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("de, en;q=0.5", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("fr", "zh-CN"),
        ("fr-FR, ja;q=0.5", "zh-CN"),
    ],
)
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
    assert "企业客户" not in headers  # the column is the number of clients, not the menu name
    assert title(response) == "系统管理 - 用户 - 客户关系管理系统"
    assert menu_item(response, "user") == "用户"


def test_admin_user_list_in_english(client_as):
    client = client_as("admin")
    response = client.get("/admin/user/?lang=en")
    assert response.status_code == 200
    assert admin_tabs(response) == ("List", "Create")
    headers = column_headers(response)
    for label in ("Username", "Full name", "Department", "Role", "Number of clients", "Last login"):
        assert label in headers, (label, headers)
    assert "Clients" not in headers  # "Clients" is the menu of the clients table
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


# ------------------------------------------------------------------ customers (§4.3)
# endpoint → (Chinese menu name, English menu name)
CUSTOMER_MENU = {
    "client": ("企业客户", "Clients"),
    "linkman": ("企业联系人", "Contacts"),
    "followup": ("跟单记录", "Follow-ups"),
    "appointment": ("预约记录", "Appointments"),
    "contract": ("企业合同", "Contracts"),
}
#: the client list columns (SPEC §4.3 "List"), in order, as the catalogues label them
CLIENT_COLUMNS_ZH = ["公司名称", "所属地区", "客户类型", "星级评定", "跟单人", "联系人", "常用手机", "最后更新时间"]
CLIENT_COLUMNS_EN = [
    "Company name",
    "Area",
    "Client type",
    "Star rating",
    "Owner",
    "Contact",
    "Usual mobile",
    "Updated at",
]
CLIENT_SECTIONS_ZH = ["企业信息", "主要联系人", "分类信息", "备注", "企业联系人、跟单记录和预约记录"]
CLIENT_SECTIONS_EN = ["Company", "Main contact", "Classification", "Notes", "Contacts, follow-ups and appointments"]


@pytest.mark.parametrize("endpoint", sorted(CUSTOMER_MENU))
def test_customer_menu_names(client_as, endpoint):
    zh, en = CUSTOMER_MENU[endpoint]
    client = client_as("admin")
    response = client.get(f"/admin/{endpoint}/?lang=zh_CN")
    assert response.status_code == 200
    assert menu_item(response, endpoint) == zh
    assert title(response) == f"客户管理 - {zh} - 客户关系管理系统"
    response = client.get(f"/admin/{endpoint}/?lang=en")
    assert menu_item(response, endpoint) == en
    assert title(response) == f"Customers - {en} - CRM back office"


@pytest.mark.parametrize(
    "lang, page_title, menu, tab, columns, absent",
    [
        ("zh_CN", "客户管理 - 企业客户 - 客户关系管理系统", "企业客户", "列表", CLIENT_COLUMNS_ZH, "客户数量"),
        ("en", "Customers - Clients - CRM back office", "Clients", "List", CLIENT_COLUMNS_EN, None),
    ],
)
def test_client_list_in_each_language(client_as, lang, page_title, menu, tab, columns, absent):
    response = client_as("admin").get(f"/admin/client/?lang={lang}")
    assert response.status_code == 200
    assert title(response) == page_title
    assert menu_item(response, "client") == menu
    assert f'class="nav-link active">{tab}' in response.get_data(as_text=True)
    headers = [h for h in column_headers(response) if h not in ("", "&nbsp;")]
    assert headers == columns
    if absent is not None:
        assert absent not in response.get_data(as_text=True)


def test_client_labels_match_the_catalogue(app):
    """The expected Chinese headers above are what the catalogue says for the English ones."""
    with app.test_request_context("/?lang=zh_CN"):
        from flask_babel import gettext

        assert [gettext(label) for label in CLIENT_COLUMNS_EN] == CLIENT_COLUMNS_ZH
        assert [gettext(label) for label in CLIENT_SECTIONS_EN] == CLIENT_SECTIONS_ZH
        assert [gettext(en) for zh, en in CUSTOMER_MENU.values()] == [zh for zh, en in CUSTOMER_MENU.values()]
        assert gettext("Customers") == "客户管理"
        assert gettext("Number of clients") == "客户数量"


def test_client_create_form_in_chinese(client_as):
    response = client_as("admin").get("/admin/client/new/?lang=zh_CN")
    assert response.status_code == 200
    assert form_legends(response) == CLIENT_SECTIONS_ZH
    labels = form_labels(response)
    expected = {
        "name": "公司名称",
        "uscc": "统一社会信用代码",
        "area": "所属地区",
        "address": "公司地址",
        "phone": "联系电话",
        "fax": "传真号码",
        "zip_code": "邮编",
        "website": "企业网站",
        "email": "电子邮件",
        "contact_name": "联系人",
        "contact_mobile": "常用手机",
        "contact_gender": "性别",
        "contact_position": "职位",
        "type": "客户类型",
        "star": "星级评定",
        "source": "客户来源",
        "trade": "产品分类",
        "size": "企业规模",
        "model": "经营模式",
        "revenue_band": "年营业额",
        "capital_band": "注册资金",
        "satisfaction": "满意度",
        "credit": "信用度",
        "main_business": "主营项目",
        "owner": "跟单人",
        "notes": "备注其它",
    }
    assert {field: labels.get(field) for field in expected} == expected
    untranslated = {field: text for field, text in labels.items() if text and not is_chinese(text)}
    assert not untranslated, f"form labels without Chinese: {untranslated}"


def test_client_create_form_in_english(client_as):
    response = client_as("admin").get("/admin/client/new/?lang=en")
    assert response.status_code == 200
    assert form_legends(response) == CLIENT_SECTIONS_EN
    labels = form_labels(response)
    assert (labels["name"], labels["area"], labels["type"], labels["owner"]) == (
        "Company name",
        "Area",
        "Client type",
        "Owner",
    )


def test_client_details_in_chinese(client_as, db_session):
    from tests.factories import add_children, make_client

    client_row = make_client(db_session, "admin", name="译文测试有限公司")
    add_children(db_session, client_row)
    db_session.commit()
    response = client_as("admin").get(f"/admin/client/details/?id={client_row.id}&lang=zh_CN")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "译文测试有限公司" in html
    assert section_titles(response)[:4] == ["企业联系人", "跟单记录", "预约记录", "企业合同"]
    for header in (
        "联系人姓名",
        "跟单时间",
        "跟单类型",
        "跟单内容",
        "下次跟进时间",
        "预约时间",
        "预约类型",
        "提醒时间",
        "预约内容",
        "状态",
        "合同编号",
        "合同名称",
        "合同金额",
    ):
        assert f"<th>{header}</th>" in html, header


def test_client_import_page_in_chinese(client_as):
    response = client_as("admin").get("/admin/client/import/?lang=zh_CN")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for text in ("导入客户", "上传并预览", "公司名称", "所属地区", "联系人", "* 为必填"):
        assert text in html, text
    assert "Upload and preview" not in html and "Company name" not in html


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


def test_model_labels_have_chinese_translations():
    """Every column/relationship label of the models has a Chinese msgstr. Labels built from a
    variable (e.g. ``_lookup(..., "Area")`` in models/customers.py) are not extracted by
    ``make messages``; their entries must not get lost from the catalogue."""
    from app import create_app
    from models import db

    create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x"})
    _, entries = messages(ZH_PO)
    translated = {m.id for m in entries if m.string and str(m.string).strip()}
    missing = set()
    for mapper in db.Model.registry.mappers:
        if mapper.class_.__module__ == "tests.probe_models":  # test-only tables (test_scope.py)
            continue
        infos = [column.info for column in mapper.class_.__table__.columns]
        infos += [prop.info for prop in mapper.relationships]
        infos += [prop.info for prop in mapper.column_attrs]
        for info in infos:
            label = info.get("label")
            if label is not None:
                msgid = getattr(label, "_args", (label,))[0]
                if msgid not in translated:
                    missing.add((mapper.class_.__name__, msgid))
    assert not missing, f"model labels without a Chinese translation: {sorted(missing)}"


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


@pytest.mark.parametrize(
    ("lang", "zip_message", "mobile_message"),
    [
        ("zh_CN", "须为 6 位数字的邮政编码", "须为大陆手机号"),
        ("en", "must be a postal code of exactly 6 digits", "must be a mainland mobile"),
    ],
)
def test_field_check_messages_in_the_users_language(client_as, lang, zip_message, mobile_message):
    """The field checkers' refusals (models/validators.py) on the client form speak the UI's language."""
    client = client_as("admin")
    client.get(f"/admin/client/?lang={lang}")
    response = client.post(
        "/admin/client/new/",
        data={
            "name": "语言校验有限公司",
            "address": "某地址",
            "phone": "010-12345678",
            "zip_code": "12ab",
            "contact_name": "某人",
            "contact_mobile": "123",
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert zip_message in html and mobile_message in html
    if lang == "zh_CN":
        assert "must be a" not in html
