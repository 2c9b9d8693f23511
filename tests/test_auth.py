"""Login, lockout, login log, open redirects, logout, change password (SPEC §2.3, §8)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from models.auth import LoginLog, User
from models.base import utcnow
from tests.conftest import PASSWORD, login

BAD = "Unknown username or wrong password."


def en_client(app):
    client = app.test_client()
    client.get("/login?lang=en")
    return client


def test_login_success_logs_and_redirects_to_dashboard(app, db_session):
    client = en_client(app)
    response = login(client, "clerk", headers={"User-Agent": "pytest-agent"})
    assert response.status_code == 302 and response.headers["Location"] == "/admin/"
    page = client.get("/admin/")
    assert "测试clerk".encode() in page.data
    entry = db_session.execute(select(LoginLog).order_by(LoginLog.id.desc())).scalars().first()
    assert entry.username == "clerk" and entry.success is True and entry.ip == "127.0.0.1"
    user = db_session.execute(select(User).where(User.username == "clerk")).scalar_one()
    assert user.last_login_at is not None and entry.user_id == user.id


def test_unknown_user_and_wrong_password_get_the_same_message(app, db_session):
    client = en_client(app)
    wrong = login(client, "clerk", "not-the-password")
    unknown = login(client, "nobody-here", "whatever-123")
    assert wrong.status_code == unknown.status_code == 401
    assert BAD.encode() in wrong.data and BAD.encode() in unknown.data
    rows = db_session.execute(select(LoginLog).where(LoginLog.success.is_(False))).scalars().all()
    assert {r.username for r in rows} == {"clerk", "nobody-here"}
    assert all(r.user_agent is not None for r in rows)


def test_five_failures_lock_the_account_for_15_minutes(app, db_session):
    client = en_client(app)
    for _ in range(5):
        assert login(client, "finance", "wrong-password").status_code == 401
    locked = login(client, "finance", PASSWORD)
    assert locked.status_code == 423 and b"locked" in locked.data
    user = db_session.execute(select(User).where(User.username == "finance")).scalar_one()
    assert user.locked_until is not None
    remaining = user.locked_until - utcnow()
    assert timedelta(minutes=14) < remaining <= timedelta(minutes=15)
    # after the lock expires the right password works again
    user.locked_until = utcnow() - timedelta(seconds=1)
    db_session.commit()
    assert login(client, "finance", PASSWORD).status_code == 302


def test_failures_from_one_ip_are_rate_limited(database_url, tmp_path):
    from tests.conftest import make_app

    app = make_app(database_url, tmp_path, LOGIN_IP_FAILURE_LIMIT=3)
    client = en_client(app)
    for name in ("a1", "a2", "a3"):
        assert login(client, name, "x-wrong-1").status_code == 401
    blocked = login(client, "clerk", PASSWORD)
    assert blocked.status_code == 429
    assert client.get("/admin/").status_code == 302  # still not logged in


def test_disabled_and_deleted_users_cannot_log_in(app, db_session):
    user = db_session.execute(select(User).where(User.username == "service")).scalar_one()
    user.is_active = False
    other = db_session.execute(select(User).where(User.username == "marketing")).scalar_one()
    other.soft_delete(None)
    db_session.commit()
    client = en_client(app)
    assert login(client, "service").status_code == 401
    assert login(client, "marketing").status_code == 401


@pytest.mark.parametrize(
    "target, expected",
    [
        ("/admin/user/", "/admin/user/"),
        ("/admin/user/?page=2", "/admin/user/?page=2"),
        ("https://evil.example/", "/admin/"),
        ("//evil.example/x", "/admin/"),
        ("/\\evil.example", "/admin/"),
        ("javascript:alert(1)", "/admin/"),
    ],
)
def test_next_only_redirects_within_the_site(app, target, expected):
    client = app.test_client()
    response = login(client, "admin", next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_anonymous_admin_request_redirects_to_login_with_next(app):
    response = app.test_client().get("/admin/department/?page=1")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == ["/admin/department/?page=1"]
    assert app.test_client().get("/admin/").status_code == 302
    assert app.test_client().get("/").status_code == 302


def test_logout_is_post_only_and_ends_the_session(client_as):
    client = client_as("clerk")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 302
    assert client.get("/admin/").status_code == 302


def test_session_cookie_flags(app):
    client = app.test_client()
    response = login(client, "clerk")
    cookie = response.headers.get("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_secure_cookie_when_configured(database_url, tmp_path):
    from tests.conftest import make_app

    app = make_app(database_url, tmp_path, SESSION_COOKIE_SECURE=True)
    cookie = login(app.test_client(), "clerk").headers.get("Set-Cookie")
    assert "Secure" in cookie


def test_change_my_password(client_as, app):
    client = client_as("clerk")
    wrong = client.post(
        "/account/password", data={"current": "nope-nope", "new": "new-pass-456", "repeat": "new-pass-456"}
    )
    assert wrong.status_code == 200
    short = client.post("/account/password", data={"current": PASSWORD, "new": "short", "repeat": "short"})
    assert short.status_code == 200
    ok = client.post("/account/password", data={"current": PASSWORD, "new": "new-pass-456", "repeat": "new-pass-456"})
    assert ok.status_code == 302
    fresh = app.test_client()
    assert login(fresh, "clerk", PASSWORD).status_code == 401
    assert login(fresh, "clerk", "new-pass-456").status_code == 302


def test_password_hash_never_shown(client_as, db_session):
    client = client_as("admin")
    user = db_session.execute(select(User).where(User.username == "clerk")).scalar_one()
    for url in (
        f"/admin/user/details/?id={user.id}",
        f"/admin/user/edit/?id={user.id}",
        "/admin/user/",
        "/admin/user/export/csv/",
    ):
        body = client.get(url).data
        assert user.password_hash.encode() not in body
        assert b"scrypt:" not in body and b"pbkdf2:" not in body
