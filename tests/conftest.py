"""Test fixtures and every helper the test modules share (builders of rows are in
tests/factories.py; test modules never import each other).

A migrated, seeded database per test (SQLite file copy, or a PostgreSQL database cloned
from a template when TEST_DATABASE_URL is set, made one test ahead and dropped in the
background). The apps are built once per worker
(``SharedApps``: create_app costs about 1.4 s) and lent to one test at a time, with
their configuration restored and an engine on that test's database; ``make_app`` still
builds a new app for a test that needs one of its own. Test clients log in as a user of
a given role.

Safe under pytest-xdist (`make test` runs `pytest -n auto`): each worker is its own
session with its own template (a file under the worker's tmp dir, or a PostgreSQL
database named after the worker) and its own apps, every file a test writes is under its
tmp_path, and servers listen on a port the system picks."""

from __future__ import annotations

import functools
import gc
import html
import json
import os
import re
import shutil
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy.exc
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

PASSWORD = "password-123"
ROLES = ["admin", "executive", "sales_director", "account_manager", "clerk", "finance", "service", "marketing"]
#: endpoints written out by hand (a test must not trust the code for them): the System menu
SYSTEM_ENDPOINTS = ["user", "department", "role", "right", "config", "login_log", "audit_log"]
#: … and the finance and purchasing views, in menu order
FINANCE_ENDPOINTS = [
    "receipt",
    "invoice",
    "supplier",
    "purchase_request",
    "expense_contract",
    "payment",
    "purchase_invoice",
]
PG_URL = os.environ.get("TEST_DATABASE_URL", "")
#: "gw0", "gw1", … in a pytest-xdist worker, "main" in a run without -n
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
#: the cost of the fixture users' password hashes: scrypt with N=2**10 (about 3 ms a check)
#: instead of werkzeug's default N=2**15 (about 0.15 s of CPU), which every login through
#: the form paid and which was about a sixth of the pass. Only the template's users get it;
#: a password set in a test (forms, ``set_password``) and the app's own dummy hash keep the
#: default, and a test that compares hashing times gives its user a default-cost hash.
FIXTURE_HASH_METHOD = "scrypt:1024:8:1"


def _build_schema(url: str) -> None:
    """alembic upgrade + seed + one user per role (as `make run` would, never create_all;
    their passwords hashed at ``FIXTURE_HASH_METHOD``'s cost)."""
    from unittest import mock

    from flask_migrate import upgrade
    from werkzeug.security import generate_password_hash

    from app import create_app
    from models import db
    from models.auth import Department
    from seed import make_user, seed_reference

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test"})
    with app.app_context():
        upgrade()
        seed_reference()
        sales = Department(name="销售部")
        team = Department(name="销售一部", parent=sales)
        other = Department(name="销售二部", parent=sales)
        db.session.add_all([sales, team, other])
        db.session.flush()
        cheap = functools.partial(generate_password_hash, method=FIXTURE_HASH_METHOD)
        with mock.patch("models.auth.generate_password_hash", cheap):
            for role in ROLES:
                make_user(role, role, PASSWORD, name=f"测试{role}", department="销售一部")
            # a colleague in the same team, one in a sibling team, one in the parent department
            make_user("am_team", "account_manager", PASSWORD, name="同组经理", department="销售一部")
            make_user("am_other", "account_manager", PASSWORD, name="二部经理", department="销售二部")
            make_user("director_top", "sales_director", PASSWORD, name="总监", department="销售部")
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def template_db(tmp_path_factory):
    if PG_URL:
        url = make_url(PG_URL)
        admin_engine = create_engine(url, isolation_level="AUTOCOMMIT")
        # the worker in the name tells whose template a leftover database was
        template = f"crm_tpl_{WORKER}_{uuid.uuid4().hex[:8]}"
        with admin_engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{template}"'))
        _build_schema(url.set(database=template).render_as_string(hide_password=False))
        keep_out_of_gc()
        clones = _Clones(admin_engine, template)
        try:
            yield ("pg", admin_engine, url, clones)
        finally:
            clones.close()
            _drop_database(admin_engine, template)
            admin_engine.dispose()
    else:
        # tmp_path_factory's base is per worker under xdist (…/popen-gw0/), so is this file
        path = tmp_path_factory.mktemp(f"template-{WORKER}") / "template.db"
        _build_schema(f"sqlite:///{path}")
        keep_out_of_gc()
        yield ("sqlite", None, None, path)


