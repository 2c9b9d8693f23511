"""The one settings accessor (models/settings.py), the one clock (models/clock.py), the
one CSV writer (reports/csvfile.py) and the typed XLSX list exports."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from urllib.parse import unquote

import pytest
from sqlalchemy import select, update

from models import clock, settings
from models.auth import SystemConfig
from tests.factories import add_children, make_client

EVIL_NAME = '=HYPERLINK("http://evil.example","x")'
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: 03:00 UTC on 2 December: still 1 December in New York, already 2 December in Shanghai
INSTANT = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


def set_setting(session, name: str, value: str) -> None:
    session.execute(update(SystemConfig).where(SystemConfig.name == name).values(value=value))
    session.commit()


@pytest.fixture
def frozen(monkeypatch):
    """The clock stands at INSTANT (for requests, the CLI and the test alike)."""
    monkeypatch.setattr(clock, "now", lambda: INSTANT)
    return INSTANT


# ---------------------------------------------------------------------------- settings
def test_the_seed_writes_the_declared_settings(db_session):
    stored = db_session.execute(select(SystemConfig.name, SystemConfig.value, SystemConfig.description)).all()
    assert sorted(tuple(row) for row in stored) == sorted(settings.seed_rows())
    assert {name for name, _, _ in settings.seed_rows()} >= {
        "timezone",
        "churn_days",
        "default_tax_rate",
        "upload_max_mb",
        "contract_approval_threshold",
        "quote_discount_approval_pct",
    }


def test_accessors_give_the_declared_defaults(db_session):
    assert settings.timezone() == "Asia/Shanghai"
    assert settings.churn_days() == 180
    assert settings.default_tax_rate() == 13
    assert settings.upload_max_mb() == 10.0
    assert settings.contract_approval_threshold() == Decimal("0")
    assert settings.discount_threshold() == Decimal("10")


@pytest.mark.parametrize(
    "name, stored, accessor, expected",
    [
        ("timezone", "America/New_York", settings.timezone, "America/New_York"),
        ("timezone", "Mars/Olympus", settings.timezone, "Asia/Shanghai"),
        ("timezone", "../../etc/passwd", settings.timezone, "Asia/Shanghai"),
        ("timezone", "  ", settings.timezone, "Asia/Shanghai"),
        ("churn_days", " 30 ", settings.churn_days, 30),
        ("churn_days", "half a year", settings.churn_days, 180),
        ("churn_days", "0", settings.churn_days, 1),
        ("default_tax_rate", "6", settings.default_tax_rate, 6),
        ("default_tax_rate", "13%", settings.default_tax_rate, 13),
        ("upload_max_mb", "2.5", settings.upload_max_mb, 2.5),
        ("upload_max_mb", "-1", settings.upload_max_mb, 10.0),
        ("upload_max_mb", "nan", settings.upload_max_mb, 10.0),
        ("contract_approval_threshold", "50000", settings.contract_approval_threshold, Decimal("50000")),
        ("contract_approval_threshold", "NaN", settings.contract_approval_threshold, Decimal("0")),
        ("contract_approval_threshold", "五万", settings.contract_approval_threshold, Decimal("0")),
        ("quote_discount_approval_pct", "12.5", settings.discount_threshold, Decimal("12.5")),
        ("quote_discount_approval_pct", "Infinity", settings.discount_threshold, Decimal("10")),
    ],
)
def test_a_stored_value_is_read_as_its_type_or_the_default(db_session, name, stored, accessor, expected):
    set_setting(db_session, name, stored)
    assert accessor() == expected


def test_a_missing_row_gives_the_default(db_session):
    db_session.execute(SystemConfig.__table__.delete().where(SystemConfig.name == "churn_days"))
    db_session.commit()
    assert settings.churn_days() == 180


def test_bad_stored_values_never_make_an_error_page(en_client, db_session):
    set_setting(db_session, "timezone", "Mars/Olympus")
    set_setting(db_session, "default_tax_rate", "thirteen")
    set_setting(db_session, "upload_max_mb", "lots")
    admin = en_client("admin")
    assert admin.get("/admin/followup/").status_code == 200
    page = admin.get("/admin/invoice/new/")
    assert page.status_code == 200
    assert re.search(
        r'<option[^>]*selected[^>]*value="13"|<option[^>]*value="13"[^>]*selected', page.get_data(as_text=True)
    )


# ------------------------------------------------------------------------------- clock
def test_the_clock_uses_the_configured_zone(app, db_session, frozen):
    assert clock.zone_name() == "Asia/Shanghai" and clock.today() == date(2026, 12, 2)
    set_setting(db_session, "timezone", "America/New_York")
    assert clock.now() == INSTANT
    assert clock.local_now() == INSTANT and clock.local_now().utcoffset() == timedelta(hours=-5)
    assert clock.today() == date(2026, 12, 1)
    assert clock.day_start(date(2026, 12, 1)) == datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    assert clock.to_utc(datetime(2026, 12, 1, 9, 30)) == datetime(2026, 12, 1, 14, 30, tzinfo=UTC)
    assert clock.to_local(datetime(2026, 12, 1, 14, 30, tzinfo=UTC)).replace(tzinfo=None) == datetime(
        2026, 12, 1, 9, 30
    )


def test_cli_and_requests_agree_on_today_in_the_configured_zone(app, en_client, db_session, frozen):
    """The detect-churn CLI (no --today) and a request both take "today" from the clock:
    New York's 1 December, while Shanghai is already at 2 December."""
    set_setting(db_session, "timezone", "America/New_York")
    from models.churn import ClientLoss
    from models.customers import Client

    client = make_client(db_session, "account_manager")
    db_session.execute(update(Client).where(Client.id == client.id).values(created_at=datetime(2025, 1, 1, tzinfo=UTC)))
    db_session.commit()
    result = app.test_cli_runner().invoke(args=["detect-churn"])
    assert result.exit_code == 0, result.output
    db_session.expire_all()
    warning = db_session.execute(select(ClientLoss).where(ClientLoss.client_id == client.id)).scalar_one()
    assert warning.detected_on == date(2026, 12, 1)

    report = en_client("finance").get("/admin/reports/receivables/?format=csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(report.lstrip("\ufeff"))))
    assert ["Aging as of", "2026-12-01"] in rows
    assert any("(America/New_York)" in cell for row in rows for cell in row)

    with app.test_request_context("/"):
        from flask_babel import get_timezone

        assert str(get_timezone()) == "America/New_York"
        assert clock.today() == date(2026, 12, 1)
        assert clock.day_start(date(2026, 12, 1)) == datetime(2026, 12, 1, 5, 0, tzinfo=UTC)


def test_pages_show_times_in_the_configured_zone(en_client, db_session):
    set_setting(db_session, "timezone", "America/New_York")
    client = make_client(db_session, "account_manager")
    add_children(db_session, client)["followup"].followed_at = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    db_session.commit()
    page = en_client("admin").get("/admin/followup/").get_data(as_text=True)
    assert "2026-12-01 22:00" in page and "2026-12-02 03:00" not in page


# ------------------------------------------------------------------------ CSV writer
def test_the_csv_writer_neutralises_text_only():
    from reports.csvfile import csv_bytes

    data = csv_bytes([["name", "amount"], [EVIL_NAME, Decimal("-5.00")], ["-5 units", -3], ["@A1", None]])
    assert data.startswith("\ufeff".encode())
    text = data.decode("utf-8").lstrip("\ufeff")
    assert text.count("\r\n") == 4 and "\n" not in text.replace("\r\n", "")
    assert list(csv.reader(io.StringIO(text))) == [
        ["name", "amount"],
        ["'" + EVIL_NAME, "-5.00"],
        ["'-5 units", "-3"],
        ["'@A1", ""],
    ]
    for start in FORMULA_START:
        row = next(csv.reader(io.StringIO(csv_bytes([[start + "x"]]).decode("utf-8").lstrip("\ufeff"))))
        assert row == ["'" + start + "x"]


def test_import_error_reports_use_the_writer(app):
    from models.imports import error_report

    with app.app_context():
        data = error_report([SimpleNamespace(row=3, field="=A1", message="-not a number")])
    assert data.startswith("\ufeff".encode()) and b"\r\n" in data
    rows = list(csv.reader(io.StringIO(data.decode("utf-8").lstrip("\ufeff"))))
    assert rows[1] == ["3", "'=A1", "'-not a number"]


def test_report_csv_keeps_negative_amounts_as_numbers():
    from reports.render import Column, Document, Section, write_csv

    doc = Document(
        title="=report",
        sections=[Section(None, [Column("t", "Text"), Column("m", "Money", "money")], [{"t": "-x", "m": -5}])],
    )
    rows = list(csv.reader(io.StringIO(write_csv([doc]).decode("utf-8").lstrip("\ufeff"))))
    assert rows[0] == ["'=report"] and ["'-x", "-5.00"] in rows


# ------------------------------------------------------------------- list exports
def _xlsx(response):
    from openpyxl import load_workbook

    assert response.status_code == 200, response.data[:300]
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows())
    header = [c.value for c in rows[0]]
    return header, rows[1:]


