"""Forms, choices, flashes and error pages a Chinese clerk trusts (issue 9, item 4), and
catalogs compiled at start-up without ``make`` (item 5).

Dates are typed as YYYY-MM-DD / YYYY-MM-DD HH:MM[:SS]; choices are stored as codes and
shown in the viewer's language (forms, lists, filters); Flask-Admin's own flashes, our
error pages (403, 404, 413, 500) and the seeded role/setting descriptions speak the UI
language; a tree without compiled catalogs still speaks Chinese."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from html import unescape
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from models.customers import Appointment, Contract, FollowUp
from models.lookups import AppointmentType, ContractType, FollowUpType
from tests.conftest import make_app
from tests.factories import lookup, make_client

ROOT = Path(__file__).resolve().parent.parent
SHANGHAI = ZoneInfo("Asia/Shanghai")


def text(response) -> str:
    return unescape(response.get_data(as_text=True))


def english(client):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


TYPES = {"followup": FollowUpType, "appointment": AppointmentType, "contract": ContractType}


def form_data(session, client, endpoint: str, **fields) -> dict:
    """What a create form of a client's child record posts: the client, its type, ``fields``."""
    return {"client": str(client.id), "type": str(lookup(session, TYPES[endpoint]).id), **fields}


def options_of(page: str, field: str) -> list[tuple[str, str, bool]]:
    """(value, label, selected) of the <select id=field> of a form."""
    match = re.search(rf'<select[^>]*id="{field}"[^>]*>(.*?)</select>', page, re.S)
    assert match, f"no select {field}"
    return [
        (value, label.strip(), "selected" in attrs)
        for attrs, value, label in re.findall(r'<option([^>]*value="([^"]*)"[^>]*)>([^<]*)</option>', match.group(1))
    ]


# ------------------------------------------------------------------------- choices
def test_gender_choices_are_chinese_in_the_chinese_form_and_english_in_the_english_one(client_as):
    zh = options_of(text(client_as("admin").get("/admin/linkman/new/")), "gender")
    assert [(v, label) for v, label, _ in zh] == [("男", "男"), ("女", "女"), ("未说明", "未说明")]
    en = options_of(text(english(client_as("admin")).get("/admin/linkman/new/")), "gender")
    assert [label for _, label, _ in en] == ["Male", "Female", "Unspecified"]
    client_form = options_of(text(client_as("admin").get("/admin/client/new/")), "contact_gender")
    assert [label for _, label, _ in client_form] == ["—", "男", "女", "未说明"]


def test_data_scope_choices_of_the_role_form_are_chinese(client_as):
    page = text(client_as("admin").get("/admin/role/new/"))
    labels = [label for _, label, _ in options_of(page, "data_scope")]
    assert labels == ["全部数据", "本部门及下级部门", "仅本人数据"], labels
    assert "All records" not in page


def test_appointment_status_starts_on_to_do_in_chinese(client_as):
    choices = options_of(text(client_as("admin").get("/admin/appointment/new/")), "status")
    assert [(v, label) for v, label, _ in choices] == [("待办", "待办"), ("已完成", "已完成"), ("已取消", "已取消")]
    assert [v for v, _, selected in choices if selected] == ["待办"]


def test_a_new_appointment_without_a_status_is_to_do_and_becomes_a_reminder(client_as, db_session):
    client = make_client(db_session, "account_manager")
    db_session.commit()
    manager = client_as("account_manager")
    data = form_data(db_session, client, "appointment", content="无状态的预约", user=str(client.owner_id))
    data.update(scheduled_at="2026-01-05 10:00", remind_at="2026-01-05 09:00")  # no status
    response = manager.post("/admin/appointment/new/", data=data)
    assert response.status_code == 302, text(response)[:800]
    stored = db_session.execute(select(Appointment).where(Appointment.content == "无状态的预约")).scalar_one()
    assert stored.status == "待办"
    dashboard = text(manager.get("/admin/"))
    assert "无状态的预约" in dashboard  # a due reminder of its owner


