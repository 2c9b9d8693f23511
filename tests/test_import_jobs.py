"""Imports that cannot kill a worker (issue 8, item 8): huge files are refused while they
are read, the commit runs as a background job (``run-jobs``) in short transactions that
other users' saves do not wait for, and a failed or killed import leaves nothing."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select, text

from models.audit import AuditLog
from models.customers import Client
from models.imports import MAX_COLUMNS, MAX_ROWS, ImportFileError, read_table
from models.jobs import Job
from models.lookups import Area
from models.validators import uscc_check_char
from reports.csvfile import csv_bytes
from tests.conftest import run_parallel
from tests.factories import lookup

URL = "/admin/client/import/"
HEADINGS = ["公司名称", "统一社会信用代码", "公司地址", "联系电话", "所属地区", "联系人", "常用手机"]
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def app(shared_app):
    """The usual test app, with pending uploads kept under tmp_path (conftest's IMPORT_FOLDER)."""
    return shared_app()


def rows_csv(count: int, start: int = 0) -> bytes:
    """``count`` valid, distinct clients under HEADINGS (UTF-8 with BOM)."""

    def row(n: int) -> list[str]:
        first17 = f"91330106{n:09d}"
        return [
            f"批量导入{n}号有限公司",
            first17 + uscc_check_char(first17),
            f"杭州市文三路{n}号",
            "0571-88886666",
            "杭州",
            f"联系人{n}",
            f"13{n % 7 + 3}{n:08d}",
        ]

    return csv_bytes([HEADINGS, *map(row, range(start, start + count))])


def upload(client, content: bytes, filename="clients.csv"):
    return client.post(URL, data={"file": (io.BytesIO(content), filename)}, content_type="multipart/form-data")


def queue(client, content: bytes) -> str:
    """Upload and submit the preview; returns the job page's path."""
    response = upload(client, content)
    assert response.status_code == 302, response.data.decode()[:2000]
    token = parse_qs(urlparse(response.headers["Location"]).query)["token"][0]
    response = client.post(URL, data={"token": token})
    assert response.status_code == 302, response.data.decode()[:3000]
    path = urlparse(response.headers["Location"]).path
    assert re.fullmatch(r"/admin/client/import/job/\d+/", path)
    return path


def job_id_of(path: str) -> int:
    return int(path.rstrip("/").rsplit("/", 1)[1])


def run_jobs_once(app) -> str:
    """`flask --app app run-jobs --once` in the app under test."""
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["run-jobs", "--once"])
    assert result.exit_code == 0, result.output
    return result.output


def clients_in(session) -> int:
    session.expire_all()
    return session.execute(select(func.count()).select_from(Client.__table__)).scalar()


def imported_audit_entries(session) -> int:
    return session.execute(
        select(func.count()).select_from(AuditLog).where(AuditLog.table_name == "clients", AuditLog.action == "import")
    ).scalar()


class CountingStream(io.BytesIO):
    """A file whose bytes handed out are counted: how far a reader got before it stopped."""

    handed_out = 0

    def read(self, size=-1):
        data = super().read(size)
        self.handed_out += len(data)
        return data

    def read1(self, size=-1):
        data = super().read1(size)
        self.handed_out += len(data)
        return data

    def readinto(self, buffer):
        count = super().readinto(buffer)
        self.handed_out += count
        return count


def openpyxl_calls(call) -> int:
    """How many Python functions of openpyxl ran while ``call()`` ran."""
    calls = 0

    def profile(frame, event, arg):
        nonlocal calls
        if event == "call" and "openpyxl" in frame.f_code.co_filename:
            calls += 1

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return calls


def refusal(call) -> str:
    with pytest.raises(ImportFileError) as info:
        call()
    return str(info.value)


