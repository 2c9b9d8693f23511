"""Benchmark: importing clients from a CSV file (SPEC §4.3 import; the issue asks for 10,000
rows "well under a minute"). Generates a valid CSV of distinct clients, runs the import's
domain functions (read_table → guess_mapping → validate, as the page does, then the
background job: queue_import → run_pending, as ``run-jobs`` does) on a fresh SQLite database
built by the migrations (or ``--database-url``, which must be empty), prints the seconds per
step and the longest write transaction of the job, and appends them to bench/results.md.
``--existing N`` first imports N other clients, so the duplicate checks run against a filled
table. Usage: python bench/import_clients.py [--rows 10000] [--existing 0] [--database-url URL]"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402

from bench.results import record  # noqa: E402
from models.imports import DOCUMENT_HEADINGS  # noqa: E402
from reports.csvfile import csv_bytes  # noqa: E402

HEADINGS = list(DOCUMENT_HEADINGS)
AREAS = ["北京", "上海", "广州", "深圳", "杭州", "南京", "成都", "武汉"]
TYPES = ["潜在客户", "普通客户", "重要客户", "合作伙伴"]
STARS = ["一星", "二星", "三星", "四星", "五星"]
SOURCES = ["网站", "展会", "转介绍", "电话营销"]
TRADES = ["软件", "制造", "零售", "金融"]
SIZES = ["1-49人", "50-199人", "200-999人", "1000人以上"]
OWNERS = ["am1", "am2", "王经理", ""]


def make_csv(count: int, start: int = 0) -> bytes:
    """``count`` valid, distinct client rows (numbered from ``start``) under Chinese
    headings, UTF-8 with BOM."""
    from models.validators import uscc_check_char

    def row(n: int) -> list[str]:
        first17 = f"91110108{n:09d}"
        return [
            f"基准导入{n}号科技有限公司",
            first17 + uscc_check_char(first17),
            f"北京市海淀区中关村大街{n}号",
            f"010-{62000000 + n}",
            AREAS[n % len(AREAS)],
            f"联系人{n}",
            f"13{n % 7 + 3}{n:08d}",
            TYPES[n % 4],
            STARS[n % 5],
            SOURCES[n % 4],
            TRADES[n % 4],
            SIZES[n % 4],
            f"{100000 + n % 900000}",
            f"client{n}@example.cn",
            OWNERS[n % 4],
            "基准测试导入" if n % 10 == 0 else "",
        ]

    return csv_bytes([HEADINGS, *map(row, range(start, start + count))])


def import_rows(filename: str, data: bytes, actor, folder: Path) -> tuple[float, float, float]:
    """Read and validate as the page does, then run the job as ``run-jobs`` does.
    Returns (read s, validate s, job s)."""
    import json
    import secrets

    from models import db
    from models.imports import guess_mapping, queue_import, read_table, validate
    from models.jobs import run_pending

    start = time.perf_counter()
    headers, rows = read_table(filename, data)
    read = time.perf_counter() - start
    mark = time.perf_counter()
    mapping = guess_mapping(headers)
    clean, errors = validate(rows, mapping, actor)
    checked = time.perf_counter() - mark
    assert not errors, errors[:5]
    token = secrets.token_hex(16)
    (folder / token).mkdir(parents=True)
    (folder / token / "table.json").write_text(json.dumps({"headers": headers, "rows": rows}), encoding="utf-8")
    queue_import(token, mapping, filename, actor)
    db.session.commit()
    mark = time.perf_counter()
    assert run_pending() == 1
    return read, checked, time.perf_counter() - mark


def run(count: int, folder: Path, existing: int = 0, url: str | None = None) -> dict[str, float]:
    from flask_babel import force_locale
    from flask_migrate import upgrade
    from sqlalchemy import event

    from app import create_app
    from models import db
    from models.audit import AuditLog
    from models.customers import Client
    from models.jobs import Job
    from seed import make_user, seed_reference

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url or f"sqlite:///{folder / 'import.db'}",
            "SECRET_KEY": "bench",
            "WTF_CSRF_ENABLED": False,
            "IMPORT_FOLDER": str(folder / "imports"),
        }
    )
    data = make_csv(count, start=existing)
    timings: dict[str, float] = {}
    with app.app_context(), force_locale("zh_CN"):  # no request: name the language
        upgrade()
        seed_reference()
        admin = make_user("admin", "admin", "bench-pass-1")
        make_user("am1", "account_manager", "bench-pass-1")
        make_user("am2", "account_manager", "bench-pass-1")
        make_user("wang", "account_manager", "bench-pass-1", name="王经理")
        db.session.commit()
        if existing:
            import_rows("existing.csv", make_csv(existing), admin, folder / "imports")

        # a write transaction holds SQLite's lock from its first write to its commit
        longest, began = [0.0], {}

        @event.listens_for(db.engine, "before_cursor_execute")
        def before(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
                began.setdefault(id(conn), time.perf_counter())

        @event.listens_for(db.engine, "commit")
        @event.listens_for(db.engine, "rollback")
        def end(conn):
            if id(conn) in began:
                longest[0] = max(longest[0], time.perf_counter() - began.pop(id(conn)))

        start = time.perf_counter()
        timings["read"], timings["validate"], timings["job"] = import_rows(
            "clients.csv", data, admin, folder / "imports"
        )
        timings["total"] = time.perf_counter() - start
        timings["longest_transaction"] = longest[0]
        imported = db.session.execute(select(Job.result).order_by(Job.id.desc())).scalar()["imported"]
        assert imported == count
        assert db.session.execute(select(func.count()).select_from(Client)).scalar() == count + existing
        assert (
            db.session.execute(select(func.count()).select_from(AuditLog).where(AuditLog.action == "import")).scalar()
            == count + existing
        )
        db.session.remove()
        db.engine.dispose()
    return timings


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--existing", type=int, default=0, help="clients already in the table")
    parser.add_argument("--database-url", default=None, help="an empty database (default: a new SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        t = run(args.rows, Path(folder), args.existing, args.database_url)
    engine = (args.database_url or "sqlite").split(":", 1)[0].split("+", 1)[0]
    lines = [
        f"\n## {datetime.now():%Y-%m-%d %H:%M} — client import (CSV, {engine}, page checks + background job)\n",
        "| rows | clients before | read s | validate s | job s (re-check, 500-row chunks, audit) "
        "| longest write transaction s | total s |",
        "|---|---|---|---|---|---|---|",
        f"| {args.rows} | {args.existing} | {t['read']:.2f} | {t['validate']:.2f} | {t['job']:.2f} "
        f"| {t['longest_transaction']:.2f} | {t['total']:.2f} |",
    ]
    record(lines)


if __name__ == "__main__":
    main()