@contextmanager
def fresh_database(template_db, folder, empty=False):
    """A new database cloned from the seeded template (SQLite file copy, or PostgreSQL
    CREATE DATABASE … TEMPLATE), or with ``empty`` one with nothing in it (a SQLite file
    not yet created, a bare PostgreSQL database); yields its URL and drops it afterwards
    (a PostgreSQL clone is made ahead and dropped in the background: :class:`_Clones`)."""
    kind, admin_engine, url, template = template_db
    if kind == "sqlite":
        target = folder / f"crm-{uuid.uuid4().hex[:8]}.db"
        if not empty:
            shutil.copy(template, target)
        yield f"sqlite:///{target}"
        return
    if empty:
        name = f"crm_t_{uuid.uuid4().hex[:10]}"
        with admin_engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            _drop_database(admin_engine, name)
        return
    name = template.take()
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        template.give_back(name)


class _Clones:
    """PostgreSQL clones of the seeded template, made one ahead and dropped after use by one
    background thread, so that a test does not wait for CREATE DATABASE … TEMPLATE and DROP
    DATABASE (together about 1–4 s on a loaded machine). Nothing ever connects to the
    template; a clone is never handed out twice; a failed drop fails the session's end."""

    def __init__(self, admin_engine, template: str):
        from concurrent.futures import ThreadPoolExecutor

        self.engine, self.template = admin_engine, template
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-clones")
        self.drops: list = []
        self.ahead = self.worker.submit(self._create)

    def _create(self) -> str:
        name = f"crm_t_{uuid.uuid4().hex[:10]}"
        with self.engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        return name

    def take(self) -> str:
        """A fresh clone (waits for the one being made), and starts making the next one."""
        name = self.ahead.result()
        self.ahead = self.worker.submit(self._create)
        return name

    def give_back(self, name: str) -> None:
        self.drops.append(self.worker.submit(_drop_database, self.engine, name))

    def close(self) -> None:
        try:
            self.drops.append(self.worker.submit(_drop_database, self.engine, self.ahead.result()))
        finally:
            self.worker.shutdown(wait=True)
        for dropped in self.drops:
            dropped.result()  # re-raises a drop that failed


def _drop_database(admin_engine, name, attempts=20):
    """DROP DATABASE … WITH (FORCE), retried: a background worker of the server (autovacuum)
    connected to the database cannot be terminated by a non-superuser and makes it fail."""
    for attempt in range(attempts):
        try:
            with admin_engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.25)


@pytest.fixture
def database_url(template_db, tmp_path):
    with fresh_database(template_db, tmp_path) as url:
        yield url


@contextmanager
def module_app(template_db, tmp_path_factory, **config):
    """One app on its own database for a whole test module (read-mostly tests), with
    ``app.login_client(username)`` caching one logged-in client per user."""
    folder = tmp_path_factory.mktemp("module")
    with fresh_database(template_db, folder) as url:
        app = make_app(url, folder, **config)
        clients = {}

        def login_client(username):
            if username not in clients:
                clients[username] = app.test_client()
                response = login(clients[username], username)
                assert response.status_code == 302, response.data[:500]
            return clients[username]

        app.login_client = login_client
        yield app
        close_database(app)


def _test_config(database_url, tmp_path, **config):
    base = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": "test-secret",
        "TESTING": True,
        "WTF_CSRF_ENABLED": False,
        "FLASK_ADMIN_RAISE_ON_VIEW_EXCEPTION": True,
        "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        # not the default instance/imports, which every worker (and a developer's app) shares
        "IMPORT_FOLDER": str(tmp_path / "imports"),
        "EXPORT_FOLDER": str(tmp_path / "exports"),
    }
    base.update(config)
    return base


def keep_out_of_gc() -> None:
    """Move every object alive now into the collector's permanent generation (gc.freeze):
    called when the objects that live for the whole session were just made (the template,
    a shared app), so that no full collection walks them again (about a tenth of the CPU
    of a pass went to full collections walking the apps)."""
    if os.environ.get("CRM_TEST_NO_FREEZE") == "1":
        return
    gc.collect()
    gc.freeze()


