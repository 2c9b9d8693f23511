"""Client import (SPEC §4.3 "Import"): CSV/XLSX upload, mapping preview, validation of every
row, downloadable error report, all-or-nothing commit, right client.import, CSRF."""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import parse_qs, urlparse

import pytest
from flask_babel import force_locale
from openpyxl import Workbook
from sqlalchemy import func, select

from models.audit import AuditLog
from models.customers import Client, find_duplicates, normalise_name
from models.imports import DOCUMENT_HEADINGS, REQUIRED, ImportFileError, guess_mapping, read_table, validate
from models.lookups import Area, ClientSource, ClientType, CompanySize, StarRating, Trade
from models.validators import uscc_check_char
from tests.conftest import csrf_token_from, login
from tests.factories import add_children, lookup, make_client, user
from views.customers import ClientView

HEADINGS = list(DOCUMENT_HEADINGS)
URL = "/admin/client/import/"


def uscc(n: int) -> str:
    first17 = f"91330106{n:09d}"
    return first17 + uscc_check_char(first17)


def row(n: int, **overrides) -> list[str]:
    """A valid row under HEADINGS."""
    values = {
        "公司名称": f"杭州导入测试{n}有限公司",
        "统一社会信用代码": uscc(n),
        "公司地址": f"杭州市西湖区文三路{n}号",
        "联系电话": "0571-88886666",
        "所属地区": "杭州",
        "联系人": f"联系人{n}",
        "常用手机": f"1390571{n:04d}",
        "客户类型": "重要客户",
        "星级评定": "三星",
        "客户来源": "展会",
        "产品分类": "软件",
        "企业规模": "50-199人",
        "邮编": "310000",
        "电子邮件": f"c{n}@example.cn",
        "跟单人": "",
        "备注其它": "",
    }
    values.update(overrides)
    return [values[h] for h in HEADINGS]


def csv_file(rows, headings=HEADINGS, encoding="utf-8-sig") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headings)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def upload(client, content: bytes, filename="clients.csv", **extra):
    return client.post(URL, data={"file": (io.BytesIO(content), filename), **extra}, content_type="multipart/form-data")


def token_of(response) -> str:
    assert response.status_code == 302, response.data.decode()[:2000]
    return parse_qs(urlparse(response.headers["Location"]).query)["token"][0]


def run_jobs(client) -> None:
    """Run the queued import jobs as the worker would (`flask run-jobs --once`), in the
    app under test (db_session holds another app's context open)."""
    with client.application.app_context():
        result = client.application.test_cli_runner().invoke(args=["run-jobs", "--once"])
    assert result.exit_code == 0, result.output


def submit(client, data):
    """Submit the preview; once the import is queued (a redirect), run the job."""
    response = client.post(URL, data=data)
    if response.status_code == 302:
        run_jobs(client)
    return response


def import_file(client, content: bytes, filename="clients.csv", **mapping):
    """Upload, then submit the preview (with the guessed mapping unless overridden)."""
    token = token_of(upload(client, content, filename))
    return submit(client, {"token": token, **mapping})


def in_english(client):
    client.get(URL + "?lang=en")
    return client


def count_clients(session) -> int:
    session.expire_all()
    return session.execute(select(func.count()).select_from(Client)).scalar()


def errors_on_page(response) -> list[tuple[str, str, str]]:
    html = response.data.decode()
    assert 'id="import-errors"' in html, html[:3000]
    table = html[html.index('id="import-errors"') :]
    cells = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", table)
    return [tuple(re.sub(r"&#3[49];|&quot;", "'", c) for c in cell) for cell in cells]


