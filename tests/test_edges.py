"""Issue 8, items 9–13: bad input answered 400/404 (never a 500), refusals that say so
(403 for a list action without its right, no edit without the loaded version, no
"saved" for a column that is not editable in the list), the edges of the data scope
(who can be put on an appointment, whom the owner filter offers, what the duplicate
warning reveals), formulas neutralised in every export, and the small ones: websites,
integrity messages, upload structure, download names, the CSV content type."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests import factories
from tests.conftest import FINANCE_ENDPOINTS, ROLES, SYSTEM_ENDPOINTS, module_app
from tests.factories import contract_form, lookup, make_client, user

HUGE = [10**30, -(10**30)]
#: model-view endpoints the table of bad numbers covers (customers, sales, finance,
#: purchasing, system, lookups)
ENDPOINTS = [
    "client",
    "linkman",
    "followup",
    "appointment",
    "contract",
    "churn",
    "opportunity",
    "dev_plan",
    "quote",
    "order",
    "product",
    "stock",
    "sales_target",
    "weekly_report",
    *FINANCE_ENDPOINTS,
    *SYSTEM_ENDPOINTS,
    "trade",
    "area",
    "sales_stage",
]


def page_text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture(scope="module")
def edge_app(template_db, tmp_path_factory):
    """One app and database for the read-only tables of requests (one login per user)."""
    with module_app(template_db, tmp_path_factory) as app:
        with app.app_context():
            from models import db

            client = make_client(db.session, "account_manager")
            factories.add_children(db.session, client)
            db.session.commit()
        yield app


def _views(app):
    from flask_admin.contrib.sqla import ModelView

    return {v.endpoint: v for v in app.extensions["admin"][0]._views if isinstance(v, ModelView)}


def _filter_keys(app, endpoint) -> list[str]:
    view = _views(app)[endpoint]
    with app.test_request_context():
        return list(view._filter_args or {})


# ------------------------------------------------------------- 1. huge numbers, CR/LF
def test_the_table_covers_every_kind_of_view(edge_app):
    assert set(ENDPOINTS) <= set(_views(edge_app))


@pytest.mark.parametrize("huge", HUGE, ids=["plus", "minus"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_numbers_beyond_64_bits_are_refused_never_a_500(edge_app, endpoint, huge):
    """?page=, ?id=, every flt…= filter and the ids of actions with ±10**30: 400/404 or
    the filter refused as invalid, never an OverflowError (SQLite) or DataError (PG)."""
    admin = edge_app.login_client("admin")
    base = f"/admin/{endpoint}/"
    assert admin.get(f"{base}?page={huge}").status_code == 400
    assert admin.get(f"{base}?page_size={huge}").status_code == 400
    assert admin.get(f"{base}?sort={huge}").status_code == 400
    for sub in ("edit/", "details/"):
        assert admin.get(f"{base}{sub}?id={huge}").status_code == 404, sub
    assert admin.post(f"{base}action/", data={"action": "delete", "rowid": [str(huge), "1"]}).status_code == 404
    assert admin.post(f"{base}delete/", data={"id": str(huge)}).status_code == 404
    for key in _filter_keys(edge_app, endpoint):
        response = admin.get(f"{base}?flt0_{key}={huge}")
        assert response.status_code == 200, key


def test_refusals_show_our_error_page_in_the_users_language(edge_app):
    admin = edge_app.login_client("admin")
    bad = admin.get(f"/admin/client/?page={10**30}&lang=en")
    assert bad.status_code == 400 and 'id="crm-error"' in page_text(bad) and "Bad request" in page_text(bad)
    missing = admin.get(f"/admin/client/details/?id={10**30}&lang=zh_CN")
    assert missing.status_code == 404 and "不在您的数据范围内" in page_text(missing)
    admin.get("/admin/?lang=en")
    denied = edge_app.login_client("clerk").get("/admin/user/?lang=en")
    assert denied.status_code == 403 and "You do not have the right" in page_text(denied)


def test_a_huge_id_filter_is_flashed_as_invalid_and_ignored(edge_app):
    admin = edge_app.login_client("admin")
    page = admin.get(f"/admin/client/?flt0_owner_equals={10**30}&lang=en")
    assert page.status_code == 200
    assert f"Invalid Filter Value: {10**30}" in page_text(page)
    money = admin.get("/admin/contract/?flt0_contract_amount_greater_than=1e30&lang=en")
    assert money.status_code == 200 and "Invalid Filter Value: 1e30" in page_text(money)


@pytest.mark.parametrize(
    "url",
    [
        f"/admin/client/new/?client_id={10**30}",
        f"/admin/linkman/new/?client_id={10**30}",
        f"/admin/client/statement/?ids={10**30}",
        f"/admin/client/export/csv/?flt_ids={10**30}",
        f"/files/{10**30}",
        f"/admin/client/merge/?ids=1,{10**30}",
    ],
)
def test_huge_ids_in_other_parameters_are_not_found(edge_app, url):
    assert edge_app.login_client("admin").get(url).status_code == 404


@pytest.mark.parametrize("name", ["owner", "department", "area"])
def test_huge_ids_in_report_filters_are_refused_as_invalid_choices(edge_app, name):
    page = edge_app.login_client("admin").get(f"/admin/reports/receivables/?{name}={10**30}&lang=en")
    assert page.status_code == 200 and "is not a valid choice" in page_text(page)


@pytest.mark.parametrize(
    "method,url,data",
    [
        ("get", "/login?next=/admin/%0d%0aSet-Cookie:%20x=1", None),
        ("post", "/login", {"username": "admin", "password": "password-123", "next": "/admin/\r\nSet-Cookie: x=1"}),
        ("get", "/admin/client/new/?url=/admin/%0aX", None),
        ("post", "/admin/client/delete/", {"id": "1", "url": "/admin/\r\nX"}),
        ("post", "/admin/client/action/", {"action": "delete", "rowid": "1", "url": "/admin/\nX"}),
    ],
)
def test_cr_lf_in_a_return_url_is_a_bad_request(edge_app, method, url, data):
    test_client = edge_app.test_client() if url == "/login" else edge_app.login_client("admin")
    response = getattr(test_client, method)(url, data=data)
    assert response.status_code == 400
    assert "Set-Cookie" not in str(response.headers.get("Location", ""))


# ------------------------------------------------------------- 2. refusals that say so
def _held_codes(app, role: str) -> set[str]:
    from models import db
    from models.auth import Role

    with app.app_context():
        return {r.code for r in db.session.execute(select(Role).where(Role.code == role)).scalar_one().rights}


def _required(view, action: str) -> str:
    """The right an action needs (SPEC §6): delete/restore/purge need the delete right,
    the client's reassign/merge their own, "export selected" the export right."""
    custom = {"reassign": "reassign", "merge": "merge", "export_selected": "export"}
    operation = "delete" if action in ("delete", "restore", "purge") else custom[action]
    return f"{view.right_endpoint or view.endpoint}.{operation}"