def test_choice_columns_are_filtered_by_their_translated_labels(client_as):
    page = text(client_as("admin").get("/admin/role/"))
    groups = json.loads(re.search(r'id="filter-groups-data"[^>]*>(.*?)</', page, re.S).group(1))
    scope = next(filters for name, filters in groups.items() if name == "数据范围")
    assert {f["arg"] for f in scope} == {"data_scope_equals", "data_scope_not_equal"}
    assert scope[0]["options"] == [["all", "全部数据"], ["department", "本部门及下级部门"], ["own", "仅本人数据"]]
    listed = text(client_as("admin").get("/admin/role/?flt0_data_scope_equals=own"))
    assert "account_manager" in listed and "sales_director" not in listed


def test_appointment_list_and_details_show_the_status_in_chinese(client_as, db_session):
    client = make_client(db_session, "admin")
    appointment = Appointment(
        client=client,
        type=lookup(db_session, AppointmentType),
        scheduled_at=datetime(2026, 1, 5, 2, tzinfo=UTC),
        remind_at=datetime(2026, 1, 5, 1, tzinfo=UTC),
        content="详情里的状态",
        status="已取消",
    )
    db_session.add(appointment)
    db_session.commit()
    admin = client_as("admin")
    assert "已取消" in text(admin.get("/admin/appointment/?search=详情里的状态"))
    details = text(admin.get(f"/admin/appointment/details/?id={appointment.id}"))
    assert "已取消" in details and "Cancelled" not in details
    assert "Cancelled" in text(english(admin).get(f"/admin/appointment/details/?id={appointment.id}"))


# --------------------------------------------------------------------------- dates
def test_typed_date_times_are_read_in_the_display_time_zone(client_as, db_session):
    client = make_client(db_session, "admin")
    db_session.commit()
    admin = client_as("admin")
    for typed, content in (("2026-12-08 10:00", "十点整"), ("2026-12-08 10:00:30", "十点半分")):
        data = form_data(db_session, client, "followup", followed_at=typed, content=content)
        response = admin.post("/admin/followup/new/", data=data)
        assert response.status_code == 302, text(response)[:800]
    db_session.expire_all()
    stored = dict(db_session.execute(select(FollowUp.content, FollowUp.followed_at)).all())
    assert stored["十点整"].astimezone(SHANGHAI).replace(tzinfo=None) == datetime(2026, 12, 8, 10, 0)
    assert stored["十点半分"].astimezone(SHANGHAI).replace(tzinfo=None) == datetime(2026, 12, 8, 10, 0, 30)


@pytest.mark.parametrize(
    ("lang", "message"),
    [
        ("zh_CN", "请按 YYYY-MM-DD HH:MM 格式输入日期和时间，例如 2026-12-08 10:00。"),
        ("en", "Enter a date and time as YYYY-MM-DD HH:MM, e.g. 2026-12-08 10:00."),
    ],
)
def test_a_bad_date_time_is_a_field_error_naming_the_format(client_as, db_session, lang, message):
    client = make_client(db_session, "admin")
    db_session.commit()
    data = form_data(db_session, client, "followup", followed_at="0002-01-01 00:00:00026-12-08 10:00:00")
    response = client_as("admin").post(f"/admin/followup/new/?lang={lang}", data={**data, "content": "坏日期"})
    assert response.status_code == 200
    assert message in text(response)
    assert db_session.execute(select(FollowUp).where(FollowUp.content == "坏日期")).first() is None


def test_typed_dates_and_a_bad_date(client_as, db_session):
    client = make_client(db_session, "admin")
    db_session.commit()
    admin = client_as("admin")
    data = form_data(db_session, client, "contract", number="HT-TYPED-1", name="键入日期的合同")
    data.update(starts_on="2026-12-08", ends_on="2027/12/07", amount="1000.00", owner=str(client.owner_id))
    bad = admin.post("/admin/contract/new/", data=data)
    assert bad.status_code == 200 and "请按 YYYY-MM-DD 格式输入日期，例如 2026-12-08。" in text(bad)
    ok = admin.post("/admin/contract/new/", data={**data, "ends_on": "2027-12-07"})
    assert ok.status_code == 302, text(ok)[:800]
    contract = db_session.execute(select(Contract).where(Contract.number == "HT-TYPED-1")).scalar_one()
    assert (contract.starts_on, contract.ends_on) == (date(2026, 12, 8), date(2027, 12, 7))


