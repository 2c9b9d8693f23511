"""Benchmark: importing clients from a CSV file (SPEC §4.3 import; the issue asks for 10,000
rows "well under a minute"). Generates a valid CSV of distinct clients, runs the import's
domain functions (read_table → guess_mapping → validate → commit) on a fresh SQLite
database built by the migrations, prints the seconds per step and appends them to
bench/results.md. ``--existing N`` first imports N other clients, so the duplicate checks run
against a filled table. Usage: python bench/import_clients.py [--rows 10000] [--existing 0]"""
from __future__ import annotations

import argparse
import csv
import io
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402

HEADINGS = ["公司名称", "统一社会信用代码", "公司地址", "联系电话", "所属地区", "联系人", "常用手机", "客户类型",
            "星级评定", "客户来源", "产品分类", "企业规模", "邮编", "电子邮件", "跟单人", "备注其它"]
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
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADINGS)
    for n in range(start, start + count):
        first17 = f"91110108{n:09d}"
        writer.writerow([
            f"基准导入{n}号科技有限公司", first17 + uscc_check_char(first17), f"北京市海淀区中关村大街{n}号",
            f"010-{62000000 + n}", AREAS[n % len(AREAS)], f"联系人{n}", f"13{n % 7 + 3}{n:08d}",
            TYPES[n % 4], STARS[n % 5], SOURCES[n % 4], TRADES[n % 4], SIZES[n % 4], f"{100000 + n % 900000}",
            f"client{n}@example.cn", OWNERS[n % 4], "基准测试导入" if n % 10 == 0 else ""])
    return out.getvalue().encode("utf-8-sig")


def run(count: int, folder: Path, existing: int = 0) -> dict[str, float]:
    from flask_babel import force_locale
    from flask_migrate import upgrade

    from app import create_app
    from models import db
    from models.audit import AuditLog, set_cli_actor
    from models.customers import Client
    from models.imports import commit, guess_mapping, read_table, validate
    from seed import make_user, seed_reference

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'import.db'}",
                      "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False})
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
        set_cli_actor(admin.id, "bench")
        if existing:
            headers, rows = read_table("existing.csv", make_csv(existing))
            commit(validate(rows, guess_mapping(headers), admin)[0], admin, source="existing.csv")

        start = time.perf_counter()
        headers, rows = read_table("clients.csv", data)
        timings["read"] = time.perf_counter() - start
        mark = time.perf_counter()
        mapping = guess_mapping(headers)
        clean, errors = validate(rows, mapping, admin)
        timings["validate"] = time.perf_counter() - mark
        assert not errors, errors[:5]
        mark = time.perf_counter()
        imported = commit(clean, admin, source="bench.csv")
        timings["commit"] = time.perf_counter() - mark
        timings["total"] = time.perf_counter() - start

        assert imported == count
        assert db.session.execute(select(func.count()).select_from(Client)).scalar() == count + existing
        assert db.session.execute(select(func.count()).select_from(AuditLog)
                                  .where(AuditLog.action == "import")).scalar() == count + existing
        db.session.remove()
        db.engine.dispose()
    return timings


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--existing", type=int, default=0, help="clients already in the table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        t = run(args.rows, Path(folder), args.existing)
    lines = [f"\n## {datetime.now():%Y-%m-%d %H:%M} — client import (CSV, SQLite, domain functions)\n",
             "| rows | clients before | read s | validate s | commit s (with audit) | total s |",
             "|---|---|---|---|---|---|",
             f"| {args.rows} | {args.existing} | {t['read']:.2f} | {t['validate']:.2f} | {t['commit']:.2f} "
             f"| {t['total']:.2f} |"]
    text = "\n".join(lines)
    print(text)
    with open(Path(__file__).with_name("results.md"), "a") as fh:
        fh.write(text + "\n")


if __name__ == "__main__":
    main()