@pytest.mark.parametrize("role", ROLES)
def test_every_list_action_a_role_lacks_answers_403_and_those_it_has_work(edge_app, role):
    """Roles × endpoints × actions from the seeded rights. Purging is the admin's alone
    and restore/purge exist only for soft-deleted tables (SPEC §3); operations a view
    switches off are refused to everybody."""
    held = _held_codes(edge_app, role)
    web = edge_app.login_client(role)
    wrong = []
    for endpoint, view in _views(edge_app).items():
        for action in ("delete", "restore", "purge", "reassign", "merge", "export_selected"):
            if action not in view._actions_data:
                continue
            code = _required(view, action)
            allowed = (
                code in held
                and f"{view.right_endpoint or view.endpoint}.view" in held
                and code.split(".")[-1] not in getattr(view, "disabled_operations", ())
                and (action not in ("restore", "purge") or view.is_soft)
                and (action != "purge" or role == "admin")
            )
            status = web.post(f"/admin/{endpoint}/action/", data={"action": action}).status_code
            if (status == 403) == allowed or status >= 500:
                wrong.append((endpoint, action, allowed, status))
    assert wrong == []


def test_delete_action_without_the_right_is_403_and_deletes_nothing(app, en_client, db_session):
    from models.customers import Client

    mine = make_client(db_session, "account_manager")
    db_session.commit()
    am = en_client("account_manager")
    assert am.post("/admin/client/action/", data={"action": "delete", "rowid": [str(mine.id)]}).status_code == 403
    unknown = am.post("/admin/client/action/", data={"action": "no_such_action", "rowid": [str(mine.id)]})
    assert unknown.status_code == 400
    db_session.expire_all()
    assert not db_session.get(Client, mine.id).is_deleted
    director = en_client("sales_director")
    assert director.post("/admin/client/action/", data={"action": "delete", "rowid": [str(mine.id)]}).status_code == 302
    db_session.expire_all()
    assert db_session.get(Client, mine.id).is_deleted