_APP_BUILDING = threading.Lock()


def make_app(database_url, tmp_path, **config):
    """A new app (about 1.4 s: admin views, Babel …). A test that needs no app of its own
    takes the ``app`` or ``shared_app`` fixture, which reuse one app per worker.

    One app is built at a time in a process: Werkzeug compiles each URL rule with
    ``ast.parse``, which CPython 3.11 does not make safe across threads (two threads
    building apps at once fail with "AST constructor recursion depth mismatch")."""
    from app import create_app

    with _APP_BUILDING:
        return create_app(_test_config(database_url, tmp_path, **config))


def close_database(app):
    """End the app's session and close its pooled connections (before its database is
    dropped or replaced, or the app is pointed at another one)."""
    from models import db

    with app.app_context():
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()


def _point_at(app, database_url):
    """Give an app already built a new engine on ``database_url``: the engine create_app
    would have made, through Flask-SQLAlchemy's own engine factory."""
    from models import db

    close_database(app)
    options = {**app.config["SQLALCHEMY_ENGINE_OPTIONS"], "url": make_url(database_url)}
    options.setdefault("echo", False)
    options.setdefault("echo_pool", False)
    db._apply_driver_defaults(options, app)
    db._app_engines[app][None] = db._make_engine(None, options, app)


class SharedApps:
    """The apps of one test session (one xdist worker), each built once and lent to one
    test at a time. Lent, an app gets back the configuration it was built with (plus the
    test's folders and values) and an engine on the test's fresh database; returned, its
    session and connections are closed. What else a test leaves behind lives in the
    database, in ``g`` or the cookie session (per request), or in ``app.config``."""

    def __init__(self, folder):
        self.folder = folder
        self.apps = {}

    def lend(self, database_url, tmp_path, role="app", **config):
        """The app of this ``role`` and ``config``, ready for the current test."""
        key = (role, tuple(sorted(config.items())))
        if key not in self.apps:
            app = make_app(database_url, self.folder, **config)
            self.apps[key] = (app, dict(app.config))
            keep_out_of_gc()
        app, built_with = self.apps[key]
        app.config.clear()
        app.config.update(built_with)
        app.config.update(_test_config(database_url, tmp_path, **config))
        _point_at(app, database_url)
        return app

    def close(self):
        for app, _ in self.apps.values():
            close_database(app)


@pytest.fixture(scope="session")
def shared_apps(tmp_path_factory):
    apps = SharedApps(tmp_path_factory.mktemp("shared-apps"))
    yield apps
    apps.close()


@pytest.fixture
def shared_app(shared_apps, database_url, tmp_path):
    """shared_app(**config) → this worker's app for that config, on the test's fresh
    database, with uploads and imports under tmp_path (instead of make_app's 1.4 s).
    ``role`` tells apart apps of the same config a test needs twice (``db_session``'s)."""
    lent = []

    def lend(role="app", **config):
        app = shared_apps.lend(database_url, tmp_path, role=role, **config)
        lent.append(app)
        return app

    yield lend
    for app in lent:
        close_database(app)


@pytest.fixture
def app(shared_app):
    """An app on a fresh seeded database, CSRF off (CSRF has its own tests)."""
    return shared_app()


@pytest.fixture
def csrf_app(shared_app):
    return shared_app(WTF_CSRF_ENABLED=True)


def login(client, username, password=PASSWORD, **extra):
    """Log in through the real form (fetching a CSRF token when CSRF is on)."""
    page = client.get("/login")
    token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page.data)
    data = {"username": username, "password": password, **extra}
    if token:
        data["csrf_token"] = token.group(1).decode()
    return client.post("/login", data=data)


@pytest.fixture
def client_as(app):
    """client_as("clerk") → a test client logged in as the seeded user of that name."""

    def make(username):
        client = app.test_client()
        response = login(client, username)
        assert response.status_code == 302, response.data[:500]
        return client

    return make


@pytest.fixture
def en_client(client_as):
    """A logged-in test client whose browser asks for English (messages asserted literally)."""

    def make(username):
        return english(client_as(username))

    return make


def english(test_client):
    """The test client's browser asks for English from now on."""
    test_client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return test_client