# ------------------------------------------------------------------------ happy paths
def test_csv_with_bom_and_chinese_headings_imports_every_row(client_as, db_session):
    clerk = in_english(client_as("clerk"))  # department scope: 销售一部
    content = csv_file(
        [
            row(1, 跟单人="am_team"),
            row(2, 跟单人="同组经理", 常用手机="+86 139 0571 0002"),
            row(3, 备注其它="老客户介绍\n第二行"),
        ]
    )
    token = token_of(upload(clerk, content))
    preview = clerk.get(f"{URL}?token={token}").data.decode()
    assert '<option value="name" selected>' in preview and '<option value="owner" selected>' in preview
    assert "杭州导入测试3有限公司" in preview and 'name="map_15"' in preview

    response = clerk.get(submit(clerk, {"token": token}).headers["Location"])  # the job's page
    assert "3 clients imported." in response.data.decode()
    clients = {c.name: c for c in db_session.execute(select(Client)).scalars()}
    assert len(clients) == 3
    first, second, third = (clients[f"杭州导入测试{n}有限公司"] for n in (1, 2, 3))
    assert first.owner.username == "am_team" and second.owner.username == "am_team"  # by name 同组经理
    assert third.owner.username == "clerk"  # no owner: the importing user
    assert second.contact_mobile == "13905710002"  # normalised by the column check
    assert third.notes == "老客户介绍\n第二行"
    assert (
        first.area.name,
        first.type.name,
        first.star.name,
        first.source.name,
        first.trade.name,
        first.size.name,
    ) == ("杭州", "重要客户", "三星", "展会", "软件", "50-199人")
    assert first.uscc == uscc(1) and first.zip_code == "310000" and first.name_key == normalise_name(first.name)
    entries = db_session.execute(select(AuditLog).where(AuditLog.table_name == "clients")).scalars().all()
    assert len(entries) == 3
    assert {(e.action, e.comment, e.user.username) for e in entries} == {("import", "clients.csv", "clerk")}
    # the pending upload is gone: its token no longer opens a preview
    assert clerk.get(f"{URL}?token={token}").status_code == 404


def test_xlsx_with_english_headings_and_numeric_cells(client_as, db_session):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(
        [
            "Company name",
            "Company address",
            "Phone",
            "Area",
            "Contact",
            "Usual mobile",
            "Owner",
            "Zip code (6 digits)",
            "Something else",
        ]
    )
    sheet.append(
        [
            "深圳表格科技有限公司",
            "深圳市南山区科技园1号",
            13800001234,
            "深圳",
            "李雷",
            13800001235,
            "测试account_manager",
            518000,
            "ignored",
        ]
    )
    sheet.append([None] * 9)
    sheet.append(
        [
            "广州表格贸易有限公司",
            "广州市天河区体育西路2号",
            "020-12345678",
            "广州",
            "韩梅梅",
            "13800001236",
            "",
            None,
            None,
        ]
    )
    data = io.BytesIO()
    workbook.save(data)
    admin = in_english(client_as("admin"))
    response = import_file(admin, data.getvalue(), "客户.xlsx")
    assert response.status_code == 302, errors_on_page(response)
    clients = {c.name: c for c in db_session.execute(select(Client)).scalars()}
    shenzhen = clients["深圳表格科技有限公司"]
    assert (shenzhen.phone, shenzhen.contact_mobile, shenzhen.zip_code) == ("13800001234", "13800001235", "518000")
    assert shenzhen.owner.username == "account_manager" and shenzhen.area.name == "深圳"
    assert clients["广州表格贸易有限公司"].owner.username == "admin"


# --------------------------------------------------------------------- all or nothing
def test_one_bad_row_imports_nothing_and_the_report_names_row_and_field(client_as, db_session):
    clerk = in_english(client_as("clerk"))
    content = csv_file([row(1), row(2), row(3, 常用手机="12345"), row(4)])
    response = import_file(clerk, content)
    assert response.status_code == 200
    assert count_clients(db_session) == 0
    assert ("4", "Usual mobile") in [(r, f) for r, f, _ in errors_on_page(response)]
    link = re.search(r'href="([^"]+)" id="import-error-report"', response.data.decode())
    report_url = link.group(1)
    report = clerk.get(report_url)
    assert report.status_code == 200 and report.mimetype == "text/csv"
    assert "attachment" in report.headers["Content-Disposition"]
    assert report.data.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(report.data.decode("utf-8-sig"))))
    assert lines[0] == ["Row", "Field", "Problem"]
    assert len(lines) == 2
    number, field, message = lines[1]
    assert (number, field) == ("4", "Usual mobile") and "12345" in message and "mainland mobile" in message
    # the error report is the uploader's alone
    assert client_as("admin").get(report_url).status_code == 404