def test_the_picker_opens_on_the_servers_now_in_the_configured_time_zone(client_as):
    page = text(client_as("admin").get("/admin/appointment/new/"))
    field = re.search(r'<input[^>]*id="scheduled_at"[^>]*>', page).group(0)
    assert 'data-role="crm-datetime"' in field and 'placeholder="YYYY-MM-DD HH:MM"' in field
    now = datetime.strptime(re.search(r'data-now="([^"]+)"', field).group(1), "%Y-%m-%d %H:%M:%S")
    assert abs(now - datetime.now(SHANGHAI).replace(tzinfo=None)) < timedelta(minutes=2)


def test_the_picker_speaks_the_ui_language(client_as):
    def locale_of(response):
        raw = re.search(r'id="crm-picker-locale" hidden data-locale="([^"]+)"', response.get_data(as_text=True))
        return json.loads(unescape(raw.group(1)))

    admin = client_as("admin")
    zh = locale_of(admin.get("/admin/appointment/new/"))
    assert zh["daysOfWeek"] == ["日", "一", "二", "三", "四", "五", "六"]
    assert zh["monthNames"][0] == "1月" and zh["monthNames"][11] == "12月"
    assert (zh["applyLabel"], zh["cancelLabel"]) == ("确定", "取消")
    en = locale_of(english(admin).get("/admin/appointment/new/"))
    assert en["daysOfWeek"][:2] == ["Su", "Mo"] and en["monthNames"][0] == "Jan"
    assert (en["applyLabel"], en["cancelLabel"]) == ("Apply", "Cancel")


# ------------------------------------------------------------------------- flashes
def test_flask_admins_own_flashes_are_chinese(app):
    """Flask-Admin's shipped zh catalog lacks "Failed to create/save record."; ours adds them."""
    from flask import g
    from flask_admin.babel import gettext as admin_gettext

    view = next(v for v in app.extensions["admin"][0]._views if getattr(v, "endpoint", "") == "client")
    with app.test_request_context("/admin/client/new/?lang=zh_CN"):
        g._admin_view = view
        assert admin_gettext("Failed to create record.") == "创建记录失败。"
        assert admin_gettext("Failed to save record.") == "保存记录失败。"
        assert admin_gettext("Record was successfully created.") == "创建记录成功。"
    with app.test_request_context("/admin/client/new/?lang=en"):
        g._admin_view = view
        assert admin_gettext("Failed to create record.") == "Failed to create record."


def test_the_created_flash_is_chinese(client_as, db_session):
    client = make_client(db_session, "admin")
    db_session.commit()
    data = form_data(db_session, client, "followup", content="闪现")
    response = client_as("admin").post("/admin/followup/new/", data=data, follow_redirects=True)
    assert "创建记录成功。" in text(response)


# --------------------------------------------------------------------- error pages
def assert_error_page(response, code: int, title: str):
    page = text(response)
    assert response.status_code == code
    assert f'id="crm-error" data-status="{code}"' in page and title in page, page[:600]
    assert 'href="/admin/"' in page  # a way back
    assert "Werkzeug" not in page and "<title>" + str(code) not in page


def test_refusals_inside_flask_admin_views_are_our_pages_in_chinese(client_as):
    clerk = client_as("clerk")
    assert_error_page(clerk.get("/admin/user/"), 403, "403 · ")
    assert "You do not have the right" not in text(clerk.get("/admin/user/"))
    assert_error_page(client_as("admin").get("/admin/client/details/?id=999999"), 404, "404 · ")
    assert_error_page(client_as("admin").get("/admin/no-such-view/"), 404, "404 · ")
    assert "This page or record does not exist" in text(english(client_as("admin")).get("/admin/no-such-view/"))


def test_a_failure_is_our_500_page_in_the_users_language(database_url, tmp_path):
    app = make_app(database_url, tmp_path, TESTING=False, PROPAGATE_EXCEPTIONS=False)

    @app.route("/boom")
    def boom():
        raise RuntimeError("a bug")

    client = app.test_client()
    zh = client.get("/boom", headers={"Accept-Language": "zh-CN"})
    assert_error_page(zh, 500, "出错了")
    assert "a bug" not in text(zh)
    en = client.get("/boom?lang=en")
    assert_error_page(en, 500, "Something went wrong")


