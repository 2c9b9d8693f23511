"""Streamed list exports and background export jobs (issue 10, Deliver 6): the file holds
what the list shows (scope, filters, search, sort; masked fields masked, formulas
neutralised, XLSX cells typed); above ``export_sync_rows`` the export runs as a job with
progress and cancel, downloadable by its requester alone, purged after a day."""

from __future__ import annotations

import csv
import io
import os
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from models.auth import Right, Role, SystemConfig
from models.customers import Client
from models.exports import EXPORT_JOB
from models.jobs import Job, JobContext
from models.lookups import ClientType
from tests.factories import add_children, lookup, make_client, make_opportunity, user

FORMULA = '=HYPERLINK("http://evil.example","x")'
OWNERS = ("account_manager", "am_team", "am_other", "sales_director")
#: sales_director's department scope (am_other works in 销售二部)
DIRECTOR_SEES = {"account_manager", "am_team", "sales_director"}


def _set(session, name, value):
    row = session.execute(select(SystemConfig).where(SystemConfig.name == name)).scalar_one()
    row.value = str(value)
    session.commit()


def _grant(session, role_code, *codes):
    role = session.execute(select(Role).where(Role.code == role_code)).scalar_one()
    for code in codes:
        role.rights.append(session.execute(select(Right).where(Right.code == code)).scalar_one())
    session.commit()


def _revoke(session, role_code, code):
    role = session.execute(select(Role).where(Role.code == role_code)).scalar_one()
    role.rights.remove(session.execute(select(Right).where(Right.code == code)).scalar_one())
    session.commit()


@pytest.fixture
def clients(db_session):
    """Two clients per owner named 导出<owner>-<n>, the first of each a VIP; one formula name."""
    vip = lookup(db_session, ClientType)
    made = {}
    for owner in OWNERS:
        for n in (1, 2):
            client = make_client(db_session, owner, name=f"导出{owner}-{n}有限公司", notes="-5 units")
            client.type = vip if n == 1 else None
            made[client.name] = client
    make_client(db_session, "account_manager", name=FORMULA)
    db_session.commit()
    return {"vip": vip.id, "names": set(made)}


def _csv_rows(response):
    assert response.status_code == 200, response.data[:500]
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def _names(rows, label="Company name"):
    index = rows[0].index(label)
    return [row[index] for row in rows[1:]]


def _xlsx_rows(data: bytes):
    sheet = load_workbook(io.BytesIO(data)).active
    return list(sheet.iter_rows())


# ------------------------------------------------------------ the list, as it shows
def test_csv_export_holds_the_rows_the_list_shows(en_client, clients):
    director = en_client("sales_director")
    query = f"search=导出&flt_client_type_equals={clients['vip']}&sort=0&desc=1"
    names = _names(_csv_rows(director.get(f"/admin/client/export/csv/?{query}")))
    expected = sorted((f"导出{owner}-1有限公司" for owner in DIRECTOR_SEES), reverse=True)
    assert names == expected  # scope, search, filter and sort (name, descending)
    page = director.get(f"/admin/client/?{query}").get_data(as_text=True)
    assert [name for name in clients["names"] if name in page] == [n for n in clients["names"] if n in expected]
    # no filter: the whole scope, the formula neutralised, "-5 units" as text
    rows = _csv_rows(director.get("/admin/client/export/csv/"))
    owned = {name for name in _names(rows) if name.startswith("导出")}
    assert owned == {n for n in clients["names"] if n.split("-")[0][2:] in DIRECTOR_SEES}
    cells = [cell for row in rows for cell in row]
    assert "'" + FORMULA in cells and "'-5 units" in cells and FORMULA not in cells


def test_xlsx_export_is_typed_and_neutralised(en_client, db_session, clients):
    client = make_client(db_session, "account_manager", name="导出类型有限公司")
    client.created_at = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
    contract = add_children(db_session, client)["contract"]
    contract.amount = Decimal("1234.50")
    db_session.commit()
    admin = en_client("admin")
    rows = _xlsx_rows(admin.get(f"/admin/contract/export/xlsx/?search={contract.number}").data)
    header = [c.value for c in rows[0]]
    amount = rows[1][header.index("Contract amount")]
    assert amount.data_type == "n" and amount.value == 1234.5 and "¥" in amount.number_format
    assert rows[1][header.index("Start date")].is_date
    rows = _xlsx_rows(admin.get("/admin/client/export/xlsx/?search=导出").data)
    header = [c.value for c in rows[0]]
    created = [r[header.index("Created at")].value for r in rows[1:] if r[0].value == "导出类型有限公司"]
    assert created == [datetime(2026, 3, 1, 12, 0)]  # local wall-clock time, a date cell
    values = [c for row in rows for c in row if c.value is not None]
    assert all(c.data_type != "f" for c in values) and "'-5 units" in [c.value for c in values]


