"""CrmModelView machinery on the platform's own tables: audit, optimistic locking,
soft delete, lookups in use, CSRF, security headers, SQL per page, user form."""

from __future__ import annotations

import re

from sqlalchemy import func, insert, select

from models.audit import AuditLog
from models.auth import Department, Right, Role, User
from models.lookups import Position, Trade
from tests.conftest import csrf_token_from, list_pages, login


def _user(session, username):
    return session.execute(select(User).where(User.username == username)).scalar_one()


def test_edit_writes_audit_entry_with_old_and_new_values(client_as, db_session, app):
    client = client_as("admin")
    dep = db_session.execute(select(Department).where(Department.name == "销售二部")).scalar_one()
    response = client.post(
        f"/admin/department/edit/?id={dep.id}",
        data={"name": "华东销售部", "parent": str(dep.parent_id), "sort_order": "5"},
    )
    assert response.status_code == 302
    db_session.expire_all()
    entry = (
        db_session.execute(
            select(AuditLog).where(
                AuditLog.table_name == "department", AuditLog.record_id == dep.id, AuditLog.action == "update"
            )
        )
        .scalars()
        .one()
    )
    admin = _user(db_session, "admin")
    assert entry.action == "update" and entry.user_id == admin.id and entry.ip == "127.0.0.1"
    assert entry.changes["name"] == ["销售二部", "华东销售部"]
    assert entry.changes["sort_order"] == [0, 5]
    details = client.get(f"/admin/department/details/?id={dep.id}")
    assert "华东销售部".encode() in details.data and b'id="history"' in details.data
    assert "销售二部".encode() in details.data  # the old value, in the History section


def test_audit_covers_create_delete_and_cli(app, db_session):
    from models.audit import set_cli_actor

    set_cli_actor(None, "cli")
    dep = Department(name="临时部门")
    db_session.add(dep)
    db_session.commit()
    dep_id = dep.id
    db_session.delete(dep)
    db_session.commit()
    actions = db_session.execute(
        select(AuditLog.action, AuditLog.ip)
        .where(AuditLog.table_name == "department", AuditLog.record_id == dep_id)
        .order_by(AuditLog.id)
    ).all()
    assert actions == [("create", "cli"), ("delete", "cli")]


def test_stale_edit_is_refused_and_nothing_overwritten(client_as, db_session):
    admin = client_as("admin")
    user = _user(db_session, "clerk")
    form = {
        "username": "clerk",
        "name": "第一次修改",
        "role": str(user.role_id),
        "department": str(user.department_id),
        "is_active": "y",
        "gender": "",
        "locale": "",
    }
    # both users loaded version 1 …
    assert user.version == 1
    first = admin.post(f"/admin/user/edit/?id={user.id}", data={**form, "loaded_version": "1"})
    assert first.status_code == 302
    # … the second save is based on the old version and must be refused
    second = admin.post(
        f"/admin/user/edit/?id={user.id}",
        data={**form, "name": "第二次修改", "loaded_version": "1"},
        follow_redirects=True,
    )
    text = second.data.decode()
    assert "测试admin" in text  # names who changed it
    assert "第二次修改" not in text or "changed by" in text or "修改" in text
    db_session.expire_all()
    user = _user(db_session, "clerk")
    assert user.name == "第一次修改" and user.version == 2


def test_edit_form_carries_loaded_version(client_as, db_session):
    user = _user(db_session, "clerk")
    page = client_as("admin").get(f"/admin/user/edit/?id={user.id}").data.decode()
    assert re.search(r'name="loaded_version" type="hidden" value="1"', page) or re.search(
        r'id="loaded_version" name="loaded_version" type="hidden" value="1"', page
    )


def test_soft_delete_recycle_bin_and_restore(client_as, db_session):
    client = client_as("admin")
    user = _user(db_session, "marketing")
    assert client.post("/admin/user/delete/", data={"id": str(user.id)}).status_code == 302
    db_session.expire_all()
    user = _user(db_session, "marketing")
    assert user.is_deleted and user.deleted_by_id == _user(db_session, "admin").id
    assert "测试marketing".encode() not in client.get("/admin/user/").data
    assert "测试marketing".encode() in client.get("/admin/user/?bin=1").data
    bin_page = client.get("/admin/user/?bin=1").data.decode()
    assert 'data-crm-action="restore"' in bin_page and 'data-crm-action="delete"' not in bin_page
    assert 'data-crm-action="restore"' not in client.get("/admin/user/").data.decode()
    # the actions form posts to /action/ without ?bin=1
    restored = client.post("/admin/user/action/", data={"action": "restore", "rowid": [str(user.id)]})
    assert restored.status_code == 302
    db_session.expire_all()
    assert not _user(db_session, "marketing").is_deleted
    actions = (
        db_session.execute(
            select(AuditLog.action)
            .where(AuditLog.table_name == "users", AuditLog.record_id == user.id)
            .order_by(AuditLog.id)
        )
        .scalars()
        .all()
    )
    assert actions[-2:] == ["delete", "restore"]