@contextmanager
def count_queries(app):
    """Count the SQL statements sent while the block runs."""
    from models import db

    with app.app_context():
        engine = db.engine
    statements = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def list_pages(app, test_client, url, sizes=(20, 100)):
    """GET the list at ``url`` once per page size: (page size → SQL statements sent,
    page size → response). One GET first: the process keeps the filter options of small
    tables after the first page (views/crud/paging.py)."""
    test_client.get(url)
    counts, pages = {}, {}
    for size in sizes:
        with count_queries(app) as statements:
            pages[size] = test_client.get(f"{url}?page_size={size}")
        counts[size] = len(statements)
    return counts, pages


def csrf_token_from(page_bytes: bytes) -> str:
    match = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page_bytes) or re.search(
        rb'name="csrf_token" value="([^"]+)"', page_bytes
    )
    assert match, "no CSRF token in the page"
    return match.group(1).decode()


@pytest.fixture
def db_session(app, shared_app):
    """The session of a second app on the same database, for set-up and checks.

    A second app, because an app context of the app under test held open around its
    requests would make them share this session and ``g`` (query counts and locale lie).
    Commit after set-up; ``expire_all()`` before reading what a request changed."""
    from flask_babel import force_locale

    from models import db

    setup_app = shared_app(role="setup")
    with setup_app.app_context(), force_locale("en"):  # domain messages asserted in English
        yield db.session
        db.session.remove()


# --------------------------------------------------------------------- live server
@contextmanager
def serving(app):
    """The app served by werkzeug on a free localhost port, in a thread."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture
def live_server(app):
    """The app served by werkzeug on a free localhost port, in a thread."""
    with serving(app) as base:
        yield base


@pytest.fixture
def csrf_server(csrf_app):
    """Like live_server, but the app has CSRF ON so real tokens are exercised."""
    with serving(csrf_app) as base:
        yield base


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium through Playwright. Skips (with the reason) when no
    Chromium is installed, unless CRM_REQUIRE_BROWSER=1 (CI), where that is a failure.
    One per worker, started by its first browser test (starting Playwright's driver and
    Chromium costs about a second each time); every test opens a context of its own."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CRM_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing but CRM_REQUIRE_BROWSER=1")
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium to run browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


DOCS_DIR = Path(__file__).resolve().parents[1] / "docs"
TIMEOUT_MS = 15_000

# Each known app bug: (why, pattern on a "[csp-violation] …" report, pattern on the matching
# Chromium console error). Chromium prints no console error for the blocked eval.
KNOWN_CSP_BUGS: dict = {}  # all fixed: any CSP violation fails the tests

# Reports every CSP violation with the offending element or script, including the ones
# Chromium does not print to the console (e.g. an eval blocked inside a library's try/catch).
CSP_REPORTER = """
document.addEventListener('securitypolicyviolation', function (e) {
  var where = e.target && e.target.outerHTML ? e.target.outerHTML.slice(0, 160)
            : (e.sourceFile ? e.sourceFile + ':' + e.lineNumber + ':' + e.columnNumber : '');
  console.warn('[csp-violation] ' + e.effectiveDirective + ' blocked ' + e.blockedURI
               + ' on ' + location.pathname + ' at ' + where);
}, true);
"""


class PageWatch:
    """Console messages, uncaught page errors, CSP violations and dialogs seen by a page."""

    def __init__(self, page):
        self.console: list[tuple[str, str]] = []
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []
        page.add_init_script(CSP_REPORTER)
        page.on("console", lambda msg: self.console.append((msg.type, msg.text)))
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))

    def csp_console_errors(self) -> list[str]:
        return [text for kind, text in self.console if kind == "error" and "Content Security Policy" in text]

    def csp_violations(self) -> list[str]:
        return sorted({text for _, text in self.console if text.startswith("[csp-violation]")})

    def assert_clean(self, tolerate=KNOWN_CSP_BUGS):
        """No JavaScript errors; no CSP violation other than the `tolerate`d known bugs."""
        assert not self.page_errors, f"JavaScript errors in the page: {self.page_errors}"
        bugs = tolerate.values()
        console = [t for t in self.csp_console_errors() if not any(c and re.search(c, t) for _, _, c in bugs)]
        reports = [t for t in self.csp_violations() if not any(re.search(r, t) for _, r, _ in bugs)]
        details = "\n  ".join(self.csp_violations())
        assert not console and not reports, f"CSP violations (console errors: {console}); all reports:\n  {details}"


def watched_page(browser, **options):
    """A new browser context (Chinese, 1366×900) and page, with a PageWatch on it."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900}, **options)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    return context, page, PageWatch(page)


