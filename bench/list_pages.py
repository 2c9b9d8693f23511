"""Benchmark: list-page cost as the users table grows (SPEC §8: a page must not cost more
as the table grows; SQL statements per page constant). Prints a table and appends it to
bench/results.md. Usage: python bench/list_pages.py [--sizes 1000,20000]"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event, insert, select  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402

from bench.results import record  # noqa: E402

PAGES = {
    "list": "/admin/user/",
    "filtered": "/admin/user/?flt_role_role_equals=",
    "search": "/admin/user/?search=用户77",
    "deep page": "/admin/user/?page=40",
}


def build(size: int, folder: Path):
    from flask_migrate import upgrade

    from app import create_app
    from models import db
    from models.auth import Role, User
    from seed import make_user, seed_reference

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / f'bench{size}.db'}",
            "SECRET_KEY": "bench",
            "WTF_CSRF_ENABLED": False,
        }
    )
    with app.app_context():
        upgrade()
        seed_reference()
        make_user("admin", "admin", "bench-pass-1")
        role_id = db.session.execute(select(Role.id).where(Role.code == "clerk")).scalar()
        pw = generate_password_hash("x-password-1")
        rows = [
            {
                "username": f"u{i}",
                "name": f"用户{i}",
                "password_hash": pw,
                "role_id": role_id,
                "is_active": True,
                "is_deleted": False,
                "failed_logins": 0,
                "version": 1,
            }
            for i in range(size)
        ]
        db.session.execute(insert(User), rows)
        db.session.commit()
        engine = db.engine
    return app, engine, role_id


def measure(app, engine, role_id, repeat=15):
    client = app.test_client()
    client.post("/login", data={"username": "admin", "password": "bench-pass-1"})
    sql_time = [0.0]
    statements = [0]

    def before(conn, cursor, statement, params, context, many):
        context._bench_start = time.perf_counter()

    def after(conn, cursor, statement, params, context, many):
        sql_time[0] += time.perf_counter() - context._bench_start
        statements[0] += 1

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    results = {}
    for name, url in PAGES.items():
        url = url + str(role_id) if url.endswith("=") else url
        client.get(url)  # warm up
        times, sqls = [], []
        for _ in range(repeat):
            sql_time[0], statements[0] = 0.0, 0
            start = time.perf_counter()
            assert client.get(url).status_code == 200
            times.append(time.perf_counter() - start)
            sqls.append(sql_time[0])
        results[name] = (statistics.median(times) * 1000, statistics.median(sqls) * 1000, statements[0])
    event.remove(engine, "before_cursor_execute", before)
    event.remove(engine, "after_cursor_execute", after)
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,20000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    lines = [
        f"\n## {datetime.now():%Y-%m-%d %H:%M} — users list, SQLite, Flask test client\n",
        "| rows | page | total ms | SQL ms | outside DB ms | statements |",
        "|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            app, engine, role_id = build(size, Path(folder))
            for page, (total, sql, count) in measure(app, engine, role_id).items():
                lines.append(f"| {size} | {page} | {total:.1f} | {sql:.1f} | {total - sql:.1f} | {count} |")
    record(lines)


if __name__ == "__main__":
    main()