# --------------------------------------------------------------- reading stops early
def test_a_million_row_csv_is_refused_while_reading_in_flat_memory(en_client, tmp_path):
    line = "杭州某某贸易有限公司,杭州,0571-1\n".encode()
    huge = "公司名称,所属地区,联系电话\n".encode() + line * 1_000_000  # 40 MB
    clerk = en_client("clerk")

    response = upload(clerk, huge)
    assert response.status_code == 400
    page = response.data.decode()
    assert f"more than {MAX_ROWS} rows" in page and "Split the file" in page
    assert not list((tmp_path / "imports").glob("*/table.json"))  # nothing kept to re-parse

    # stopped at the limit: a twentieth of the file read (50,000 of 1,000,000 rows and a buffer)
    stream = CountingStream(huge)
    refusal(lambda: read_table("huge.csv", stream))
    assert len(line) * MAX_ROWS <= stream.handed_out < len(huge) / 10, (stream.handed_out, len(huge))
    # and memory does not grow with the file: ten times the rows, the same peak
    tenth = "公司名称,所属地区,联系电话\n".encode() + line * 100_000

    def peak(data):
        tracemalloc.start()
        try:
            refusal(lambda: read_table("big.csv", io.BytesIO(data)))
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    assert peak(huge) < 1.5 * peak(tenth)


def test_a_csv_with_300000_columns_or_a_giant_line_or_cell_is_refused(en_client, tmp_path):
    clerk = en_client("clerk")
    wide = ",".join(f"c{n}" for n in range(300_000)).encode() + b"\n1,2,3\n"
    response = upload(clerk, wide)
    assert response.status_code == 400
    assert f"Row 1 has 300000 columns; at most {MAX_COLUMNS} columns can be imported" in response.data.decode()
    assert not list((tmp_path / "imports").glob("*/table.json"))

    # trailing empty columns (as spreadsheets export them) do not count
    headers, rows = read_table("a.csv", b"name,phone" + b"," * 5000 + b"\nx,y\n")
    assert headers == ["name", "phone"] and rows == [["x", "y"]]
    # a file without line breaks is not read whole
    assert "longer than 4,000,000 characters" in refusal(lambda: read_table("b.csv", b"a," * 3_000_000))
    assert "cell in row 3 is longer than 32767" in refusal(
        lambda: read_table("c.csv", b"a,b\n1,2\n" + b'"' + b"x" * 40_000 + b'",2\n')
    )
    assert "cell in row 2" in refusal(lambda: read_table("d.csv", b'a\n"' + b"x\n" * 200_000 + b'"\n'))


def write_xlsx(rows: int, columns: int = 2) -> bytes:
    workbook = Workbook(write_only=True)  # as a large export would write it: streamed, no size noted
    sheet = workbook.create_sheet()
    sheet.append(["公司名称", "联系电话", *[f"列{n}" for n in range(columns - 2)]])
    for n in range(rows):
        sheet.append([f"公司{n}", n, *range(columns - 2)])
    data = io.BytesIO()
    workbook.save(data)
    return data.getvalue()


def test_a_60000_row_xlsx_and_a_wide_one_are_refused_fast(en_client):
    huge, small = write_xlsx(60_000), write_xlsx(1_000)
    clerk = en_client("clerk")
    response = upload(clerk, huge, "clients.xlsx")
    assert response.status_code == 400 and f"more than {MAX_ROWS} rows" in response.data.decode()

    # counted on the raw XML, not parsed: openpyxl never runs for the refused file
    assert openpyxl_calls(lambda: refusal(lambda: read_table("huge.xlsx", io.BytesIO(huge)))) == 0
    assert openpyxl_calls(lambda: read_table("small.xlsx", io.BytesIO(small))) > 1_000

    wide = write_xlsx(3, columns=300)
    assert f"Row 1 has 300 columns; at most {MAX_COLUMNS}" in refusal(lambda: read_table("w.xlsx", wide))
    headers, rows = read_table("s.xlsx", small)
    assert headers == ["公司名称", "联系电话"] and len(rows) == 1_000 and rows[-1] == ["公司999", "999"]


# ----------------------------------------------------------- the background import
def client_form(area_id: int, n: int) -> dict:
    return {
        "name": f"并发保存{n}号有限公司",
        "area": str(area_id),
        "address": f"杭州市西湖区{n}号",
        "phone": "0571-88886666",
        "contact_name": f"并发{n}",
        "contact_mobile": f"1580000{n:04d}",
        "contact_gender": "",
        "satisfaction": "",
        "credit": "",
    }