def _column(header, rows, label):
    index = header.index(label)
    return [row[index] for row in rows]


def test_a_formula_in_a_name_is_neutralised_in_csv_and_xlsx(en_client, db_session):
    make_client(db_session, "account_manager", name=EVIL_NAME, notes="-5 units")
    db_session.commit()
    admin = en_client("admin")
    text = admin.get("/admin/client/export/csv/").get_data(as_text=True).lstrip("\ufeff")
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert "'" + EVIL_NAME in cells and "'-5 units" in cells
    assert not [c for c in cells if c.startswith(FORMULA_START)]
    header, rows = _xlsx(admin.get("/admin/client/export/xlsx/"))
    names = _column(header, rows, "Company name")
    assert ["'" + EVIL_NAME] == [c.value for c in names if "HYPERLINK" in str(c.value)]
    assert all(c.data_type != "f" for row in rows for c in row)


def test_xlsx_list_exports_are_typed(en_client, db_session):
    client = make_client(db_session, "account_manager")
    client.created_at = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
    contract = add_children(db_session, client)["contract"]
    contract.amount = Decimal("1234.50")
    db_session.commit()
    admin = en_client("admin")

    header, rows = _xlsx(admin.get(f"/admin/contract/export/xlsx/?search={contract.number}"))
    (amount,) = _column(header, rows, "Contract amount")
    assert amount.value == 1234.5 and amount.data_type == "n" and "¥" in amount.number_format
    assert "#,##0.00" in amount.number_format
    (starts,) = _column(header, rows, "Start date")
    assert starts.is_date and starts.value.date() == date(2026, 1, 1)

    header, rows = _xlsx(admin.get(f"/admin/client/export/xlsx/?search={client.name}"))
    (created,) = _column(header, rows, "Created at")
    assert created.is_date and created.value == datetime(2026, 3, 1, 12, 0)