def _client_form(client, **changes) -> dict:
    data = {
        "name": client.name,
        "area": str(client.area_id),
        "address": client.address,
        "phone": client.phone,
        "contact_name": client.contact_name,
        "contact_mobile": client.contact_mobile,
        "owner": str(client.owner_id),
    }
    data.update(changes)
    return data


def test_an_edit_without_the_loaded_version_is_refused(en_client, db_session):
    from models.customers import Client

    client = make_client(db_session, "account_manager", name="版本测试有限公司")
    db_session.commit()
    am = en_client("account_manager")
    refused = am.post(f"/admin/client/edit/?id={client.id}", data=_client_form(client, notes="覆盖"))
    assert refused.status_code == 200
    assert "did not say which version" in page_text(refused) and "Nothing was saved" in page_text(refused)
    db_session.expire_all()
    assert db_session.get(Client, client.id).notes is None
    saved = am.post(
        f"/admin/client/edit/?id={client.id}",
        data=_client_form(client, notes="正常保存", loaded_version=str(client.version)),
    )
    assert saved.status_code == 302
    db_session.expire_all()
    assert db_session.get(Client, client.id).notes == "正常保存"


def test_inline_edit_of_a_column_not_editable_in_the_list_is_refused(en_client, db_session):
    from models.customers import Client
    from models.lookups import StarRating

    client = make_client(db_session, "account_manager", name="原名有限公司")
    db_session.commit()
    am = en_client("account_manager")
    refused = am.post("/admin/client/ajax/update/", data={"list_form_pk": str(client.id), "name": "改名"})
    assert refused.status_code == 400
    assert "cannot be changed in the list" in refused.get_data(as_text=True)
    mixed = am.post(
        "/admin/client/ajax/update/",
        data={"list_form_pk": str(client.id), "name": "改名", "star": str(lookup(db_session, StarRating).id)},
    )
    assert mixed.status_code == 400
    db_session.expire_all()
    assert (db_session.get(Client, client.id).name, db_session.get(Client, client.id).star_id) == ("原名有限公司", None)
    star = lookup(db_session, StarRating)
    saved = am.post("/admin/client/ajax/update/", data={"list_form_pk": str(client.id), "star": str(star.id)})
    assert saved.status_code == 200
    db_session.expire_all()
    assert db_session.get(Client, client.id).star_id == star.id


# ------------------------------------------------------------------- 3. scope edges
def _options(html: str, field: str) -> set[str]:
    select_html = re.search(rf'<select[^>]*name="{field}"[^>]*>(.*?)</select>', html, re.S).group(1)
    return set(re.findall(r'<option[^>]*value="(\d+)"', select_html))