def test_a_too_large_upload_is_our_413_page(database_url, tmp_path):
    app = make_app(database_url, tmp_path, MAX_CONTENT_LENGTH=1000)
    response = app.test_client().post("/login", data={"username": "x" * 5000})
    assert_error_page(response, 413, "文件过大")


# ----------------------------------------------------------------- descriptions
def test_setting_descriptions_in_the_viewers_language_only(client_as):
    admin = client_as("admin")
    zh = text(admin.get("/admin/config/"))
    assert "币种" in zh and "Currency" not in zh and " / " not in zh.split("</thead>", 1)[1]
    en = text(english(admin).get("/admin/config/"))
    assert "Currency" in en and "币种" not in en


def test_role_descriptions_in_the_viewers_language_only(client_as):
    zh = text(client_as("admin").get("/admin/role/")).split("</thead>", 1)[1]
    assert "Back-office clerk" not in zh and "Administrator" not in zh
    assert zh.count("文员") == 2  # name and description
    en = text(english(client_as("admin")).get("/admin/role/")).split("</thead>", 1)[1]
    assert "Back-office clerk" in en


def test_entered_text_is_black():
    css = (ROOT / "static" / "crm.css").read_text()
    rule = re.search(r"([^}]*\.form-control[^{]*)\{\s*color:\s*#212529", css)
    assert rule and ".form-control:focus" in rule.group(1)


# -------------------------------------------------------------------- catalogs
def _tree_without_catalogs(target: Path) -> Path:
    shutil.copytree(
        ROOT,
        target,
        ignore=shutil.ignore_patterns("*.mo", ".venv", "instance", ".git", "__pycache__", "*.db", ".ruff_cache"),
    )
    assert not list((target / "translations").rglob("*.mo"))
    return target


def test_a_tree_without_compiled_catalogs_speaks_chinese(tmp_path):
    tree = _tree_without_catalogs(tmp_path / "clone")
    script = (
        "from app import create_app\n"
        f"app = create_app({{'SQLALCHEMY_DATABASE_URI': 'sqlite:///{tmp_path}/c.db', 'SECRET_KEY': 'x'}})\n"
        "print(app.test_client().get('/login').get_data(as_text=True))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=tree, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "登录" in result.stdout and 'lang="zh-CN"' in result.stdout
    assert (tree / "translations/zh_Hans_CN/LC_MESSAGES/messages.mo").exists()
    assert (tree / "translations/zh_Hans_CN/LC_MESSAGES/admin.mo").exists()


def test_a_read_only_tree_compiles_its_catalogs_into_a_temp_folder(tmp_path, monkeypatch):
    import app as app_module

    source = tmp_path / "translations"
    shutil.copytree(ROOT / "translations", source, ignore=shutil.ignore_patterns("*.mo"))
    compile_catalog = app_module._compile_catalog

    def read_only(po, mo):
        if source in mo.parents:
            raise PermissionError(13, "Read-only file system", str(mo))
        compile_catalog(po, mo)

    monkeypatch.setattr(app_module, "_compile_catalog", read_only)
    monkeypatch.setattr(app_module.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    folder = app_module.compiled_catalogs(source)
    assert folder != source and not list(source.rglob("*.mo"))
    assert (folder / "zh_Hans_CN/LC_MESSAGES/messages.mo").exists()
    from babel.support import Translations

    assert Translations.load(str(folder), ["zh_Hans_CN"]).gettext("Log in") != "Log in"


def test_stale_catalogs_are_compiled_again(tmp_path):
    import os

    import app as app_module

    source = tmp_path / "translations"
    shutil.copytree(ROOT / "translations", source, ignore=shutil.ignore_patterns("*.mo"))
    assert app_module.compiled_catalogs(source) == source
    mo = source / "zh_Hans_CN/LC_MESSAGES/messages.mo"
    os.utime(mo, (1, 1))
    app_module.compiled_catalogs(source)
    assert mo.stat().st_mtime > 1
