"""The seeded rights matrix of SPEC §6 for the system and lookup endpoints.

Every role × endpoint × operation is requested over HTTP; the expectation comes from
the table below, written from SPEC §6 by hand (never from seed.reference), so a change
of the seed that breaks the specification fails here.

One app and one database serve the whole module (module-scoped fixtures), with one
logged-in client per role, to keep the ~1000 cases fast.
"""
from __future__ import annotations

import re
import shutil
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text

from tests.conftest import login, make_app

# ------------------------------------------------------------------ the expectation
ROLES = ["admin", "executive", "sales_director", "account_manager", "clerk", "finance", "service",
         "marketing"]
SYSTEM_ENDPOINTS = ["user", "department", "role", "right", "config", "login_log", "audit_log"]
#: SPEC §4.2 lookup endpoints, in menu order (written out: the test must not trust the code)
LOOKUP_ENDPOINTS = ["trade", "followup_type", "client_type", "client_source", "star_rating",
                    "position", "contract_type", "revenue_band", "capital_band", "company_size",
                    "business_model", "area", "appointment_type", "sales_stage", "service_type",
                    "payment_method", "invoice_type", "campaign_type"]
ENDPOINTS = SYSTEM_ENDPOINTS + LOOKUP_ENDPOINTS
OPERATIONS = ["view", "create", "edit", "delete", "export"]
LETTER = {"view": "V", "create": "C", "edit": "E", "delete": "D", "export": "X"}

#: SPEC §6: role → {endpoint: letters}; anything missing is "—"
MATRIX: dict[str, dict[str, str]] = {
    "admin": {endpoint: "VCEDX" for endpoint in ENDPOINTS},
    "executive": {"audit_log": "V", **{endpoint: "V" for endpoint in LOOKUP_ENDPOINTS}},
    **{role: {endpoint: "V" for endpoint in LOOKUP_ENDPOINTS}
       for role in ("sales_director", "account_manager", "clerk", "finance", "service", "marketing")},
}

#: operations a view switches off for everybody (rights codes are fixed by the program,
#: logs are append-only): even the admin gets no form and changes nothing.
DISABLED = {"right": {"create", "delete"},
            "login_log": {"create", "edit", "delete"},
            "audit_log": {"create", "edit", "delete"}}


def expected(role: str, endpoint: str, operation: str) -> bool:
    return LETTER[operation] in MATRIX.get(role, {}).get(endpoint, "")


def test_expectation_table_is_complete():
    """Guard the hand-written table itself (18 lookups, 25 endpoints, the admin row)."""
    from models.lookups import LOOKUPS

    assert list(LOOKUPS) == LOOKUP_ENDPOINTS
    assert len(ENDPOINTS) == 25
    assert sum(expected("admin", e, o) for e in ENDPOINTS for o in OPERATIONS) == 125
    assert [e for e in ENDPOINTS if expected("executive", e, "view")] == ["audit_log"] + LOOKUP_ENDPOINTS
    assert not any(expected(r, e, o) for r in ROLES[1:] for e in ENDPOINTS for o in OPERATIONS
                   if o != "view")


# ------------------------------------------------------------------ module fixtures
@pytest.fixture(scope="module")
def perm_app(template_db, tmp_path_factory):
    """Like conftest's `app`, but one per module (SQLite copy or PostgreSQL clone)."""
    kind, admin_engine, url, template = template_db
    tmp = tmp_path_factory.mktemp("permissions")
    name = None
    if kind == "sqlite":
        target = tmp / "crm.db"
        shutil.copy(template, target)
        database_url = f"sqlite:///{target}"
    else:
        name = f"crm_p_{uuid.uuid4().hex[:10]}"
        with admin_engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        database_url = url.set(database=name).render_as_string(hide_password=False)
    app = make_app(database_url, tmp)
    yield app
    from models import db
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if name:
        with admin_engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def clients(perm_app):
    """role → a logged-in test client (one login per role per module)."""
    made = {}

    def get(username):
        if username not in made:
            client = perm_app.test_client()
            response = login(client, username)
            assert response.status_code == 302, response.data[:500]
            made[username] = client
        return made[username]
    return get


def _models():
    from models.audit import AuditLog
    from models.auth import Department, LoginLog, Right, Role, SystemConfig, User
    from models.lookups import LOOKUPS
    return {"user": User, "department": Department, "role": Role, "right": Right,
            "config": SystemConfig, "login_log": LoginLog, "audit_log": AuditLog, **LOOKUPS}