@pytest.fixture
def zh_page(browser):
    """A fresh page in a Chinese-speaking browser (Accept-Language zh-CN), with a watch."""
    context, page, watch = watched_page(browser)
    yield page, watch
    context.close()


@pytest.fixture
def page_watch(browser):
    """Like zh_page, downloads accepted and dialogs accepted (their messages recorded)."""
    context, page, watch = watched_page(browser, accept_downloads=True)

    def accept(dialog):
        watch.dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    yield page, watch
    context.close()


def shot(page, path: Path, **kwargs) -> Path:
    page.screenshot(path=str(path), **kwargs)
    assert path.exists() and path.stat().st_size > 0, f"screenshot {path} was not written"
    return path


def log_in(page, base: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url(f"{base}/admin/")


def log_out(page) -> None:
    page.click("#user-menu")
    page.locator("#logout").click()
    page.wait_for_url(re.compile(r"/login(\?.*)?$"))


def list_table(page):
    return page.locator("table.model-list")


def pick_option(page, select: str, index: int = 1) -> str:
    """Choose the index-th option of a (select2-enhanced) <select>; returns its label."""
    option = page.locator(f"{select} option").nth(index)
    page.select_option(select, option.get_attribute("value"), force=True)  # select2 hides it
    return option.inner_text().strip()


# ------------------------------------------------------------ parallel HTTP users
class HttpUser:
    """A person at a browser, as far as the server can tell: a cookie jar and real HTTP
    requests to a served app (``live_server``). ``get``/``post`` return
    ``(status, body text, final URL)`` and never raise on 4xx/5xx or follow redirects
    unless asked."""

    def __init__(self, base_url: str, accept_language: str = "en"):
        import http.cookiejar
        import urllib.request

        self.base_url = base_url
        self.jar = http.cookiejar.CookieJar()
        self.language = accept_language

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        self._plain = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)
        self._follow = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def request(
        self, method: str, path: str, data: dict | list | None = None, follow: bool = False, headers: dict | None = None
    ):
        import urllib.error
        import urllib.parse
        import urllib.request

        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        req = urllib.request.Request(
            self.base_url + path,
            data=body,
            method=method,
            headers={"Accept-Language": self.language, **(headers or {})},
        )
        opener = self._follow if follow else self._plain
        try:
            with opener.open(req, timeout=60) as response:
                return response.status, response.read().decode("utf-8", "replace"), response.geturl()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode("utf-8", "replace"), error.geturl()

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, data: dict | list | None = None, **kwargs):
        return self.request("POST", path, data or {}, **kwargs)

    def login(self, username: str, password: str = PASSWORD):
        status, body, _ = self.post("/login", {"username": username, "password": password})
        assert status == 302, body[:500]
        return self


@pytest.fixture
def http_user(live_server):
    """http_user("finance") → an HttpUser logged in on the live server (CSRF is off in
    the ``app`` fixture); http_user() → an anonymous one."""

    def make(username: str | None = None, password: str = PASSWORD):
        user = HttpUser(live_server)
        return user.login(username, password) if username else user

    return make