def test_lookup_in_use_cannot_be_deleted_and_inactive_values_are_not_offered(client_as, db_session):
    position = Position(name="顾问")
    unused = Position(name="实习生", is_active=False)
    db_session.add_all([position, unused])
    db_session.flush()
    _user(db_session, "clerk").position_id = position.id
    db_session.commit()
    client = client_as("admin")
    refused = client.post("/admin/position/delete/", data={"id": str(position.id)}, follow_redirects=True)
    assert "顾问" in refused.data.decode() and "users" in refused.data.decode()
    assert db_session.get(Position, position.id) is not None
    form = client.get("/admin/user/new/").data.decode()
    assert "顾问" in form and "实习生" not in form
    # an inactive value stays on the record that has it
    position.is_active = False
    db_session.commit()
    clerk = _user(db_session, "clerk")
    edit = client.get(f"/admin/user/edit/?id={clerk.id}").data.decode()
    assert "顾问" in edit
    assert "顾问" not in client.get("/admin/user/new/").data.decode()


def user_form(role, username: str, name: str, **fields) -> dict:
    """The new-user form of an active user of ``role`` with password secret-pass-1."""
    data = {"username": username, "name": name, "new_password": "secret-pass-1", "role": str(role.id)}
    return {**data, **fields, "is_active": "y", "gender": "", "locale": ""}


def test_user_form_hashes_password_and_masks_id_card(client_as, db_session, app):
    client = client_as("admin")
    role = db_session.execute(select(Role).where(Role.code == "clerk")).scalar_one()
    response = client.post(
        "/admin/user/new/",
        data=user_form(role, "newbie", "新员工", id_card="11010519491231002X", mobile="+86 138-0013-8000"),
    )
    assert response.status_code == 302, response.data[:2000]
    user = _user(db_session, "newbie")
    assert user.password_hash != "secret-pass-1" and user.check_password("secret-pass-1")
    assert user.mobile == "13800138000"  # normalised by the same checker as the model
    # admin holds user.sensitive and sees the number; a viewer without it sees it masked
    assert b"11010519491231002X" in client.get(f"/admin/user/details/?id={user.id}").data
    executive = db_session.execute(select(Role).where(Role.code == "executive")).scalar_one()
    executive.rights.append(db_session.execute(select(Right).where(Right.code == "user.view")).scalar_one())
    db_session.commit()
    viewer = client_as("executive")
    page = viewer.get(f"/admin/user/details/?id={user.id}").data
    assert b"11010519491231002X" not in page and b"1101**********002X" in page
    assert b"11010519491231002X" not in viewer.get("/admin/user/export/csv/").data
    assert b"11010519491231002X" not in viewer.get("/admin/audit_log/").data
    assert b"1101**********002X" in viewer.get("/admin/audit_log/").data


def test_bad_values_are_refused_naming_the_field(client_as, db_session):
    client = client_as("admin")
    role = db_session.execute(select(Role).where(Role.code == "clerk")).scalar_one()
    response = client.post("/admin/user/new/", data=user_form(role, "badid", "坏身份证", id_card="110105194912310021"))
    assert response.status_code == 200
    assert db_session.execute(select(User).where(User.username == "badid")).scalar() is None
    assert b"check" in response.data.lower() or "校验".encode() in response.data


def test_role_edit_page_saves_the_checkbox_tree(client_as, db_session):
    client = client_as("admin")
    role = db_session.execute(select(Role).where(Role.code == "clerk")).scalar_one()
    page = client.get(f"/admin/role/edit/?id={role.id}").data.decode()
    assert 'id="right-user.view"' in page and 'id="right-trade.view"' in page
    wanted = db_session.execute(select(Right).where(Right.code.in_(["trade.view", "trade.edit"]))).scalars().all()
    response = client.post(
        f"/admin/role/edit/?id={role.id}",
        data={
            "code": "clerk",
            "name": role.name,
            "data_scope": "department",
            "is_active": "y",
            "rights_submitted": "1",
            "rights": [str(r.id) for r in wanted],
            "loaded_version": str(role.version),
        },
    )
    assert response.status_code == 302
    db_session.expire_all()
    role = db_session.execute(select(Role).where(Role.code == "clerk")).scalar_one()
    assert {r.code for r in role.rights} == {"trade.view", "trade.edit"}
    entry = (
        db_session.execute(select(AuditLog).where(AuditLog.table_name == "sys_role", AuditLog.record_id == role.id))
        .scalars()
        .all()[-1]
    )
    assert "rights" in entry.changes