def _disposable(endpoint: str):
    """A new row nobody uses, so deleting it is always possible (inside an app context)."""
    from models.audit import AuditLog
    from models.auth import Department, LoginLog, Right, Role, SystemConfig, User
    from models.lookups import LOOKUPS
    from models import db

    tag = uuid.uuid4().hex[:10]
    if endpoint == "user":
        role = db.session.execute(db.select(Role).where(Role.code == "clerk")).scalar_one()
        row = User(username=f"tmp_{tag}", name=f"临时{tag}", role=role, password_hash="!",
                   is_active=True)
    elif endpoint == "department":
        row = Department(name=f"临时部门{tag}")
    elif endpoint == "role":
        row = Role(code=f"tmp_{tag}", name=f"临时角色{tag}", data_scope="own", is_active=True)
    elif endpoint == "right":
        row = Right(code=f"tmp.{tag}", type="action", text=f"临时{tag}")
    elif endpoint == "config":
        row = SystemConfig(name=f"tmp_{tag}", value="1")
    elif endpoint == "login_log":
        row = LoginLog(username=f"tmp_{tag}", success=False)
    elif endpoint == "audit_log":
        row = AuditLog(table_name="tmp", record_id=1, action="create", comment=tag)
    else:
        row = LOOKUPS[endpoint](name=f"临时{tag}")
    db.session.add(row)
    db.session.commit()
    return row.id


@pytest.fixture(scope="module")
def existing_ids(perm_app):
    """endpoint → the id of a row that exists (for edit/?id=)."""
    from models import db
    models = _models()
    with perm_app.app_context():
        ids = {}
        for endpoint, model in models.items():
            ids[endpoint] = db.session.execute(db.select(db.func.min(model.id))).scalar() \
                or _disposable(endpoint)
        db.session.remove()
    return ids


def _state(app, endpoint, row_id):
    """'gone', 'deleted' (soft) or 'present'."""
    from models import db
    with app.app_context():
        row = db.session.get(_models()[endpoint], row_id)
        state = "gone" if row is None else "deleted" if getattr(row, "is_deleted", False) else "present"
        db.session.remove()
    return state


def _row_snapshot(app, endpoint, row_id):
    from models import db
    with app.app_context():
        row = db.session.get(_models()[endpoint], row_id)
        snap = None if row is None else {c.key: getattr(row, c.key) for c in row.__table__.columns}
        db.session.remove()
    return snap


def _count(app, endpoint):
    from models import db
    with app.app_context():
        n = db.session.execute(db.select(db.func.count()).select_from(_models()[endpoint])).scalar()
        db.session.remove()
    return n


# ------------------------------------------------------------------ the matrix
@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("role", ROLES)
def test_matrix(perm_app, clients, existing_ids, role, endpoint, operation):
    client = clients(role)
    allowed = expected(role, endpoint, operation)
    disabled = operation in DISABLED.get(endpoint, set())
    base = f"/admin/{endpoint}/"

    if operation == "delete":
        with perm_app.app_context():
            row_id = _disposable(endpoint)
        before = _row_snapshot(perm_app, endpoint, row_id)
        response = client.post(f"{base}delete/", data={"id": str(row_id), "url": base})
        if not allowed:
            assert response.status_code == 403
            assert _row_snapshot(perm_app, endpoint, row_id) == before
        elif disabled:
            assert response.status_code == 302
            assert urlsplit(response.headers["Location"]).path == base
            assert _row_snapshot(perm_app, endpoint, row_id) == before
        else:
            assert response.status_code == 302, response.data[:300]
            assert urlsplit(response.headers["Location"]).path == base
            assert _state(perm_app, endpoint, row_id) in ("gone", "deleted")
        return

    url = {"view": base, "create": f"{base}new/", "edit": f"{base}edit/?id={existing_ids[endpoint]}",
           "export": f"{base}export/csv/"}[operation]
    count_before = _count(perm_app, endpoint) if operation == "create" else None
    response = client.get(url)
    if not allowed:
        assert response.status_code == 403, (role, endpoint, operation)
    elif disabled:
        # Flask-Admin's can_create/can_edit is off: back to the list, no form, nothing saved
        assert response.status_code == 302, (role, endpoint, operation)
        assert urlsplit(response.headers["Location"]).path == base
    else:
        assert response.status_code == 200, (role, endpoint, operation, response.data[:300])
        if operation == "export":
            assert response.mimetype == "text/csv"
        elif operation in ("create", "edit"):
            assert b"<form" in response.data
    if count_before is not None:
        assert _count(perm_app, endpoint) == count_before