def test_the_table_writer_takes_a_stream_of_rows(tmp_path):
    from reports.render import write_table_xlsx

    target = tmp_path / "t.xlsx"
    rows = ([f"=n{n}", Decimal(n), date(2026, 1, 1) + timedelta(days=n)] for n in range(1200))
    assert write_table_xlsx("t", [("A", "text"), ("B", "money"), ("C", "date")], rows, target) is None
    sheet = list(load_workbook(target).active.iter_rows())
    assert len(sheet) == 1201 and sheet[1200][0].value == "'=n1199"
    assert sheet[1200][1].value == 1199 and sheet[1200][2].is_date


def test_masked_fields_stay_masked(en_client, db_session):
    target = user(db_session, "clerk")
    target.id_card = "11010519491231002X"
    _grant(db_session, "executive", "user.view", "user.export")
    viewer = en_client("executive")
    text = viewer.get("/admin/user/export/csv/").get_data(as_text=True)
    assert "1101**********002X" in text and "11010519491231002X" not in text
    cells = [c.value for row in _xlsx_rows(viewer.get("/admin/user/export/xlsx/").data) for c in row]
    assert "1101**********002X" in cells and "11010519491231002X" not in cells
    assert "11010519491231002X" in en_client("admin").get("/admin/user/export/csv/").get_data(as_text=True)


def test_a_status_is_exported_by_its_label(en_client, db_session):
    make_opportunity(db_session, title="导出状态机会")
    admin = en_client("admin")
    rows = _csv_rows(admin.get("/admin/opportunity/export/csv/?search=导出状态机会"))
    assert rows[1][rows[0].index("Status")] == "Unassigned"
    rows = _xlsx_rows(admin.get("/admin/opportunity/export/xlsx/?search=导出状态机会").data)
    assert rows[1][[c.value for c in rows[0]].index("Status")].value == "Unassigned"


# ------------------------------------------------------------ background exports
def _run_jobs(app):
    from models.jobs import run_pending

    with app.app_context():
        return run_pending()


def _job(db_session, job_id):
    db_session.expire_all()
    return db_session.get(Job, job_id)


def _queue(test_client, url):
    page = test_client.get(url)
    assert page.status_code == 200 and b"start-export" in page.data, page.data[:300]
    assert b"more than 3 rows" in page.data
    response = test_client.post(url)
    assert response.status_code == 302 and "/admin/exports/" in response.headers["Location"]
    return int(re.search(r"job=(\d+)", response.headers["Location"]).group(1))


def test_a_big_export_runs_as_a_job_with_progress(app, en_client, db_session, clients, monkeypatch):
    _set(db_session, "export_sync_rows", 3)
    director = en_client("sales_director")
    job_id = _queue(director, "/admin/client/export/csv/?search=导出")
    job = _job(db_session, job_id)
    assert job.kind == EXPORT_JOB and job.status == "queued" and ["search", "导出"] in job.payload["args"]
    assert f"export-{job_id}" in director.get("/admin/exports/").get_data(as_text=True)

    import views.crud.export as export

    beats = []
    original = JobContext.beat
    monkeypatch.setattr(export, "CHUNK_ROWS", 2)

    def beat(self, done=None, total=None):
        beats.append((done, total))
        return original(self, done, total)

    monkeypatch.setattr(JobContext, "beat", beat)
    assert _run_jobs(app) == 1
    job = _job(db_session, job_id)
    assert job.status == "done", job.error
    assert beats[0] == (0, 6) and (2, None) in beats and (4, None) in beats and beats[-1] == (6, 6)
    assert job.progress_done == job.progress_total == job.result["rows"] == 6

    download = director.get(f"/admin/exports/{job_id}/download/")
    assert "filename*=UTF-8''" in download.headers["Content-Disposition"]
    names = _names(_csv_rows(download))
    _set(db_session, "export_sync_rows", 10000)
    assert names == _names(_csv_rows(director.get("/admin/client/export/csv/?search=导出")))
    assert len(names) == 6 and all(name.split("-")[0][2:] in DIRECTOR_SEES for name in names)
    assert job.result["size"] == len(download.data)


def test_a_job_exports_only_the_selected_clients(app, en_client, db_session, clients):
    """ "Export selected" (the client action's flt_ids) holds in the job too."""
    _set(db_session, "export_sync_rows", 3)
    picked = sorted(n for n in clients["names"] if n.endswith("-1有限公司") or "am_team" in n or "account_" in n)
    ids = db_session.execute(select(Client.id).where(Client.name.in_(picked))).scalars().all()
    director = en_client("sales_director")
    job_id = _queue(director, f"/admin/client/export/csv/?flt_ids={','.join(map(str, ids))}")
    assert _run_jobs(app) == 1
    names = _names(_csv_rows(director.get(f"/admin/exports/{job_id}/download/")))
    assert sorted(names) == [n for n in picked if n.split("-")[0][2:] in DIRECTOR_SEES]
    assert len(names) == 5 and len(picked) == 6  # am_other's pick stays out of scope