def test_12000_rows_import_in_the_background_while_others_save(app, en_client, http_user, db_session):
    area_id = lookup(db_session, Area, "杭州").id
    db_session.commit()
    clerk = en_client("clerk")
    job_page = queue(clerk, rows_csv(12_000))
    job_id = job_id_of(job_page)
    status = clerk.get(job_page + "status/").get_json()
    assert status == {"status": "queued", "done": 0, "total": None, "percent": 0, "finished": False}
    page = clerk.get(job_page).data.decode()
    assert "Waiting for the background worker" in page and "/static/import_job.js" in page
    assert 'http-equiv="refresh"' in page  # without script the page reloads itself
    assert clients_in(db_session) == 0

    finished = threading.Event()
    seen, listed = [], []

    def worker():
        from models.jobs import run_pending

        try:
            with app.app_context():
                return run_pending()
        finally:
            finished.set()

    # logged in one after the other (parallel logins of one user are another item's race)
    watcher_user, writer_users = http_user("clerk"), [http_user("clerk") for _ in range(4)]

    def watcher():
        while not finished.is_set():
            page = watcher_user.get("/admin/client/?search=" + quote("批量导入"))[1]
            seen.append(json.loads(watcher_user.get(job_page + "status/")[1]))
            # rows in the list before the job is done would be a half-done import
            listed.append((bool(re.search(r"批量导入\d+号", page)), seen[-1]["status"]))
            time.sleep(0.5)
        return True

    def writer(offset):
        writer_user = writer_users[offset // 10]

        def save():
            results = []
            for n in range(offset, offset + 5):
                results.append(writer_user.post("/admin/client/new/", client_form(area_id, n)))
                time.sleep(0.2)
            return results

        return save

    outcome = run_parallel([worker, watcher] + [writer(10 * k) for k in range(4)])
    assert outcome[0] == 1, outcome[0]
    saves = [result for results in outcome[2:] for result in results]
    assert len(saves) == 20
    assert all(status == 302 for status, _, _ in saves), [body[:300] for s, body, _ in saves if s != 302]
    assert not any("database is locked" in body for _, body, _ in saves)

    assert clients_in(db_session) == 12_000 + 20  # every import row once, no save lost
    assert imported_audit_entries(db_session) == 12_000
    assert any(
        s["status"] == "running" and s["total"] == 12_000 and 0 < s["done"] < 12_000 and 0 < s["percent"] < 100
        for s in seen
    ), seen[-5:]  # progress was visible
    assert all(status == "done" for shown, status in listed if shown)  # never before the end
    assert any(status == "running" for shown, status in listed if not shown)
    job = db_session.get(Job, job_id)
    assert (job.status, job.progress_done, job.progress_total, job.attempts) == ("done", 12_000, 12_000, 1)
    page = clerk.get(job_page).data.decode()
    assert "12000 clients imported." in page and "import_job.js" not in page
    assert clerk.get(job_page + "status/").get_json()["percent"] == 100
    # another user does not see the job
    assert en_client("admin").get(job_page).status_code == 404
    assert en_client("admin").get(job_page + "status/").status_code == 404
    assert clerk.get(f"{URL}job/{10**30}/").status_code == 404


def add_failing_trigger(session, name: str) -> None:
    """A row that passes every check but that the database refuses on INSERT."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            text(
                f"CREATE TRIGGER refuse_row BEFORE INSERT ON clients WHEN NEW.name = '{name}' "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END"
            )
        )
    else:
        session.execute(
            text(f"""CREATE FUNCTION refuse_row() RETURNS trigger AS $$ BEGIN
            IF NEW.name = '{name}' THEN RAISE EXCEPTION 'refused by the test trigger'
            USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql""")
        )
        session.execute(
            text("CREATE TRIGGER refuse_row BEFORE INSERT ON clients FOR EACH ROW EXECUTE FUNCTION refuse_row()")
        )
    session.commit()


def test_a_row_refused_on_insert_midway_leaves_nothing(app, en_client, db_session):
    clerk = en_client("clerk")
    job_page = queue(clerk, rows_csv(2_000))
    add_failing_trigger(db_session, "批量导入1700号有限公司")  # in the 4th chunk: 3 are committed before
    assert "Ran 1 job(s)." in run_jobs_once(app)

    job = db_session.get(Job, job_id_of(job_page))
    assert job.status == "failed" and job.progress_done == 0
    assert "Rows 1502 to 2001 could not be saved" in job.error and "Nothing was imported" in job.error
    assert clients_in(db_session) == 0 and imported_audit_entries(db_session) == 0
    page = clerk.get(job_page).data.decode()
    assert "Rows 1502 to 2001 could not be saved" in page and "Back to the column matching" in page


def test_a_duplicate_saved_meanwhile_fails_the_import_and_leaves_nothing(app, en_client, db_session):
    clerk = en_client("clerk")
    job_page = queue(clerk, rows_csv(600))
    # saved by someone else between the preview and the job (a different USCC and mobile)
    db_session.add(
        Client(
            name="批量导入599号有限公司",
            address="某地",
            phone="0571-88886666",
            area_id=lookup(db_session, Area, "杭州").id,
            contact_name="某人",
            contact_mobile="13900000000",
            owner_id=1,
        )
    )
    db_session.commit()
    run_jobs_once(app)
    job = db_session.get(Job, job_id_of(job_page))
    assert job.status == "failed" and job.result["error_count"] == 1
    assert job.result["errors"][0][0] == 601 and "same company name" in job.result["errors"][0][2]
    assert clients_in(db_session) == 1
    page = clerk.get(job_page).data.decode()
    assert 'id="import-error-report"' in page and "same company name as the existing client" in page


def test_two_workers_claim_a_job_once(app, en_client, db_session):
    clerk = en_client("clerk")
    job_page = queue(clerk, rows_csv(300))

    def worker():
        from models.jobs import run_pending

        with app.app_context():
            return run_pending()

    assert sorted(run_parallel([worker, worker, worker])) == [0, 0, 1]
    job = db_session.get(Job, job_id_of(job_page))
    assert (job.status, job.attempts) == ("done", 1)
    assert clients_in(db_session) == 300 and imported_audit_entries(db_session) == 300


@pytest.mark.parametrize("stop", ["SIGKILL", "SIGTERM"])
def test_a_stopped_worker_leaves_nothing_visible_and_its_job_is_resumed(
    app, en_client, db_session, database_url, tmp_path, stop
):
    """kill -9: the job is taken over once its heartbeat is stale; SIGTERM (make run's
    Ctrl-C, a deploy): the job goes back to the queue at once. Either way it resumes from
    the committed chunks and imports every row exactly once."""
    clerk = en_client("clerk")
    job_id = job_id_of(queue(clerk, rows_csv(6_000)))
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        "CRM_IMPORT_FOLDER": str(tmp_path / "imports"),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "run-jobs", "--poll", "0.2"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        done = 0
        for _ in range(1200):  # until a few chunks are committed (at most a minute)
            db_session.expire_all()
            done = db_session.execute(select(Job.progress_done).where(Job.id == job_id)).scalar()
            if done >= 1_000 or worker.poll() is not None:
                break
            time.sleep(0.05)
        worker.send_signal(getattr(signal, stop))
    finally:
        worker.wait(30)
    assert 0 < done < 6_000, (done, worker.stderr.read().decode()[-2000:])

    assert db_session.execute(select(func.count()).select_from(Client)).scalar() == 0  # nothing visible
    assert clients_in(db_session) > 0  # …though the committed chunks are there, hidden
    db_session.expire_all()
    if stop == "SIGKILL":
        assert db_session.get(Job, job_id).status == "running"
        assert run_jobs_once(app) == "Ran 0 job(s).\n"  # the worker may only be slow: not taken over yet
        app.config["JOB_STALE_SECONDS"] = 0.2
        time.sleep(0.5)
    else:
        assert db_session.get(Job, job_id).status == "queued"
    assert run_jobs_once(app) == "Ran 1 job(s).\n"
    db_session.expire_all()
    job = db_session.get(Job, job_id)
    assert (job.status, job.attempts, job.progress_done) == ("done", 2, 6_000)
    assert clients_in(db_session) == 6_000 and imported_audit_entries(db_session) == 6_000