# ------------------------------------------------------------------ disabled operations, POSTed
@pytest.mark.parametrize("endpoint", ["right", "login_log", "audit_log"])
def test_disabled_forms_save_nothing_even_for_admin(perm_app, clients, endpoint):
    """POSTing the create/edit forms of append-only or program-owned tables saves nothing."""
    client = clients("admin")
    base = f"/admin/{endpoint}/"
    with perm_app.app_context():
        row_id = _disposable(endpoint)
    before = _row_snapshot(perm_app, endpoint, row_id)
    count = _count(perm_app, endpoint)
    data = {"text": "hacked", "code": "hacked.code", "type": "action", "username": "hacked",
            "table_name": "hacked", "action": "hacked", "comment": "hacked", "success": "y"}
    if "create" in DISABLED[endpoint]:
        response = client.post(f"{base}new/", data=data)
        assert response.status_code == 302
        assert urlsplit(response.headers["Location"]).path == base
        assert _count(perm_app, endpoint) == count
    if "edit" in DISABLED[endpoint]:
        response = client.post(f"{base}edit/?id={row_id}", data=data)
        assert response.status_code == 302
        assert _row_snapshot(perm_app, endpoint, row_id) == before




@pytest.mark.parametrize("endpoint", ["right", "login_log", "audit_log"])
def test_disabled_delete_is_not_possible_through_the_bulk_action(perm_app, clients, endpoint):
    client = clients("admin")
    with perm_app.app_context():
        row_id = _disposable(endpoint)
    before = _row_snapshot(perm_app, endpoint, row_id)
    response = client.post(f"/admin/{endpoint}/action/",
                           data={"action": "delete", "rowid": [str(row_id)]})
    assert response.status_code in (302, 403)
    assert _row_snapshot(perm_app, endpoint, row_id) == before


@pytest.mark.parametrize("endpoint", ["right", "login_log", "audit_log"])
def test_disabled_delete_is_not_offered_as_bulk_action(perm_app, clients, endpoint):
    html = clients("admin").get(f"/admin/{endpoint}/").get_data(as_text=True)
    assert 'data-crm-action="delete"' not in html


# ------------------------------------------------------------------ anonymous, menu
def test_anonymous_is_sent_to_login_with_next(perm_app):
    response = perm_app.test_client().get("/admin/user/")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query) == {"next": ["/admin/user/"]}


def test_anonymous_redirect_location_is_percent_encoded(perm_app):
    response = perm_app.test_client().get("/admin/user/")
    assert response.headers["Location"] == "/login?next=%2Fadmin%2Fuser%2F"


def _navbar(html: str) -> str:
    start = html.index('id="admin-navbar-collapse"')
    end = html.index("crm-user-menu", start)
    return html[start:end]


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_clerk_menu_has_lookups_but_no_system_items(perm_app, clients, lang):
    client = clients("clerk")
    html = client.get(f"/admin/?lang={lang}").get_data(as_text=True)
    nav = _navbar(html)
    assert 'href="/admin/trade/"' in nav
    for endpoint in SYSTEM_ENDPOINTS:
        assert f'href="/admin/{endpoint}/"' not in nav, endpoint
    links = set(re.findall(r'href="/admin/([a-z_]+)/"', nav))
    assert links == set(LOOKUP_ENDPOINTS)
    assert "系统管理" not in nav and ">System" not in nav and "System<" not in nav
    # the dashboard body offers nothing of the system module either
    assert 'href="/admin/user/"' not in html


def test_admin_menu_lists_the_system_items(perm_app, clients):
    nav = _navbar(clients("admin").get("/admin/?lang=en").get_data(as_text=True))
    for endpoint in ENDPOINTS:
        assert f'href="/admin/{endpoint}/"' in nav, endpoint


def test_executive_menu_lists_only_audit_log_of_the_system_items(perm_app, clients):
    nav = _navbar(clients("executive").get("/admin/?lang=en").get_data(as_text=True))
    links = set(re.findall(r'href="/admin/([a-z_]+)/"', nav))
    assert links == {"audit_log", *LOOKUP_ENDPOINTS}