def test_xlsx_counts_are_integers(en_client, db_session):
    from models.products import Product, Stock

    product = Product(name="导出螺丝", unit="个", price=Decimal("2.50"))
    db_session.add_all([product, Stock(product=product, warehouse="一号库", quantity=7)])
    db_session.commit()
    header, rows = _xlsx(en_client("admin").get("/admin/product/export/xlsx/?search=导出螺丝"))
    (on_hand,) = _column(header, rows, "Stock on hand")
    assert on_hand.value == 7 and isinstance(on_hand.value, int)
    (price,) = _column(header, rows, "Unit price")
    assert price.value == 2.5 and "¥" in price.number_format


def test_the_table_writer_keeps_negative_numbers_and_neutralises_text():
    from openpyxl import load_workbook

    from reports.render import write_table_xlsx

    data = write_table_xlsx(
        "=sheet", [("=label", "text"), ("Amount", "money"), ("Count", "int")], [["-2+3", Decimal("-5.00"), -2]]
    )
    sheet = load_workbook(io.BytesIO(data)).active
    assert [c.value for c in next(sheet.iter_rows())] == ["'=label", "Amount", "Count"]
    text, amount, count = list(sheet.iter_rows())[1]
    assert text.value == "'-2+3" and text.data_type == "s"
    assert amount.value == -5 and amount.data_type == "n" and "¥" in amount.number_format
    assert count.value == -2 and count.data_type == "n"


@pytest.mark.parametrize("export_type", ["csv", "xlsx"])
def test_export_file_names_carry_the_local_date_and_time(en_client, frozen, export_type):
    # INSTANT is 2 December 11:00:00 in Shanghai
    disposition = en_client("admin").get(f"/admin/client/export/{export_type}/?lang=zh_CN")
    disposition = disposition.headers["Content-Disposition"]
    name = unquote(disposition.split("filename*=UTF-8''")[1])
    assert name == f"企业客户-20261202-110000.{export_type}"
    assert f'filename="client_20261202-110000.{export_type}"' in disposition
    english = en_client("admin").get(f"/admin/client/export/{export_type}/?lang=en").headers["Content-Disposition"]
    assert f'filename="Clients-20261202-110000.{export_type}"' in english
