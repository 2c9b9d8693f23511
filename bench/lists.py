"""Benchmark of the big lists at two sizes (issue 10, SPEC §8), as a user meets them: the
app served by gunicorn (one worker, the same settings for every size), logged in as
admin over HTTP, each page measured in interleaved rounds (medians of ``--runs``).

Databases are built once and reused under ``$CRM_BENCH_DIR`` (default /tmp/crm-bench):
SQLite files ``crm-<size>.db`` and PostgreSQL databases ``crm_bench_<size>`` on the
server of ``--pg-url``. A database at the migration head with its demo data complete is
reused; an older one is upgraded; an empty one is seeded (``seed-demo --clients <size>``,
which resumes when an earlier build was interrupted).

Per page it reports the median time, the SQL statements and the time outside the
database (the app's ``X-SQL-*`` headers, ``CRM_SQL_STATS=1``), and the ratio of the
largest to the smallest size; the full CSV export is timed once per size with the
worker's peak RSS (VmHWM from /proc) — above ``export_sync_rows`` as the background job it
is there (queued by the page's form, run by ``flask run-jobs --once``, its peak RSS, the
file downloaded to count its rows). The table goes to bench/results.md.

Usage: python bench/lists.py [--sizes 10000,1000000] [--db sqlite|postgresql|both]
       [--pg-url postgresql+psycopg://user:pw@host:port/db] [--runs 7]
"""

from __future__ import annotations

import argparse
import html
import http.cookiejar
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.results import record  # noqa: E402

BIN = Path(sys.executable).parent
PASSWORD = "bench-admin-1"
SECRET = "bench-secret"
#: the big lists: endpoint → label
LISTS = {
    "client": "clients",
    "contract": "contracts",
    "order": "orders",
    "followup": "follow-ups",
    "receipt": "receipts",
}


# ------------------------------------------------------------------------------ databases
def _env(url: str, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "CRM_SQL_STATS"}  # on for the servers only
    return dict(env, DATABASE_URL=url, SECRET_KEY=SECRET, CRM_ADMIN_PASSWORD=PASSWORD, **extra)


def _flask(url: str, *args: str) -> None:
    subprocess.run([str(BIN / "flask"), "--app", "app", *args], cwd=ROOT, env=_env(url), check=True)


def _state(url: str) -> tuple[bool, int, bool]:
    """(at the migration head, clients, a seed-demo run unfinished) of the database."""
    script = (
        "import json\n"
        "from flask_migrate import current\n"
        "from sqlalchemy import inspect, text\n"
        "from app import create_app\n"
        "from models import db\n"
        "from seed.backup import schema_head\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    tables = inspect(db.engine).get_table_names()\n"
        "    rev = db.session.execute(text('SELECT version_num FROM alembic_version')).scalar() "
        "if 'alembic_version' in tables else None\n"
        "    head = schema_head(app.extensions['migrate'].directory)\n"
        "    n = db.session.execute(text('SELECT count(*) FROM clients')).scalar() if 'clients' in tables else 0\n"
        "    busy = 'system_config' in tables and db.session.execute(text(\"SELECT count(*) FROM system_config "
        "WHERE name = 'seed_demo.in_progress'\")).scalar() > 0\n"
        "    print(json.dumps([rev == head, n, busy]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=_env(url), check=True, capture_output=True, text=True
    )
    return tuple(json.loads(out.stdout.strip().splitlines()[-1]))


