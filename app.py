"""CRM back office: the application factory (SPEC §2.1)."""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from pathlib import Path

from flask import Flask, g, has_request_context, redirect, request, session, url_for
from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

from models import clock, db, settings
from models.sessions import IP_FAILURE_LIMIT, IP_TRUSTED_DAYS, IP_WINDOW_MINUTES, user_for_session

LANGUAGES = ("zh_CN", "en")
BASE_DIR = Path(__file__).resolve().parent

babel = Babel()
csrf = CSRFProtect()
login_manager = LoginManager()
migrate = Migrate()


def _secret_key(instance: Path) -> str:
    """SECRET_KEY from the environment, else generated once into instance/secret_key."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _compile_catalog(po: Path, mo: Path) -> None:
    """``pybabel compile`` of one catalog (fuzzy entries left out), written atomically so
    that workers starting together never read a half-written file."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as source:
        catalog = read_po(source)
    mo.parent.mkdir(parents=True, exist_ok=True)
    partial = mo.with_name(f".{mo.name}.{os.getpid()}")
    with partial.open("wb") as target:
        write_mo(target, catalog)
    os.replace(partial, mo)


def _stale(po: Path, mo: Path) -> bool:
    return not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime


def compiled_catalogs(source: Path) -> Path:
    """The folder of compiled catalogs (.mo) for the .po files under ``source``, so that a
    server started without ``make`` (``flask run``, gunicorn) speaks Chinese: missing or
    stale .mo files are compiled next to their .po, or — when the tree is read-only —
    into a private folder under the temp dir, which is then returned instead."""
    catalogs = sorted(source.glob("*/LC_MESSAGES/*.po"))
    try:
        for po in catalogs:
            if _stale(po, po.with_suffix(".mo")):
                _compile_catalog(po, po.with_suffix(".mo"))
        return source
    except OSError:
        pass
    digest = hashlib.sha256(str(source).encode()).hexdigest()[:12]
    target = Path(tempfile.gettempdir()) / f"crm-catalogs-{os.getuid()}-{digest}"
    target.mkdir(mode=0o700, exist_ok=True)
    if target.stat().st_uid != os.getuid():  # someone else's folder: do not trust it
        target = Path(tempfile.mkdtemp(prefix="crm-catalogs-"))
    for po in catalogs:
        mo = target / po.relative_to(source).with_suffix(".mo")
        if _stale(po, mo):
            _compile_catalog(po, mo)
    return target


def select_locale() -> str:
    """?lang= (remembered in the session), then the browser's Accept-Language, else zh_CN
    (also outside requests: CLI, imports)."""
    if not has_request_context():
        return "zh_CN"
    lang = request.args.get("lang")
    if lang in LANGUAGES:
        session["lang"] = lang
    if session.get("lang") in LANGUAGES:
        return session["lang"]
    return request.accept_languages.best_match(LANGUAGES) or "zh_CN"


def select_timezone() -> str:
    """The display time zone: the clock's (the ``timezone`` setting, default Asia/Shanghai),
    so the times pages show and the days the domain counts agree, in requests and the CLI."""
    try:
        return clock.zone_name()
    except (OperationalError, ProgrammingError):  # no table before the first migration
        db.session.rollback()
        return settings.timezone.default


def _is_sqlite(dbapi_connection) -> bool:
    return dbapi_connection.__class__.__module__.startswith("sqlite3")


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    if _is_sqlite(dbapi_connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    """Requests that change data (POST …) take SQLite's write lock when their transaction
    begins. In WAL mode a deferred transaction that has read and then writes after another
    connection committed fails at once with "database is locked" (busy_timeout cannot
    help: its snapshot is stale), so every read-check-write — a workflow step, a number,
    a sum rule — would lose races with a 500. BEGIN IMMEDIATE makes the second writer
    wait for the first and then read what it committed. Reads (GET) stay deferred and
    never wait; so do the CLI and scripts, which keep the driver's own transactions, and
    the slow read-only phases of a writing request (models.without_write_lock)."""
    dbapi_connection = conn.connection.dbapi_connection
    if not _is_sqlite(dbapi_connection):
        return
    if has_request_context() and request.method not in ("GET", "HEAD", "OPTIONS") and not g.get("defer_write_lock"):
        dbapi_connection.isolation_level = None  # the driver leaves BEGIN to us …
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        dbapi_connection.isolation_level = ""  # … or begins before the first write, as by default


def create_app(config: dict | None = None) -> Flask:
    """Build the app: config, extensions, login pages, admin, CLI, security headers."""
    app = Flask(__name__, instance_relative_config=True)
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    config = dict(config or {})

    app.config.update(
        SQLALCHEMY_DATABASE_URI=os.environ.get("DATABASE_URL") or f"sqlite:///{instance / 'crm.db'}",
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=False,
        REMEMBER_COOKIE_HTTPONLY=True,
        WTF_CSRF_TIME_LIMIT=8 * 3600,
        BABEL_DEFAULT_LOCALE="zh_CN",
        BABEL_DEFAULT_TIMEZONE="Asia/Shanghai",
        BABEL_TRANSLATION_DIRECTORIES=str(compiled_catalogs(BASE_DIR / "translations")),
        FLASK_ADMIN_SWATCH="flatly",
        UPLOAD_FOLDER=str(instance / "uploads"),
        MAX_CONTENT_LENGTH=50 * 1024 * 1024,
        LOGIN_IP_FAILURE_LIMIT=IP_FAILURE_LIMIT,
        LOGIN_IP_WINDOW_MINUTES=IP_WINDOW_MINUTES,
        LOGIN_IP_TRUSTED_DAYS=IP_TRUSTED_DAYS,
    )
    app.config.from_prefixed_env("CRM")
    if "SECRET_KEY" not in config and not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(instance)
    app.config.update(config)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"))
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None

    @login_manager.user_loader
    def load_user(user_id: str):
        # the cookie is only accepted while its database session is open (logout, "log out
        # all my sessions", password change and reset end it): still one SELECT a request
        from views.login import SESSION_KEY

        return user_for_session(user_id, session.get(SESSION_KEY))

    from views import init_admin
    from views.files import bp as files_bp
    from views.helpers import register_template_helpers
    from views.login import bp as auth_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(files_bp)
    init_admin(app)
    register_template_helpers(app)

    from views.feedback import init_app as init_feedback
    from views.reminders import init_app as init_reminders
    from views.sql_stats import init_app as init_sql_stats

    init_feedback(app)
    from views.marketing_tracking import init_app as init_marketing_tracking

    init_marketing_tracking(app, csrf)
    init_reminders(app)
    init_sql_stats(app)

    from seed import register_cli

    register_cli(app)
    from models.sla_check import register_cli as register_sla_check

    register_sla_check(app)
    from models.marketing_send import register_cli as register_send_emails

    register_send_emails(app)

    @app.route("/")
    def home():
        return redirect(url_for("admin.index"))

    @app.after_request
    def security_headers(response):
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
            "frame-ancestors 'none'",
        )
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    return app