def test_appointment_form_offers_and_accepts_only_users_in_scope(en_client, db_session):
    from models.customers import Appointment
    from models.lookups import AppointmentType

    client = make_client(db_session, "account_manager")
    db_session.commit()
    ids = {
        name: str(user(db_session, name).id)
        for name in ("account_manager", "am_team", "am_other", "sales_director", "admin")
    }
    am = en_client("account_manager")
    assert _options(am.get("/admin/appointment/new/").get_data(as_text=True), "user") == {ids["account_manager"]}
    director = _options(en_client("sales_director").get("/admin/appointment/new/").get_data(as_text=True), "user")
    assert {ids["account_manager"], ids["am_team"], ids["sales_director"]} <= director
    assert ids["am_other"] not in director  # 销售二部, a sibling department
    posted = am.post(
        "/admin/appointment/new/",
        data={
            "client": str(client.id),
            "type": str(lookup(db_session, AppointmentType).id),
            "scheduled_at": (date.today() + timedelta(days=3)).strftime("%Y-%m-%d 10:00:00"),
            "content": "拜访",
            "user": ids["am_team"],
        },
    )
    assert posted.status_code == 200 and "Not a valid choice" in page_text(posted)
    assert db_session.execute(select(Appointment).where(Appointment.client_id == client.id)).first() is None


def test_client_owner_filter_offers_only_users_in_scope(edge_app):
    from models import db

    with edge_app.app_context():
        other = db.session.execute(select(factories.User).where(factories.User.username == "am_other")).scalar_one()
        name = other.name
    escaped = json.dumps(name)[1:-1]  # the filter options travel as JSON in the page

    def offered(role):
        page = edge_app.login_client(role).get("/admin/client/").get_data(as_text=True)
        return name in page or escaped in page

    assert offered("admin") and not offered("account_manager") and not offered("sales_director")


def test_duplicate_warning_names_only_the_owner_of_a_client_outside_scope(en_client, db_session):
    from models.customers import Client

    hidden = make_client(db_session, "am_other", name="二部秘密客户有限公司", contact_mobile="13912340001")
    visible = make_client(db_session, "account_manager", name="我的老客户有限公司", contact_mobile="13912340002")
    db_session.commit()
    am = en_client("account_manager")
    from models.lookups import Area

    data = {
        "name": "全新客户有限公司",
        "area": str(lookup(db_session, Area, "北京").id),
        "address": "北京",
        "phone": "010-12345678",
        "contact_name": "李四",
        "contact_mobile": "13912340001",
    }
    page = page_text(am.post("/admin/client/new/", data=data))
    assert "Similar clients already exist" in page
    assert "二部秘密客户有限公司" not in page and f"id={hidden.id}" not in page
    assert "outside your data scope" in page and "二部经理" in page
    page = page_text(am.post("/admin/client/new/", data={**data, "contact_mobile": "13912340002"}))
    assert "我的老客户有限公司" in page and f"details/?id={visible.id}" in page
    assert db_session.execute(select(Client).where(Client.name == "全新客户有限公司")).first() is None


# ------------------------------------------------------------ 4. formulas in exports
EVIL_NAME = '=HYPERLINK("http://evil.example","x")'
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _formula_rows(db_session):
    from models.opportunities import Opportunity

    client = make_client(db_session, "account_manager", name=EVIL_NAME, main_business="@SUM(1,2)", notes="-5 units")
    factories.add_children(db_session, client)["contract"].name = "+cmd|' /C calc'!A0"
    from models.lookups import SalesStage

    db_session.add(
        Opportunity(
            description="\tTAB",
            created_by=user(db_session, "sales_director"),
            stage=lookup(db_session, SalesStage),
            customer_name="\rCR客户",
            title="-2+3",
            client=client,
        )
    )
    db_session.commit()


@pytest.mark.parametrize("endpoint", ["client", "contract", "opportunity"])
def test_list_exports_never_hold_a_formula(en_client, db_session, endpoint):
    _formula_rows(db_session)
    admin = en_client("admin")
    text = admin.get(f"/admin/{endpoint}/export/csv/").get_data(as_text=True).lstrip("\ufeff")
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert cells and not [c for c in cells if c.startswith(FORMULA_START)]
    expected = {
        "client": ["'" + EVIL_NAME, "'@SUM(1,2)", "'-5 units"],
        "contract": ["'+cmd|' /C calc'!A0"],
        "opportunity": ["'-2+3", "'\rCR客户", "'\tTAB"],
    }[endpoint]
    for value in expected:
        assert value in cells
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(admin.get(f"/admin/{endpoint}/export/xlsx/").data))
    values = [c for row in book.active.iter_rows() for c in row if c.value is not None]
    assert values and all(c.data_type != "f" for c in values)
    assert not [c.value for c in values if isinstance(c.value, str) and c.value.startswith(FORMULA_START)]
    assert expected[0] in [c.value for c in values]