def test_csrf_required_on_forms_and_actions(csrf_app, db_session):
    client = csrf_app.test_client()
    assert login(client, "admin").status_code == 302
    # an edit form without a token is refused and changes nothing
    dep = db_session.execute(select(Department).where(Department.name == "销售二部")).scalar_one()
    response = client.post(f"/admin/department/edit/?id={dep.id}", data={"name": "被篡改", "sort_order": "1"})
    assert response.status_code == 400
    # a bulk action without a token is refused
    trade = db_session.execute(select(Trade)).scalars().first()
    response = client.post("/admin/trade/action/", data={"action": "delete", "rowid": [str(trade.id)]})
    assert response.status_code == 400
    # the login form itself needs the token
    assert csrf_app.test_client().post("/login", data={"username": "admin", "password": "x"}).status_code == 400
    db_session.expire_all()
    assert db_session.get(Department, dep.id).name == "销售二部"
    assert db_session.get(Trade, trade.id) is not None
    # with the page's token the same edit goes through
    token = csrf_token_from(client.get(f"/admin/department/edit/?id={dep.id}").data)
    ok = client.post(
        f"/admin/department/edit/?id={dep.id}", data={"name": "华东销售部", "sort_order": "1", "csrf_token": token}
    )
    assert ok.status_code == 302


def test_security_headers_on_every_response(app, client_as):
    for response in (app.test_client().get("/login"), client_as("admin").get("/admin/user/")):
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"]
    page = client_as("admin").get("/admin/user/").data.decode()
    assert "cdn" not in page.lower() and "//" not in re.sub(
        r"https?://127\.0\.0\.1", "", "".join(re.findall(r'(?:src|href)="(https?://[^"]+)"', page))
    )
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)  # no inline script


def test_user_list_sql_statements_constant_as_page_size_grows(app, client_as, db_session):
    from werkzeug.security import generate_password_hash

    role = db_session.execute(select(Role).where(Role.code == "clerk")).scalar_one()
    dep = db_session.execute(select(Department)).scalars().first()
    pw = generate_password_hash("x-password-1")
    db_session.execute(
        insert(User),
        [
            {
                "username": f"bulk{i}",
                "name": f"批量{i}",
                "password_hash": pw,
                "role_id": role.id,
                "department_id": dep.id,
                "is_active": True,
                "is_deleted": False,
                "failed_logins": 0,
            }
            for i in range(120)
        ],
    )
    db_session.commit()
    client = client_as("admin")
    counts, pages = list_pages(app, client, "/admin/user/")
    assert all(page.status_code == 200 for page in pages.values())
    assert counts[20] == counts[100], counts


def test_dashboard_lists_modules_the_user_may_open(client_as):
    admin = client_as("admin").get("/admin/").data.decode()
    assert "/admin/user/" in admin and "/admin/trade/" in admin and "测试admin" in admin
    clerk = client_as("clerk").get("/admin/").data.decode()
    assert "/admin/trade/" in clerk and "/admin/user/" not in clerk and "测试clerk" in clerk


def test_client_count_is_zero_until_clients_exist(client_as, db_session):
    user = _user(db_session, "account_manager")
    assert user.client_count == 0
    page = client_as("admin").get(f"/admin/user/details/?id={user.id}").data.decode()
    assert "客户数量" in page or "Clients" in page


def test_login_log_and_audit_log_are_read_only(client_as, db_session):
    client = client_as("admin")
    before = db_session.execute(select(func.count()).select_from(AuditLog)).scalar()
    assert client.get("/admin/audit_log/new/").status_code in (302, 403)
    assert client.get("/admin/login_log/new/").status_code in (302, 403)
    entry_id = db_session.execute(select(AuditLog.id)).scalars().first()
    if entry_id:
        client.post("/admin/audit_log/delete/", data={"id": str(entry_id)})
        assert db_session.get(AuditLog, entry_id) is not None
    assert db_session.execute(select(func.count()).select_from(AuditLog)).scalar() >= before