def _admin(url: str) -> None:
    """An active admin with the bench password (made, or its password reset)."""
    script = (
        "from sqlalchemy import select\n"
        "from app import create_app\n"
        "from models import db\n"
        "from models.auth import User\n"
        "from seed import make_user\n"
        "with create_app().app_context():\n"
        "    user = db.session.execute(select(User).where(User.username == 'admin')).scalar()\n"
        f"    user = user or make_user('admin', 'admin', {PASSWORD!r})\n"
        f"    user.set_password({PASSWORD!r}); user.is_active = True; user.failed_logins = 0\n"
        "    db.session.commit()\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=_env(url), check=True)


def _pg_database(pg_url: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``pg_url``, created when missing."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(pg_url)
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def ensure_database(kind: str, size: int, folder: Path, pg_url: str | None) -> str:
    """A database of ``size`` demo clients at the migration head (built, upgraded or reused)."""
    if kind == "sqlite":
        url = f"sqlite:///{folder / f'crm-{size}.db'}"
    else:
        url = _pg_database(pg_url, f"crm_bench_{size}")
    at_head, clients, unfinished = _state(url)
    if not at_head:
        print(f"[{kind} {size:,}] flask db upgrade", flush=True)
        _flask(url, "db", "upgrade")
    if unfinished or clients == 0:
        print(f"[{kind} {size:,}] seed-demo --clients {size}", flush=True)
        _flask(url, "seed")
        started = time.perf_counter()
        _flask(url, "seed-demo", "--clients", str(size))
        print(f"[{kind} {size:,}] seeded in {time.perf_counter() - started:.0f} s", flush=True)
    elif clients != size:
        print(f"[{kind} {size:,}] note: the database holds {clients:,} clients", flush=True)
    _admin(url)
    return url


# ------------------------------------------------------------------------------ serving
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """gunicorn with one worker on ``url``; the same settings for every size."""

    def __init__(self, url: str, label: str):
        self.label, self.port = label, _free_port()
        env = self.env = _env(url, CRM_SQL_STATS="1")
        self.process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "--workers",
                "1",
                "--timeout",
                "600",
                "--bind",
                f"127.0.0.1:{self.port}",
                "app:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        for _ in range(240):
            try:
                self.opener.open(self.base + "/login", timeout=5).read()
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise SystemExit(f"gunicorn for {label} did not start")
        page = self.opener.open(self.base + "/login").read().decode()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
        data = {"username": "admin", "password": PASSWORD, **({"csrf_token": token.group(1)} if token else {})}
        self.opener.open(self.base + "/login", urllib.parse.urlencode(data).encode()).read()
        if "/login" in self.opener.open(self.base + "/admin/").geturl():
            raise SystemExit(f"could not log in as admin on {label}")

    def get(self, path: str, data: dict | None = None) -> tuple[float, str, dict]:
        """(seconds, body, headers) of a GET (a form POST with ``data``)."""
        started = time.perf_counter()
        payload = urllib.parse.urlencode(data).encode() if data is not None else None
        with self.opener.open(self.base + path, payload, timeout=900) as response:
            body = response.read()
            headers = dict(response.headers)
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}")
        return elapsed, body.decode("utf-8", "replace"), headers

    def worker_pid(self) -> int | None:
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        except OSError:
            return None
        return int(children[0]) if children else None

    def memory(self, field: str) -> int:
        """VmRSS / VmHWM of the worker in KiB (0 when unknown)."""
        pid = self.worker_pid()
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        except (OSError, TypeError):
            pass
        return 0

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()


# ------------------------------------------------------------------------------ the pages
def _links(body: str) -> list[tuple[str, str]]:
    """(href, text) of the pager's links."""
    start = body.rfind('class="pagination')
    if start < 0:
        return []
    segment = body[start : body.find("</ul>", start)]
    return [
        (html.unescape(href), html.unescape(re.sub(r"<[^>]+>", "", text)).strip())
        for href, text in re.findall(r'<a[^>]*href="([^"#][^"]*)"[^>]*>(.*?)</a>', segment, re.S)
        if not href.startswith("javascript")
    ]


def _last_link(body: str) -> str | None:
    links = _links(body)
    for href, text in links:
        if text in ("»", "末页", "Last", "last") or "last" in href:
            return href
    return links[-1][0] if links else None


def _previous_link(body: str) -> str | None:
    for href, text in _links(body):
        if text in ("‹", "<", "上一页", "Previous", "prev") or "prev" in href:
            return href
    links = _links(body)
    return links[-2][0] if len(links) >= 2 else None


def _filter_url(endpoint: str, body: str) -> str | None:
    """A filtered page the list offers: an "equals" filter with options (a type if any)."""
    found = re.search(r'id="filter-groups-data"[^>]*>(.*?)</div>', body, re.S)
    if not found:
        return None
    groups = json.loads(html.unescape(found.group(1)))
    choices = [f for filters in groups.values() for f in filters if f["arg"].endswith("_equals") and f.get("options")]
    if not choices:
        return None
    choice = next((f for f in choices if "type" in f["arg"]), choices[0])
    return f"/admin/{endpoint}/?flt0_{choice['arg']}={urllib.parse.quote(str(choice['options'][0][0]))}"


def _sample(url: str) -> dict:
    """A company-name fragment, a 2-character fragment, pinyin initials, a mobile fragment
    and a client id, taken from the database (the same rule at every size)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT id, name, contact_mobile FROM clients WHERE is_deleted = :f ORDER BY id LIMIT 1 OFFSET 7"),
            {"f": False},
        ).one()
    engine.dispose()
    name = row.name.replace("市", "")
    return {"id": row.id, "name": name[2:6], "short": name[2:4], "initials": "bjkj", "mobile": row.contact_mobile[3:8]}


def pages(server: Server, sample: dict) -> dict[str, str]:
    """Page name → URL, discovered from the pages themselves where the URL is the app's."""
    out = {}
    for endpoint, label in LISTS.items():
        out[f"{label} page 1"] = f"/admin/{endpoint}/"
    _, body, _ = server.get("/admin/client/")
    flt = _filter_url("client", body)
    if flt:
        out["clients filtered"] = flt
    quote = urllib.parse.quote
    out["search, 3+ characters"] = f"/admin/client/?search={quote(sample['name'])}"
    out["search, 2 characters"] = f"/admin/client/?search={quote(sample['short'])}"
    out["search, pinyin initials"] = f"/admin/client/?search={sample['initials']}"
    out["search, mobile fragment"] = f"/admin/client/?search={sample['mobile']}"
    last = _last_link(body)
    if last:
        _, last_body, _ = server.get(last)
        out["clients, deep page"] = _previous_link(last_body) or last
    out["client details"] = f"/admin/client/details/?id={sample['id']}"
    return out


def measure(servers: dict[int, Server], urls: dict[int, dict], runs: int) -> dict:
    """Interleaved rounds: every page at every size in each round; medians."""
    names = list(urls[min(urls)])
    seen: dict[tuple[str, int], list[tuple[float, int, float]]] = {}
    for size, server in servers.items():  # warm up (templates, caches, the OS page cache)
        for url in urls[size].values():
            server.get(url)
    for _ in range(runs):
        for name in names:
            for size, server in servers.items():
                if name not in urls[size]:
                    continue
                elapsed, _, headers = server.get(urls[size][name])
                outside = float(headers.get("X-Request-Time", 0)) - float(headers.get("X-SQL-Time", 0))
                seen.setdefault((name, size), []).append((elapsed * 1000, int(headers.get("X-SQL-Count", 0)), outside))
    return {
        key: (
            statistics.median(v[0] for v in values),
            statistics.median(v[1] for v in values),
            statistics.median(v[2] for v in values),
        )
        for key, values in seen.items()
    }


def export(server: Server) -> tuple[float, int, int, int, str]:
    """(ms, rows, RSS before KiB, peak RSS KiB, where) of the full client CSV export.
    Up to ``export_sync_rows`` the request streams the file (the worker's RSS); above it
    the page offers a background export: it is queued (the form's POST), run by
    ``flask run-jobs --once`` (its time and peak RSS) and downloaded to count its rows."""
    path = "/admin/client/export/csv/"
    before = server.memory("VmRSS")
    elapsed, body, headers = server.get(path)
    if headers.get("Content-Type", "").startswith("text/csv"):
        return elapsed * 1000, max(0, body.count("\n") - 1), before, server.memory("VmHWM"), "request"
    token = re.search(r'name="csrf_token" value="([^"]+)"', body)
    _, page, _ = server.get(path, {"csrf_token": token.group(1) if token else ""})
    started = time.perf_counter()
    worker = subprocess.run(
        ["/usr/bin/time", "-f", "%M", str(BIN / "flask"), "--app", "app", "run-jobs", "--once"],
        cwd=ROOT,
        env=server.env,
        check=True,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    peak = int(worker.stderr.strip().splitlines()[-1])
    _, page, _ = server.get("/admin/exports/")
    link = re.findall(r'href="([^"]*/download/)"', page)
    if not link:
        raise RuntimeError("the background export produced no file")
    _, body, _ = server.get(html.unescape(link[0]))
    return elapsed * 1000, max(0, body.count("\n") - 1), 0, peak, "background job"


# ------------------------------------------------------------------------------ main
def run(kind: str, sizes: list[int], folder: Path, pg_url: str | None, runs: int, with_export=True) -> list[str]:
    dbs = {size: ensure_database(kind, size, folder, pg_url) for size in sizes}
    servers = {size: Server(url, f"{kind} {size}") for size, url in dbs.items()}
    try:
        urls = {size: pages(server, _sample(dbs[size])) for size, server in servers.items()}
        results = measure(servers, urls, runs)
        exports = {size: export(server) for size, server in servers.items()} if with_export else {}
    finally:
        for server in servers.values():
            server.stop()
    small, large = min(sizes), max(sizes)
    head = " | ".join(f"{s:,} ms" for s in sizes)
    lines = [
        f"\n## {datetime.now():%Y-%m-%d %H:%M} — big lists, {kind}, gunicorn 1 worker over HTTP, medians of {runs}\n",
        f"| page | {head} | {large:,} / {small:,} | SQL statements | outside DB ms |",
        "|---|" + "---|" * len(sizes) + "---|---|---|",
    ]
    names = list(urls[small])
    for name in names:
        got = [results.get((name, s)) for s in sizes]
        if any(g is None for g in got):
            continue
        ratio = got[-1][0] / got[0][0] if got[0][0] else float("nan")
        cells = " | ".join(f"{g[0]:,.0f}" for g in got)
        statements = " / ".join(str(g[1]) for g in got)
        outside = " / ".join(f"{g[2]:.0f}" for g in got)
        lines.append(f"| {name} | {cells} | {ratio:.2f}× | {statements} | {outside} |")
    if exports:
        cells = " | ".join(f"{exports[s][0]:,.0f} ({exports[s][1]:,} rows)" for s in sizes)
        ratio = exports[large][0] / exports[small][0] if exports[small][0] else float("nan")
        memory = " / ".join(f"{exports[s][4]}: {exports[s][2] // 1024}→{exports[s][3] // 1024} MiB" for s in sizes)
        lines.append(f"| full CSV export | {cells} | {ratio:.2f}× | RSS before→peak | {memory} |")
    deep = {s: urls[s].get("clients, deep page") for s in sizes}
    lines.append("")
    lines.append(
        "Deep page URLs (the pager's last page, then its previous link): "
        + ", ".join(f"{s:,}: `{u}`" for s, u in deep.items())
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,1000000", help="client counts, comma-separated")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL"), help="a PostgreSQL server to build on")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--dir", default=os.environ.get("CRM_BENCH_DIR", "/tmp/crm-bench"))
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to bench/results.md")
    parser.add_argument("--skip-export", action="store_true", help="leave out the full CSV export")
    args = parser.parse_args()
    sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(","))
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    if "postgresql" in kinds and not args.pg_url:
        raise SystemExit("--pg-url (or BENCH_PG_URL) is needed for PostgreSQL")
    lines: list[str] = []
    for kind in kinds:
        lines += run(kind, sizes, folder, args.pg_url, args.runs, not args.skip_export)
    if args.no_record:
        print("\n".join(lines))
    else:
        record(lines)


if __name__ == "__main__":
    main()