def test_the_one_neutraliser_keeps_numbers_and_prefixes_text():
    from reports.render import Column, Document, Section, spreadsheet_safe, write_csv, write_xlsx

    assert spreadsheet_safe(Decimal("-5.00")) == Decimal("-5.00") and spreadsheet_safe(-5) == -5
    assert spreadsheet_safe(None) is None and spreadsheet_safe("普通") == "普通"
    assert [spreadsheet_safe(t) for t in ("-5 units", "=1+1", "+1", "@A", "\tx", "\rx")] == [
        "'-5 units",
        "'=1+1",
        "'+1",
        "'@A",
        "'\tx",
        "'\rx",
    ]
    doc = Document(
        title="=T",
        sections=[
            Section(
                "s",
                [Column("name", "Name"), Column("amount", "Amount", "money")],
                [{"name": "=cmd", "amount": Decimal("-5.00")}],
            )
        ],
    )
    from openpyxl import load_workbook

    cells = [c for row in load_workbook(io.BytesIO(write_xlsx([doc]))).active.iter_rows() for c in row]
    assert ("'=cmd", "s") in [(c.value, c.data_type) for c in cells]
    assert (-5, "n") in [(c.value, c.data_type) for c in cells]  # a negative amount stays a number
    assert "'=cmd" in write_csv([doc]).decode("utf-8-sig") and ",-5.00" in write_csv([doc]).decode("utf-8-sig")


def test_client_statement_neutralises_formulas(en_client, db_session):
    client = make_client(db_session, "account_manager", name=EVIL_NAME)
    factories.add_children(db_session, client)
    db_session.commit()
    response = en_client("admin").get(f"/admin/client/statement/?ids={client.id}&format=xlsx")
    assert response.status_code == 200
    from openpyxl import load_workbook

    cells = [
        c
        for sheet in load_workbook(io.BytesIO(response.data)).worksheets
        for row in sheet.iter_rows()
        for c in row
        if isinstance(c.value, str)
    ]
    assert any("HYPERLINK" in c.value for c in cells)
    assert all(c.data_type != "f" and not c.value.startswith("=") for c in cells)


# ------------------------------------------------------------------- 5. small ones
@pytest.mark.parametrize(
    "value",
    [
        "javascript:alert(document.cookie)",
        "JavaScript://x.com/%0aalert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "ftp://example.com",
        "http://user@evil.example",
    ],
)
def test_website_accepts_only_http_and_https(en_client, db_session, value):
    from models.customers import Client

    client = make_client(db_session, "account_manager")
    db_session.commit()
    page = en_client("account_manager").post(
        f"/admin/client/edit/?id={client.id}",
        data=_client_form(client, website=value, loaded_version=str(client.version)),
    )
    assert page.status_code == 200
    assert "must be a web address starting with http:// or https://" in page_text(page)
    db_session.expire_all()
    assert db_session.get(Client, client.id).website is None


def test_website_validator_keeps_http_links_and_plain_hosts():
    from models.validators import website

    assert website("https://www.example.com/a?b=1") == "https://www.example.com/a?b=1"
    assert website("www.example.cn") == "www.example.cn"  # no scheme: nothing a click could run
    assert website("  ") is None
    with pytest.raises(ValueError):
        website("javascript:alert(1)")