def test_duplicates_within_the_file_name_both_rows(client_as, db_session):
    clerk = in_english(client_as("clerk"))
    content = csv_file(
        [
            row(1),
            row(2, 常用手机="13905710001"),
            row(3, 公司名称="杭州导入测试１有限责任公司"),
            row(4, 统一社会信用代码=uscc(2)),
        ]
    )
    errors = errors_on_page(import_file(clerk, content))
    assert ("3", "Usual mobile", "same contact mobile as row 2") in errors
    assert ("4", "Company name", "same company name as row 2") in errors
    assert ("5", "Unified social credit code", "same unified social credit code as row 3") in errors
    assert count_clients(db_session) == 0


def test_duplicates_against_the_database(client_as, db_session):
    existing = make_client(db_session, "am_other", name="杭州云帆软件有限公司")
    other = make_client(db_session, "admin")
    add_children(db_session, other, mobile="13700009999")
    gone = make_client(db_session, "admin", uscc=uscc(77))
    gone.soft_delete(None)
    db_session.commit()
    clerk = in_english(client_as("clerk"))
    content = csv_file(
        [
            row(1, 公司名称="杭州云帆软件有限责任公司"),
            row(2, 常用手机="13700009999"),
            row(3, 统一社会信用代码=uscc(77)),
            row(4),
        ]
    )
    errors = errors_on_page(import_file(clerk, content))
    assert (
        "2",
        "Company name",
        f"same company name as the existing client #{existing.id} 杭州云帆软件有限公司",
    ) in errors
    assert ("3", "Usual mobile", f"same contact mobile as the existing client #{other.id} {other.name}") in errors
    assert any(r == "4" and "deleted client" in m and f"#{gone.id}" in m for r, _, m in errors)
    assert count_clients(db_session) == 3


def test_unknown_and_inactive_lookup_values(client_as, db_session):
    lookup(db_session, ClientSource, "广告").is_active = False
    db_session.commit()
    clerk = in_english(client_as("clerk"))
    content = csv_file([row(1, 所属地区="火星"), row(2, 客户来源="广告"), row(3, 星级评定="六星")])
    errors = errors_on_page(import_file(clerk, content))
    assert any(r == "2" and f == "Area" and "unknown value “火星”" in m for r, f, m in errors)
    assert any(r == "3" and f == "Client source" and "inactive" in m for r, f, m in errors)
    star = next(m for r, f, m in errors if r == "4")
    assert "unknown value “六星”" in star and "五星" in star  # the allowed values are listed
    assert count_clients(db_session) == 0


def test_owner_outside_the_department_and_unknown_owner(client_as, db_session):
    clerk = in_english(client_as("clerk"))
    content = csv_file([row(1, 跟单人="am_other"), row(2, 跟单人="nobody")])
    errors = errors_on_page(import_file(clerk, content))
    assert [(r, f) for r, f, _ in errors] == [("2", "Owner"), ("3", "Owner")]
    assert "not in your department" in errors[0][2] and "no active user" in errors[1][2]