def test_an_xlsx_job_export(app, en_client, db_session, clients):
    _set(db_session, "export_sync_rows", 3)
    admin = en_client("admin")
    job_id = _queue(admin, "/admin/client/export/xlsx/?search=导出")
    assert _run_jobs(app) == 1
    rows = _xlsx_rows(admin.get(f"/admin/exports/{job_id}/download/").data)
    assert len(rows) == 1 + len(clients["names"])


def test_only_the_requester_downloads_and_only_with_the_rights(app, en_client, db_session, clients):
    _set(db_session, "export_sync_rows", 3)
    director = en_client("sales_director")
    job_id = _queue(director, "/admin/client/export/csv/")
    _run_jobs(app)
    other = en_client("director_top")  # the same role and rights, another person
    assert other.get(f"/admin/exports/{job_id}/download/").status_code == 404
    assert f"export-{job_id}" not in other.get("/admin/exports/").get_data(as_text=True)
    assert other.post(f"/admin/exports/{job_id}/cancel/").status_code == 404
    assert director.get(f"/admin/exports/{job_id}/download/").status_code == 200
    _revoke(db_session, "sales_director", "client.export")
    assert director.get(f"/admin/exports/{job_id}/download/").status_code == 403
    assert en_client("admin").get(f"/admin/exports/{job_id}/download/").status_code == 404
    assert app.test_client().get("/admin/exports/").status_code == 302  # anonymous: to the login


def test_cancel_a_queued_and_a_running_export(app, en_client, db_session, clients, monkeypatch, tmp_path):
    from models import db
    from models.jobs import cancel

    _set(db_session, "export_sync_rows", 3)
    director = en_client("sales_director")
    queued = _queue(director, "/admin/client/export/csv/")
    assert director.post(f"/admin/exports/{queued}/cancel/").status_code == 302
    assert _job(db_session, queued).status == "cancelled"
    assert _run_jobs(app) == 0
    assert b"already finished" in director.post(f"/admin/exports/{queued}/cancel/", follow_redirects=True).data

    running = _queue(director, "/admin/client/export/xlsx/")
    import views.crud.export as export

    original = JobContext.beat

    def beat(self, done=None, total=None):
        if done == 2 and total is None:  # the user cancels while the job is writing
            cancel(self.id)
            db.session.commit()
        return original(self, done, total)

    monkeypatch.setattr(export, "CHUNK_ROWS", 2)
    monkeypatch.setattr(JobContext, "beat", beat)
    assert _run_jobs(app) == 1
    assert _job(db_session, running).status == "cancelled"
    assert not list((tmp_path / "exports").iterdir())  # the partial file went with it
    assert director.get(f"/admin/exports/{running}/download/").status_code == 404


def test_purge_removes_old_files_and_rows(app, en_client, db_session, clients, tmp_path):
    _set(db_session, "export_sync_rows", 3)
    director = en_client("sales_director")
    old, new = _queue(director, "/admin/client/export/csv/"), _queue(director, "/admin/client/export/xlsx/")
    _run_jobs(app)
    folder = tmp_path / "exports"
    old_file = folder / _job(db_session, old).result["file"]
    stray = folder / f"{10**6}-{'a' * 32}.csv.part"
    stray.write_bytes(b"left by a killed worker")
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    _job(db_session, old).created_at = two_days_ago
    db_session.commit()
    os.utime(stray, (two_days_ago.timestamp(), two_days_ago.timestamp()))
    with app.app_context():
        output = app.test_cli_runner().invoke(args=["purge-exports"]).output
    assert "Removed 1 export job(s) and 2 file(s)" in output
    assert _job(db_session, old) is None and not old_file.exists() and not stray.exists()
    assert _job(db_session, new).status == "done" and director.get(f"/admin/exports/{new}/download/").status_code == 200
    with app.app_context():
        assert "Removed 0 export job(s) and 0 file(s)" in app.test_cli_runner().invoke(args=["purge-exports"]).output


def test_my_exports_is_linked_from_the_export_menu_and_the_user_menu(en_client, clients):
    page = en_client("sales_director").get("/admin/client/").get_data(as_text=True)
    assert 'id="my-exports-link" href="/admin/exports/"' in page
    assert 'id="my-exports-menu" href="/admin/exports/"' in page
    assert "You have no exports." in en_client("sales_director").get("/admin/exports/").get_data(as_text=True)