def test_integrity_errors_name_the_field_not_the_sql(app, db_session):
    """A real unique violation from the database (SQLite or PostgreSQL) → the field's
    label, never "UNIQUE constraint failed" / "duplicate key value" or table names."""
    from flask_babel import force_locale
    from sqlalchemy.exc import IntegrityError

    from models import db as app_db
    from models.customers import Client

    make_client(db_session, "admin", uscc="91350100M000100Y43")
    db_session.commit()
    with app.app_context():
        app_db.session.add(
            Client(
                name="重复",
                address="x",
                phone="010-12345678",
                contact_name="x",
                contact_mobile="13800000000",
                area_id=lookup(db_session, factories.Area).id,
                owner_id=user(db_session, "admin").id,
                uscc="91350100M000100Y43",
            )
        )
        with pytest.raises(IntegrityError) as caught:
            app_db.session.flush()
        app_db.session.rollback()
        view = _views(app)["client"]
        with app.test_request_context(), force_locale("en"):
            message = view.integrity_message(caught.value)
    assert message.startswith("Unified social credit code: a record with this value already exists")
    for raw in ("UNIQUE constraint", "duplicate key", "clients", "uscc"):
        assert raw not in message


def _upload(test_client, db_session, content: bytes, filename: str, number: str):
    client = make_client(db_session, "account_manager")
    db_session.commit()
    data = contract_form(db_session, client, number=number, name="扫描件合同", amount="100.00", owner=None)
    data["scan_upload"] = (io.BytesIO(content), filename)
    return test_client.post("/admin/contract/new/", data=data, content_type="multipart/form-data")


def _contract(db_session, number):
    from models.customers import Contract

    db_session.expire_all()
    return db_session.execute(select(Contract).where(Contract.number == number)).scalar_one_or_none()


def test_a_valid_pdf_with_xmp_metadata_is_accepted(en_client, db_session):
    content = factories.pdf_bytes(xmp=True)
    assert b"<?xml" in content[:1024]
    response = _upload(en_client("account_manager"), db_session, content, "扫描.pdf", "HT-XMP-1")
    assert response.status_code == 302, page_text(response)[:500]
    assert _contract(db_session, "HT-XMP-1").scan_file_id is not None


@pytest.mark.parametrize(
    "content,filename,fragment",
    [
        (
            factories.pdf_bytes() + b"\n" * 1200 + b"<html><script>alert(1)</script></html>",
            "scan.pdf",
            "contains HTML or script",
        ),
        (b"%PDF-1.7\n" + b"0" * 2000 + b"\n%%EOF\n", "scan.pdf", "damaged or not a real PDF"),
        (factories.pdf_bytes(pages=0), "scan.pdf", "damaged or not a real PDF"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "scan.png", "damaged or not a real PNG"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 200, "scan.jpg", "damaged or not a real JPEG"),
        (factories.image_bytes("JPEG") + b"<script>alert(1)</script>", "scan.jpg", "contains HTML or script"),
    ],
)
def test_uploads_are_checked_by_their_structure(en_client, db_session, content, filename, fragment):
    response = _upload(en_client("account_manager"), db_session, content, filename, "HT-BAD-1")
    assert response.status_code == 200 and fragment in page_text(response)
    assert _contract(db_session, "HT-BAD-1") is None


def test_chinese_download_names_have_an_ascii_fallback(en_client, db_session):
    response = _upload(en_client("account_manager"), db_session, factories.pdf_bytes(), "合同扫描件.pdf", "HT-NAME-1")
    assert response.status_code == 302
    contract = _contract(db_session, "HT-NAME-1")
    download = en_client("account_manager").get(f"/files/{contract.scan_file_id}")
    disposition = download.headers["Content-Disposition"]
    assert f'filename="file-{contract.scan_file_id}.pdf"' in disposition
    assert "filename*=UTF-8''%E5%90%88%E5%90%8C%E6%89%AB%E6%8F%8F%E4%BB%B6.pdf" in disposition
    export = en_client("admin").get("/admin/client/export/csv/?lang=zh_CN").headers["Content-Disposition"]
    assert re.search(r'filename="client_[0-9_-]+\.csv"', export) and "filename*=UTF-8''" in export


def test_report_csv_sends_one_charset(en_client):
    response = en_client("finance").get("/admin/reports/receivables/?format=csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"].lower().count("charset") == 1
    assert response.headers["Content-Type"].lower().replace(" ", "") == "text/csv;charset=utf-8"