def test_remapped_columns_and_a_missing_required_column(client_as, db_session):
    clerk = in_english(client_as("clerk"))
    headings = ["客户", "地址", "座机", "城市", "姓名", "号码"]
    content = csv_file(
        [["宁波映射测试有限公司", "宁波市鄞州区1号", "0574-12345678", "宁波", "赵六", "13957400001"]], headings=headings
    )
    token = token_of(upload(clerk, content))
    # 座机/姓名/号码 are not recognised: required fields are missing, nothing imported
    errors = errors_on_page(clerk.post(URL, data={"token": token}))
    assert {(r, f) for r, f, _ in errors} == {("1", "Phone"), ("1", "Contact"), ("1", "Usual mobile")}
    mapping = {
        "map_0": "name",
        "map_1": "address",
        "map_2": "phone",
        "map_3": "area",
        "map_4": "contact_name",
        "map_5": "contact_mobile",
    }
    response = submit(clerk, {"token": token, **mapping})
    assert response.status_code == 302
    assert db_session.execute(select(Client.contact_name)).scalar_one() == "赵六"


# ----------------------------------------------------------------- refusals, security
def test_wrong_file_types_are_refused(client_as, tmp_path):
    clerk = in_english(client_as("clerk"))
    response = upload(clerk, b"name\nx\n", "clients.txt")
    assert response.status_code == 400
    assert "only CSV (.csv) and Excel (.xlsx) files can be imported" in response.data.decode()
    response = upload(clerk, b"not a workbook", "clients.xlsx")
    assert response.status_code == 400 and "not a valid Excel workbook" in response.data.decode()
    response = upload(clerk, b"\xd0\xcf\x11\xe0 old excel", "clients.xls")
    assert response.status_code == 400 and ".xlsx" in response.data.decode()
    assert not list((tmp_path / "imports").glob("*/table.json"))  # nothing kept


def test_finance_may_not_import(client_as):
    finance = client_as("finance")
    assert finance.get("/admin/client/").status_code == 200  # may view clients
    assert finance.get(URL).status_code == 403
    assert upload(finance, csv_file([row(1)])).status_code == 403
    assert finance.get(URL + "errors/" + "0" * 32 + "/").status_code == 403
    clerk = client_as("clerk")
    assert ClientView.view_operations["import_view"] == "import"
    assert ClientView.view_operations["reassign_view"] == "reassign"  # merged, not replaced
    assert clerk.get(URL).status_code == 200


def test_a_token_of_another_user_is_not_found(client_as):
    token = token_of(upload(client_as("clerk"), csv_file([row(1)])))
    admin = client_as("admin")
    assert admin.get(f"{URL}?token={token}").status_code == 404
    assert admin.post(URL, data={"token": token}).status_code == 404
    assert admin.get(f"{URL}?token=../../etc").status_code == 404


def test_import_is_csrf_protected(csrf_app, db_session):
    client = csrf_app.test_client()
    assert login(client, "clerk").status_code == 302
    assert upload(client, csv_file([row(1)])).status_code == 400
    page = client.get(URL)
    token = csrf_token_from(page.data)
    response = upload(client, csv_file([row(1)]), csrf_token=token)
    pending = token_of(response)
    assert client.post(URL, data={"token": pending}).status_code == 400
    assert count_clients(db_session) == 0
    preview = client.get(f"{URL}?token={pending}")
    response = submit(client, {"token": pending, "csrf_token": csrf_token_from(preview.data)})
    assert response.status_code == 302
    assert count_clients(db_session) == 1


# --------------------------------------------------------------- domain functions
def test_read_table_encodings_and_delimiters():
    text = "公司名称;联系电话\n甲公司;010-12345678\n\n"
    for data in (text.encode("utf-8"), text.encode("utf-8-sig"), text.encode("gb18030"), text.encode("utf-16")):
        assert read_table("a.CSV", data) == (["公司名称", "联系电话"], [["甲公司", "010-12345678"]])
    headers, rows = read_table("b.csv", b"a,b,c\n1\n1,2,3,4\n")
    assert rows == [["1", "", ""], ["1", "2", "3"]]
    with pytest.raises(ImportFileError):
        read_table("c.csv", b"")
    with pytest.raises(ImportFileError):
        read_table("d.pdf", b"%PDF-1.4")