def run_parallel(calls, timeout: float = 120):
    """Run the callables at the same moment (a barrier releases them together), each in
    its own thread; return their results in order (an exception is returned, not raised)."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        try:
            results[index] = call()
        except Exception as error:  # noqa: BLE001 - reported to the test as a value
            results[index] = error

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results


# ------------------------------------------------------------- reading pages, acting
def flashes(response) -> str:
    """The text of the flashed messages shown on a page (the close button's × left out)."""
    boxes = re.findall(r'<div class="alert[^"]*"[^>]*>(.*?)</div>', response.get_data(as_text=True), re.S)
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", box) for box in boxes)).replace("×", " ")


def transition(test_client, endpoint, action, records, comment="", follow_redirects=True, **extra):
    """POST a workflow step (``action``) of the ``endpoint`` list for one record or a list
    of them, as the list's action form does; ``extra`` adds form fields (``assignee`` …)."""
    records = records if isinstance(records, list | tuple) else [records]
    data = {
        "action": action,
        "ids": ",".join(str(record.id) for record in records),
        "comment": comment,
        "url": f"/admin/{endpoint}/",
        **extra,
    }
    return test_client.post(f"/admin/{endpoint}/transition/", data=data, follow_redirects=follow_redirects)


def cells(page: str, column: str) -> list[str]:
    """The texts of one column of a list page, top to bottom."""
    return [
        html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
        for c in re.findall(rf'<td class="col-{column}">(.*?)</td>', page, re.S)
    ]


def money(text: str) -> Decimal:
    return Decimal(text.replace("¥", "").replace(",", ""))


def field_errors(response) -> dict[str, str]:
    """Form field label → the error text shown under that field."""
    errors = {}
    for group in response.get_data(as_text=True).split('<div class="form-group')[1:]:
        label = re.search(r"<label[^>]*>(.*?)<", group, re.S)
        feedback = re.search(r'<div class="invalid-feedback">(.*?)</div>', group, re.S)
        if label and feedback:
            text = html.unescape(re.sub(r"<[^>]+>", " ", feedback.group(1)))
            errors[html.unescape(label.group(1)).strip(" \n\xa0")] = " ".join(text.split())
    return errors


def filter_groups(response) -> str:
    """The filters of a list page as JSON text (unicode unescaped)."""
    raw = re.search(r'id="filter-groups-data"[^>]*>(.*?)</', response.get_data(as_text=True), re.S).group(1)
    return json.dumps(json.loads(html.unescape(raw)), ensure_ascii=False)


def models_by_endpoint():
    from models.audit import AuditLog
    from models.auth import Department, LoginLog, Right, Role, SystemConfig, User
    from models.customers import Appointment, Client, Contract, FollowUp, Linkman
    from models.lookups import LOOKUPS

    return {
        "user": User,
        "department": Department,
        "role": Role,
        "right": Right,
        "config": SystemConfig,
        "login_log": LoginLog,
        "audit_log": AuditLog,
        **LOOKUPS,
        "client": Client,
        "linkman": Linkman,
        "followup": FollowUp,
        "appointment": Appointment,
        "contract": Contract,
    }


CHILDREN = ("linkman", "followup", "appointment", "contract")


def customer_rows(
    owner: str,
    tag: str,
    *,
    children=CHILDREN,
    client_id: int | None = None,
    mobile: str = "13800138000",
    name: str | None = None,
) -> dict[str, int]:
    """A client owned by the user ``owner`` (or the existing ``client_id``) with one row of
    each table in ``children``; committed; endpoint → id. Call inside an app context."""
    from models import db
    from models.auth import User
    from models.customers import Appointment, Client, Contract, FollowUp, Linkman
    from models.lookups import AppointmentType, Area, ContractType, FollowUpType

    def first(model):
        return db.session.execute(db.select(db.func.min(model.id))).scalar_one()

    owner_id = db.session.execute(db.select(User.id).where(User.username == owner)).scalar_one()
    if client_id is None:
        client = Client(
            name=name or f"客户{tag}",
            address="北京市海淀区中关村大街1号",
            phone="010-12345678",
            area_id=first(Area),
            contact_name=f"联系人{tag}",
            contact_mobile=mobile,
            owner_id=owner_id,
        )
        db.session.add(client)
        db.session.flush()
        client_id = client.id
    now = datetime.now(UTC).replace(microsecond=0)
    make = {
        "linkman": lambda: Linkman(
            client_id=client_id, name=f"联系人{tag}", position="经理", gender="男", mobile=mobile
        ),
        "followup": lambda: FollowUp(
            client_id=client_id, type_id=first(FollowUpType), content=f"跟单{tag}", user_id=owner_id, followed_at=now
        ),
        "appointment": lambda: Appointment(
            client_id=client_id,
            type_id=first(AppointmentType),
            scheduled_at=now + timedelta(days=2),
            remind_at=now + timedelta(days=1),
            content=f"预约{tag}",
            user_id=owner_id,
        ),
        "contract": lambda: Contract(
            client_id=client_id,
            type_id=first(ContractType),
            number=f"HT-{tag}",
            name=f"合同{tag}",
            starts_on=date(2025, 1, 1),
            ends_on=date(2025, 12, 31),
            amount=Decimal("1000.00"),
            owner_id=owner_id,
        ),
    }
    rows = {endpoint: make[endpoint]() for endpoint in children}
    db.session.add_all(rows.values())
    db.session.commit()
    return {"client": client_id, **{endpoint: row.id for endpoint, row in rows.items()}}


def page_transition(
    page, base: str, endpoint: str, record_id: int, step: str, comment: str = "", person: str | None = None
) -> str:
    """Details page → the #wf-<step> button → the confirmation page (person, comment) → back
    on the details page; returns the workflow badge's text."""
    page.goto(f"{base}/admin/{endpoint}/details/?id={record_id}")
    page.click(f"#wf-{step}")
    page.wait_for_url(re.compile(rf"/admin/{endpoint}/transition/\?.*action={step}"))
    if person is not None:
        option = page.locator("#assignee option", has_text=person)
        assert option.count() == 1, page.locator("#assignee option").all_inner_texts()
        page.select_option("#assignee", option.get_attribute("value"))
    page.fill("#comment", comment)
    page.click("#transition-submit")
    page.wait_for_url(re.compile(rf"/admin/{endpoint}/details/\?id="))
    assert page.locator(".alert-danger").count() == 0, page.locator(".alert-danger").all_inner_texts()
    return page.locator("#workflow-state").inner_text().strip()


#: the primary submit button of a Flask-Admin create/edit form
SAVE_BUTTON = 'form.admin-form input[type="submit"].btn-primary'


def save_form(page, endpoint: str | None = None, button: str = SAVE_BUTTON) -> None:
    """Submit the form in a browser and assert that it saved: back on the list of
    ``endpoint`` (or, without one, once the next page has settled) with no error alert."""
    page.locator(button).click()
    if endpoint is None:
        page.wait_for_load_state("networkidle")
    else:
        page.wait_for_url(re.compile(rf"/admin/{endpoint}/(\?.*)?$"))
    assert page.locator(".alert-danger").count() == 0, page.locator(".alert-danger").all_inner_texts()


def screenshot_folder(tmp_path) -> Path:
    """docs/ when CRM_DOCS_SCREENSHOTS=1 (screenshots for the README), else tmp_path."""
    out = DOCS_DIR if os.environ.get("CRM_DOCS_SCREENSHOTS") == "1" else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    return out


def stored_in(app):
    """stored(query) → the scalars the query finds now in the app's database (each call in
    an app context of its own, closed at once: the served app keeps serving)."""
    from models import db

    def stored(query):
        with app.app_context():
            try:
                return db.session.execute(query).scalars().all()
            finally:
                db.session.remove()

    return stored


class _Inbox:
    """The messages a real SMTP server (aiosmtpd) received, as parsed e-mails."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        from email import message_from_bytes
        from email.policy import default

        message = message_from_bytes(envelope.content, policy=default)
        self.messages.append((envelope.rcpt_tos, message))
        return "250 OK"


@pytest.fixture
def smtp_server(app):
    """A real SMTP server on a free local port, and the app configured to send to it
    (``CRM_MAIL_*``); the fixture's value is the inbox (``.messages``: (recipients, message))."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_DEFAULT_SENDER="crm@example.test")
    try:
        yield inbox
    finally:
        controller.stop()
        for key in ("MAIL_SERVER", "MAIL_PORT", "MAIL_DEFAULT_SENDER"):
            app.config.pop(key, None)


def report_table(html: str, table_id: str = "report-table-1", key: str = "stage") -> dict:
    """A report page's table (templates/admin/reports): the ``key`` cell's text → {column
    key: (text, link or None)} of each body row."""
    part = html[html.index(f'id="{table_id}"') :]
    part = part[part.index("<tbody>") : part.index("</tbody>")]
    found = {}
    for row in re.findall(r"<tr>(.*?)</tr>", part, re.S):
        cells = {
            name: (re.sub(r"<[^>]+>", "", inner).strip(), (re.findall(r'href="([^"]+)"', inner) or [None])[0])
            for name, inner in re.findall(r'data-key="(\w+)">(.*?)</td>', row, re.S)
        }
        cells = {name: (text, link.replace("&amp;", "&") if link else None) for name, (text, link) in cells.items()}
        found[cells[key][0]] = cells
    return found
