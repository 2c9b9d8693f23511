"""Benchmark of the dashboard and every report page at about 1,000,000 order lines (issue 11
item 6): the app served by gunicorn (one worker), logged in as admin over HTTP, each page
measured in interleaved rounds (medians of ``--runs``), SQLite and PostgreSQL.

The databases are bench/lists.py's (the same helpers: built once with ``seed-demo
--clients N`` and reused under ``$CRM_BENCH_DIR``, default /tmp/crm-bench). seed-demo's
data is proportional: about 11.8 order lines per client, so ``--clients 85000`` gives
about 1 M order lines (the script prints the counts it measured on). The report pages are
the ones the admin's menu links to (``/admin/reports/<slug>/``), so a report added later
is measured without a change here; the dashboard is ``/admin/``.

Per page: the median time, the SQL statements and the time outside the database (the
app's ``X-SQL-*`` headers). The table goes to bench/results.md.

``--pg-from-sqlite`` fills the PostgreSQL database with the rows of the SQLite one of the
same size instead of seeding it (COPY, table by table, foreign keys dropped meanwhile and
added back, sequences set): the same data on both databases, in minutes rather than a
second seed-demo run.

Usage: python bench/reports.py [--clients 85000] [--db sqlite|postgresql|both]
       [--pg-url postgresql+psycopg://user:pw@host:port/db] [--runs 7] [--pg-from-sqlite]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.lists import Server, ensure_database, measure  # noqa: E402
from bench.results import record  # noqa: E402

#: the limit the issue sets for every report page and the dashboard
LIMIT_MS = 1000


def counts(url: str) -> dict[str, int]:
    """Rows of the tables the reports read."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    tables = ("clients", "orders", "orders_line", "receipt", "contract", "sal_chance")
    with engine.connect() as conn:
        found = {name: conn.execute(text(f"SELECT count(*) FROM {name}")).scalar() for name in tables}
    engine.dispose()
    return found


def copy_sqlite_to_postgresql(sqlite_file: Path, pg_url: str) -> None:
    """Replace the rows of every table of the PostgreSQL database (at the migration head)
    with those of the SQLite file: COPY per table with the foreign keys dropped meanwhile
    (loading order free), then the keys added back (checked), the id sequences set, ANALYZE."""
    import sqlite3

    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(pg_url)
    source = sqlite3.connect(f"file:{sqlite_file}?mode=ro", uri=True)
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, dbname=url.database
    ) as pg:
        tables = [
            name
            for (name,) in pg.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'alembic_version'"
            )
        ]
        keys = pg.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype = 'f' AND connamespace = current_schema()::regnamespace"
        ).fetchall()
        for table, name, _ in keys:
            pg.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        pg.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables))
        for table in tables:
            columns = [row[1] for row in source.execute(f'PRAGMA table_info("{table}")')]
            if not columns:
                continue
            names = ", ".join(f'"{c}"' for c in columns)
            with pg.cursor().copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
                for row in source.execute(f'SELECT {names} FROM "{table}"'):
                    copy.write_row(row)
        for table, name, definition in keys:
            pg.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for table, column, sequence in pg.execute(
            "SELECT table_name, column_name, pg_get_serial_sequence(table_name, column_name) "
            "FROM information_schema.columns WHERE table_schema = current_schema() AND column_default LIKE 'nextval%'"
        ).fetchall():
            pg.execute(
                f'SELECT setval(%s, coalesce((SELECT max("{column}") FROM "{table}"), 0) + 1, false)', [sequence]
            )
        pg.commit()
        pg.autocommit = True
        pg.execute("ANALYZE")
    source.close()


def report_pages(server: Server) -> dict[str, str]:
    """Page name → URL: the dashboard and each report the menu links to."""
    _, body, _ = server.get("/admin/")
    pages = {"dashboard": "/admin/"}
    for slug in dict.fromkeys(re.findall(r'href="/admin/reports/([\w-]+)/"', body)):
        pages[f"report {slug}"] = f"/admin/reports/{slug}/"
    return pages


def run(kind: str, clients: int, folder: Path, pg_url: str | None, runs: int, from_sqlite=False) -> list[str]:
    if kind == "postgresql" and from_sqlite:
        from bench.lists import _flask, _pg_database

        url = _pg_database(pg_url, f"crm_bench_{clients}")
        _flask(url, "db", "upgrade")
        print(f"[postgresql {clients:,}] COPY from {folder / f'crm-{clients}.db'}", flush=True)
        copy_sqlite_to_postgresql(folder / f"crm-{clients}.db", url)
    url = ensure_database(kind, clients, folder, pg_url)
    rows = counts(url)
    server = Server(url, f"{kind} {clients}")
    try:
        pages = report_pages(server)
        results = measure({clients: server}, {clients: pages}, runs)
    finally:
        server.stop()
    sizes = ", ".join(f"{name} {n:,}" for name, n in rows.items())
    lines = [
        f"\n## {datetime.now():%Y-%m-%d %H:%M} — dashboard and reports, {kind}, gunicorn 1 worker over HTTP, "
        f"medians of {runs}\n",
        f"Rows: {sizes}.\n",
        f"| page | ms | under {LIMIT_MS} ms | SQL statements | outside DB ms |",
        "|---|---|---|---|---|",
    ]
    for name in pages:
        ms, statements, outside = results[(name, clients)]
        lines.append(f"| {name} | {ms:,.0f} | {'yes' if ms < LIMIT_MS else 'NO'} | {statements} | {outside:.0f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=85000, help="seed-demo clients (≈ 11.8 order lines each)")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL"), help="a PostgreSQL server to build on")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--dir", default=os.environ.get("CRM_BENCH_DIR", "/tmp/crm-bench"))
    parser.add_argument(
        "--pg-from-sqlite", action="store_true", help="fill PostgreSQL with the SQLite database's rows (COPY)"
    )
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to bench/results.md")
    args = parser.parse_args()
    kinds = {"both": ("sqlite", "postgresql")}.get(args.db, (args.db,))
    if "postgresql" in kinds and not args.pg_url:
        raise SystemExit("PostgreSQL needs --pg-url (or BENCH_PG_URL)")
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    lines = [
        line
        for kind in kinds
        for line in run(kind, args.clients, Path(args.dir), args.pg_url, args.runs, args.pg_from_sqlite)
    ]
    if not args.no_record:
        record(lines)  # prints the table too
        return
    print("\n".join(lines))


if __name__ == "__main__":
    main()
