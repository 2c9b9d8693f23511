"""Benchmark: peak memory of a full client export at two sizes, side by side (issue 10:
export memory must not grow with the row count). For each size a SQLite database of that
many clients is built (or reused) once; then each export runs in a fresh process that
logs in as admin and reads the whole streamed download (CSV in the request, XLSX through
its temporary file) with ``export_sync_rows`` above the size, so the request does all
the work. Prints the peak RSS, its growth over the process before the export, the time,
and the large / small ratio, and records them in bench/results.md.

Usage: python bench/export_memory.py [--sizes 10000,100000] [--folder /tmp/crm-bench-export]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results import record  # noqa: E402

PASSWORD = "bench-pass-1"


def build(path: Path, size: int) -> None:
    """A migrated, seeded database with ``size`` clients (bulk inserts, no ORM objects)."""
    from flask_migrate import upgrade
    from sqlalchemy import insert, select

    from app import create_app
    from models import db
    from models.customers import Client
    from models.lookups import Area, ClientType
    from models.settings import export_sync_rows
    from seed import make_user, seed_reference

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SECRET_KEY": "bench"})
    with app.app_context():
        upgrade()
        seed_reference()
        admin = make_user("admin", "admin", PASSWORD, name="管理员")
        area = db.session.execute(select(Area.id)).scalars().first()
        kinds = db.session.execute(select(ClientType.id)).scalars().all()
        db.session.commit()
        for start in range(0, size, 5000):
            rows = [
                {
                    "name": f"导出测试{n}科技有限公司",
                    "name_key": f"导出测试{n}科技",
                    "address": f"北京市海淀区中关村大街{n}号",
                    "phone": "010-12345678",
                    "area_id": area,
                    "type_id": kinds[n % len(kinds)] if kinds else None,
                    "contact_name": f"联系人{n}",
                    "contact_mobile": f"139{n:08d}",
                    "satisfaction": n % 5 + 1,
                    "notes": "-5 units" if n % 10 == 0 else None,
                    "owner_id": admin.id,
                }
                for n in range(start, min(size, start + 5000))
            ]
            db.session.execute(insert(Client), rows)
            db.session.commit()
        from models.auth import SystemConfig

        row = db.session.execute(select(SystemConfig).where(SystemConfig.name == export_sync_rows.name)).scalar_one()
        row.value = str(10**9)  # the request streams it all: the bench measures the writer
        db.session.commit()


def child(path: str, export_type: str) -> None:
    """One export in this fresh process; prints JSON (RSS in MiB, seconds, bytes)."""
    from app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False})
    client = app.test_client()
    client.post("/login", data={"username": "admin", "password": PASSWORD})
    warm = client.get(f"/admin/client/export/{export_type}/?search=导出测试1科技", buffered=False)
    b"".join(warm.response)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    response = client.get(f"/admin/client/export/{export_type}/", buffered=False)
    assert response.status_code == 200, response.status_code
    size = sum(len(chunk) for chunk in response.response)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"before": before, "peak": peak, "seconds": seconds, "bytes": size}))


def measure(path: Path, export_type: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(path), export_type],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--folder", default="/tmp/crm-bench-export")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    small, large = (int(s) for s in args.sizes.split(","))
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for size in (small, large):
        paths[size] = folder / f"export{size}.db"
        if not paths[size].exists():
            print(f"building {size:,} clients …", flush=True)
            build(paths[size], size)
    measured = []
    for export_type in ("csv", "xlsx"):
        a, b = measure(paths[small], export_type), measure(paths[large], export_type)
        grow_a, grow_b = a["peak"] - a["before"], b["peak"] - b["before"]
        measured.append(
            f"| {export_type.upper()} | {a['peak']:.0f} MiB / +{grow_a:.0f} MiB / {a['seconds']:.1f} s "
            f"| {b['peak']:.0f} MiB / +{grow_b:.0f} MiB / {b['seconds']:.1f} s "
            f"| {b['peak'] / a['peak']:.2f} | {(grow_b + 1) / (grow_a + 1):.2f} |"
        )
    load = os.getloadavg()[0]
    lines = [
        "",
        f"## bench/export_memory.py — {datetime.now():%Y-%m-%d %H:%M} (SQLite, full client export in the request; "
        f"load average {load:.1f})",
        "",
        f"| export | {small:,} rows: peak RSS / growth / time | {large:,} rows: peak RSS / growth / time "
        "| peak ratio | growth ratio |",
        "|---|---|---|---|---|",
        *measured,
    ]
    record(lines)


if __name__ == "__main__":
    main()