def test_guess_mapping_by_chinese_english_and_field_names():
    headers = [
        "公司名称",
        "Company address",
        "phone",
        "统一社会信用代码*",
        "所属地区",
        "联系人",
        "常用手机",
        "客户类型",
        "星级评定",
        "客户来源",
        "产品分类",
        "企业规模",
        "邮编",
        "电子邮件",
        "跟单人",
        "备注其它",
        "联系人（必填）",
        "zip_code",
        "whatever",
    ]
    assert guess_mapping(headers) == [
        "name",
        "address",
        "phone",
        "uscc",
        "area",
        "contact_name",
        "contact_mobile",
        "type",
        "star",
        "source",
        "trade",
        "size",
        "zip_code",
        "email",
        "owner",
        "notes",
        None,
        None,
        None,
    ]
    assert set(REQUIRED) == {"name", "address", "phone", "area", "contact_name", "contact_mobile"}


def test_validate_resolves_in_few_queries_and_own_scope_owns_everything(app, db_session):
    from tests.conftest import count_queries

    am = user(db_session, "account_manager")  # own scope
    mapping = guess_mapping(HEADINGS)
    rows = [row(n, 跟单人="admin") for n in range(1, 301)]
    with count_queries(app) as statements, force_locale("en"):  # no request: name the language
        clean, errors = validate(rows, mapping, am)
    assert errors == []
    assert {r["owner_id"] for r in clean} == {am.id}
    assert clean[0]["area_id"] == lookup(db_session, Area, "杭州").id
    assert clean[0]["type_id"] == lookup(db_session, ClientType, "重要客户").id
    assert clean[0]["star_id"] == lookup(db_session, StarRating, "三星").id
    assert clean[0]["trade_id"] == lookup(db_session, Trade, "软件").id
    assert clean[0]["size_id"] == lookup(db_session, CompanySize, "50-199人").id
    assert len(statements) < 20


def test_bulk_duplicate_check_agrees_with_find_duplicates(db_session):
    a = make_client(db_session, "admin", name="重复检查甲有限公司", uscc=uscc(501))
    b = make_client(db_session, "admin")
    add_children(db_session, b, mobile="13600000001")
    c = make_client(db_session, "admin", name="已删除客户有限公司")
    c.soft_delete(None)
    db_session.flush()
    candidates = [
        ("重复检查甲有限责任公司", None, "13600000099"),
        ("无关公司", uscc(501), None),
        ("另一家公司", None, "13600000001"),
        ("已删除客户有限公司", None, None),
        ("全新公司", uscc(502), b.contact_mobile),
    ]
    mapping = ["name", "uscc", "address", "phone", "area", "contact_name", "contact_mobile"]
    for n, (name, code, mobile) in enumerate(candidates):
        cells = [name, code or "", "某地址", "010-12345678", "北京", "某人", mobile or f"1580000{n:04d}"]
        with force_locale("en"):  # no request here: name the language
            _, errors = validate([cells], mapping, user(db_session, "admin"))
            expected = {client.id for client, _ in find_duplicates(name, code, [mobile] if mobile else [])}
        found_here = {int(m.split("#")[1].split()[0]) for _, _, m in errors if "#" in m}
        assert found_here == expected, (name, errors)
    assert expected == {b.id} and a.id and c.id


def test_error_report_does_not_let_cells_run_as_formulas(app):
    from models.imports import RowError
    from views.imports import error_report

    with app.test_request_context("/?lang=en"):
        report = error_report(
            [
                RowError(2, "Owner", '=HYPERLINK("http://x") is not in your department'),
                RowError(3, "Usual mobile", "“123”: must be a mainland mobile"),
            ]
        )
    lines = list(csv.reader(io.StringIO(report.decode("utf-8-sig"))))
    assert lines == [
        ["Row", "Field", "Problem"],
        ["2", "Owner", '\'=HYPERLINK("http://x") is not in your department'],
        ["3", "Usual mobile", "“123”: must be a mainland mobile"],
    ]
