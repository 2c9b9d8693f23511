"""Contract scans (SPEC §4.3, §8): PDF/PNG/JPEG only, checked by content, at most
upload_max_mb, stored with a random name, served only through /files/<id> as an
attachment to users who may view the contract."""

from __future__ import annotations

import io
import itertools
import os
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests import factories
from tests.conftest import english, make_app
from tests.factories import contract_form, user

# real files: the upload check opens them (pypdf finds the pages, Pillow verifies the image)
PDF = factories.pdf_bytes()
PNG = factories.image_bytes("PNG")
JPEG = factories.image_bytes("JPEG")
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"

_seq = itertools.count(1)


@pytest.fixture
def app(shared_app, database_url, tmp_path, monkeypatch):
    """The app under test; until views/customers.py puts ScanUploadMixin into ContractView's
    bases, the admin is built with a ContractView that has it."""
    import views
    from views.client_children import ContractView
    from views.uploads import ScanUploadMixin

    if issubclass(ContractView, ScanUploadMixin):
        return shared_app()
    monkeypatch.setattr(views, "ContractView", type("ContractView", (ScanUploadMixin, ContractView), {}))
    return make_app(database_url, tmp_path)


# ----------------------------------------------------------------------------- helpers
def make_client(session, owner="account_manager"):
    client = factories.make_client(session, owner)
    session.commit()
    return client


def upload(test_client, session, client, content, filename, **extra):
    data = contract_form(session, client, **extra)
    data["scan_upload"] = (io.BytesIO(content), filename)
    return test_client.post("/admin/contract/new/", data=data, content_type="multipart/form-data")


def contract_by_number(session, number):
    from models.customers import Contract

    session.expire_all()
    return session.execute(select(Contract).where(Contract.number == number)).scalar()


def stored_count(session):
    from models.customers import StoredFile

    session.expire_all()
    return session.execute(select(func.count()).select_from(StoredFile)).scalar()


def files_on_disk(app):
    folder = Path(app.config["UPLOAD_FOLDER"])
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def set_config(session, name, value):
    from models.auth import SystemConfig

    row = session.execute(select(SystemConfig).where(SystemConfig.name == name)).scalar()
    if row is None:
        session.add(SystemConfig(name=name, value=value))
    else:
        row.value = value
    session.commit()


# --------------------------------------------------------------------------- accepted
@pytest.mark.parametrize(
    "content,filename,content_type",
    [
        (PDF, "合同扫描件.pdf", "application/pdf"),
        (PNG, "scan.png", "image/png"),
        (JPEG, "scan.JPG", "image/jpeg"),
        (JPEG, "scan.jpeg", "image/jpeg"),
    ],
)
def test_scan_is_stored_and_downloadable_by_the_owner(app, client_as, db_session, content, filename, content_type):
    client = make_client(db_session)
    manager = client_as("account_manager")
    data = contract_form(db_session, client)
    data["scan_upload"] = (io.BytesIO(content), filename)
    response = manager.post("/admin/contract/new/", data=data, content_type="multipart/form-data")
    assert response.status_code == 302, response.data[:2000]
    contract = contract_by_number(db_session, data["number"])
    assert contract is not None and contract.scan_file_id is not None
    stored = contract.scan_file
    assert stored.original_name == filename
    assert stored.content_type == content_type
    assert stored.size == len(content)
    import hashlib

    assert stored.sha256 == hashlib.sha256(content).hexdigest()
    assert stored.uploaded_by_id == user(db_session, "account_manager").id
    # random name, under the instance upload folder, never the user's name
    assert stored.stored_name != filename and len(stored.stored_name.split(".")[0]) == 32
    assert files_on_disk(app) == [stored.stored_name]
    assert (Path(app.config["UPLOAD_FOLDER"]) / stored.stored_name).read_bytes() == content

    download = manager.get(f"/files/{stored.id}")
    assert download.status_code == 200
    assert download.data == content
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.mimetype == content_type
    assert download.headers["X-Content-Type-Options"] == "nosniff"


def test_form_is_multipart_and_offers_the_scan_field(app, client_as):
    page = english(client_as("account_manager")).get("/admin/contract/new/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in html
    assert 'type="file"' in html and 'name="scan_upload"' in html
    assert "Contract scan" in html  # labelled like the scan_file column
    assert "PDF, PNG, JPEG only, at most 10 MB" in html


def test_edit_replaces_the_scan_and_shows_the_current_file(app, client_as, db_session):
    client = make_client(db_session)
    manager = english(client_as("account_manager"))
    first = upload(manager, db_session, client, PDF, "v1.pdf")
    assert first.status_code == 302
    from models.customers import Contract

    contract = db_session.execute(select(Contract)).scalars().one()
    number = contract.number
    old_file_id = contract.scan_file_id
    edit_page = manager.get(f"/admin/contract/edit/?id={contract.id}").get_data(as_text=True)
    assert f"/files/{old_file_id}" in edit_page and "v1.pdf" in edit_page
    data = contract_form(db_session, client, number=number, name="新名称", loaded_version=str(contract.version))
    data["scan_upload"] = (io.BytesIO(PNG), "v2.png")
    response = manager.post(f"/admin/contract/edit/?id={contract.id}", data=data, content_type="multipart/form-data")
    assert response.status_code == 302, response.data[:2000]
    contract = contract_by_number(db_session, number)
    assert contract.scan_file_id != old_file_id
    assert contract.scan_file.original_name == "v2.png"
    assert manager.get(f"/files/{contract.scan_file_id}").data == PNG
    # an edit without a new file keeps the scan
    data = contract_form(db_session, client, number=number, name="再改名", loaded_version=str(contract.version))
    assert (
        manager.post(
            f"/admin/contract/edit/?id={contract.id}", data=data, content_type="multipart/form-data"
        ).status_code
        == 302
    )
    kept = contract_by_number(db_session, number)
    assert kept.name == "再改名" and kept.scan_file_id == contract.scan_file_id


def new_contract_with_scan(client_as, db_session, filename: str):
    """account_manager creates a contract with a PDF scan named ``filename`` (one POST)."""
    client = make_client(db_session)
    manager = client_as("account_manager")
    data = contract_form(db_session, client)
    data["scan_upload"] = (io.BytesIO(PDF), filename)
    assert manager.post("/admin/contract/new/", data=data, content_type="multipart/form-data").status_code == 302
    return contract_by_number(db_session, data["number"])


def test_uploaded_file_name_is_sanitised(app, client_as, db_session):
    stored = new_contract_with_scan(client_as, db_session, "../../etc/合同<b>|x.pdf").scan_file
    assert "/" not in stored.original_name and "<" not in stored.original_name
    assert stored.original_name.endswith(".pdf") and "合同" in stored.original_name


# ---------------------------------------------------------------------------- refused
def _assert_refused(app, db_session, response, number, *fragments):
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html[:1000]
    for fragment in fragments:
        assert fragment in html, (fragment, html[html.find("scan_upload") - 2000 :][:4000])
    assert contract_by_number(db_session, number) is None
    assert stored_count(db_session) == 0
    assert files_on_disk(app) == []


def test_html_disguised_as_pdf_is_refused_with_a_clear_message(app, client_as, db_session):
    client = make_client(db_session)
    manager = english(client_as("account_manager"))
    response = upload(manager, db_session, client, HTML, "scan.pdf", number="HT-HTML-1")
    _assert_refused(
        app, db_session, response, "HT-HTML-1", "scan.pdf", "an HTML page or a script", "not PDF, PNG, JPEG"
    )


@pytest.mark.parametrize(
    "content,filename,fragment",
    [
        (b"#!/bin/sh\nrm -rf /\n", "scan.pdf", "a script"),
        (b"MZ\x90\x00\x03" + b"\x00" * 60, "scan.pdf", "a program"),
        (b"%PDF-1.4\n<html><script>alert(1)</script></html>\n%%EOF", "scan.pdf", "contains HTML or script"),
        (b"GIF89a\x01\x00\x01\x00", "scan.pdf", "not a recognised file type"),
    ],
)
def test_other_disguised_content_is_refused(app, client_as, db_session, content, filename, fragment):
    client = make_client(db_session)
    manager = english(client_as("account_manager"))
    response = upload(manager, db_session, client, content, filename, number="HT-BAD-1")
    _assert_refused(app, db_session, response, "HT-BAD-1", fragment)


def test_pdf_extension_with_png_content_is_refused(app, client_as, db_session):
    client = make_client(db_session)
    manager = english(client_as("account_manager"))
    response = upload(manager, db_session, client, PNG, "scan.pdf", number="HT-PNG-1")
    _assert_refused(app, db_session, response, "HT-PNG-1", "named .pdf but its content is PNG", "Rename it to .png")


@pytest.mark.parametrize(
    "content,filename",
    [
        (b"MZ\x90\x00\x03" + b"\x00" * 60, "setup.exe"),
        (b"just some text\n", "notes.txt"),
        (PDF, "scan.pdf.exe"),
        (PDF, "no-extension"),
    ],
)
def test_wrong_extensions_are_refused(app, client_as, db_session, content, filename):
    client = make_client(db_session)
    manager = english(client_as("account_manager"))
    response = upload(manager, db_session, client, content, filename, number="HT-EXT-1")
    _assert_refused(app, db_session, response, "HT-EXT-1", "only PDF, PNG, JPEG files are accepted", filename)


def test_file_over_the_configured_limit_is_refused(app, client_as, db_session):
    set_config(db_session, "upload_max_mb", "1")
    client = make_client(db_session)
    manager = english(client_as("account_manager"))
    big = PDF + b"0" * (1024 * 1024)
    response = upload(manager, db_session, client, big, "big.pdf", number="HT-BIG-1")
    _assert_refused(app, db_session, response, "HT-BIG-1", "larger than 1 MB")
    # just under the limit is fine
    small = PDF + b"0" * (1024 * 1024 - len(PDF) - 1)
    assert upload(manager, db_session, client, small, "ok.pdf").status_code == 302
    assert stored_count(db_session) == 1


def test_empty_file_is_refused(app, client_as, db_session):
    client = make_client(db_session)
    manager = english(client_as("account_manager"))
    response = upload(manager, db_session, client, b"", "scan.pdf", number="HT-EMPTY-1")
    _assert_refused(app, db_session, response, "HT-EMPTY-1", "is empty")


def test_written_file_is_removed_when_the_transaction_fails(app, client_as, db_session):
    """A valid upload of a contract that the database then refuses (a domain rule at the
    flush: end before start) leaves neither a StoredFile row nor a file on disk."""
    client = make_client(db_session)
    manager = english(client_as("account_manager"))
    response = upload(
        manager, db_session, client, PDF, "late.pdf", number="HT-RULE-1", starts_on="2026-05-01", ends_on="2026-04-01"
    )
    assert response.status_code == 200
    assert "must not be before the start date" in response.get_data(as_text=True)
    assert contract_by_number(db_session, "HT-RULE-1") is None
    assert stored_count(db_session) == 0
    assert files_on_disk(app) == []


def test_store_upload_directly(app, db_session):
    """store_upload as a domain function: FieldError names the field; files of a rolled
    back transaction are removed, those of a committed one kept."""
    from werkzeug.datastructures import FileStorage

    from models import db
    from models.base import FieldError
    from models.customers import StoredFile
    from views.uploads import store_upload

    with app.test_request_context():
        with pytest.raises(FieldError) as refused:
            store_upload(FileStorage(io.BytesIO(HTML), "x.pdf"), label="合同扫描件")
        assert refused.value.field == "合同扫描件"
        with pytest.raises(FieldError):
            store_upload(FileStorage(io.BytesIO(PNG), "x.png"), allowed=("pdf",))
        with pytest.raises(FieldError):
            store_upload(FileStorage(io.BytesIO(PDF + b"0" * 2048), "x.pdf"), max_mb=0.001)
        stored = store_upload(FileStorage(io.BytesIO(PDF), "x.pdf"))
        db.session.flush()
        path = Path(app.config["UPLOAD_FOLDER"]) / stored.stored_name
        assert path.read_bytes() == PDF
        db.session.rollback()
        assert not path.exists()
        stored = store_upload(FileStorage(io.BytesIO(JPEG), "y.jpg"))
        db.session.commit()
        path = Path(app.config["UPLOAD_FOLDER"]) / stored.stored_name
        db.session.remove()  # the end of the request
        assert path.read_bytes() == JPEG
        assert oct(os.stat(path).st_mode & 0o777) == "0o640"
    db_session.expire_all()
    assert db_session.execute(select(StoredFile.original_name)).scalars().all() == ["y.jpg"]


# ------------------------------------------------------------------------ who may download
@pytest.fixture
def scanned(app, client_as, db_session):
    """A contract of account_manager with a PDF scan; returns (contract id, file id)."""
    contract = new_contract_with_scan(client_as, db_session, "scan.pdf")
    return contract.id, contract.scan_file_id


@pytest.mark.parametrize("username", ["am_other", "service", "marketing"])
def test_users_who_may_not_view_the_contract_get_404(client_as, scanned, username):
    _, file_id = scanned
    assert client_as(username).get(f"/files/{file_id}").status_code == 404


@pytest.mark.parametrize("username", ["account_manager", "sales_director", "clerk", "finance", "admin", "executive"])
def test_users_who_may_view_the_contract_download_it(client_as, scanned, username):
    _, file_id = scanned
    response = client_as(username).get(f"/files/{file_id}")
    assert response.status_code == 200 and response.data == PDF
    assert response.headers["Content-Disposition"].startswith("attachment")


def test_anonymous_download_redirects_to_login(app, scanned):
    _, file_id = scanned
    response = app.test_client().get(f"/files/{file_id}")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_unknown_file_is_404(client_as, scanned):
    _, file_id = scanned
    assert client_as("admin").get(f"/files/{file_id + 100}").status_code == 404


def test_soft_deleted_contract_no_longer_serves_its_scan(client_as, db_session, scanned):
    contract_id, file_id = scanned
    admin = client_as("admin")
    assert admin.post("/admin/contract/delete/", data={"id": str(contract_id)}).status_code == 302
    from models.customers import Contract

    db_session.expire_all()
    assert db_session.get(Contract, contract_id).is_deleted
    assert client_as("account_manager").get(f"/files/{file_id}").status_code == 404
    assert admin.get(f"/files/{file_id}").status_code == 404


def test_file_not_referenced_by_any_contract_is_404(app, client_as, db_session):
    """An orphan StoredFile (e.g. a replaced scan) is served to nobody."""
    from models.customers import StoredFile

    db_session.add(
        StoredFile(
            original_name="o.pdf",
            stored_name="0" * 32 + ".pdf",
            content_type="application/pdf",
            size=1,
            sha256="0" * 64,
        )
    )
    db_session.commit()
    file_id = db_session.execute(select(StoredFile.id)).scalar()
    assert client_as("admin").get(f"/files/{file_id}").status_code == 404


def test_scan_link_in_the_contract_list(client_as, scanned):
    _, file_id = scanned
    manager = client_as("account_manager")
    # the scan is one of the contract list's optional columns (views/crud/columns.py)
    manager.post("/admin/contract/columns/", data={"columns": ["number", "name", "scan_file"]})
    html = manager.get("/admin/contract/").get_data(as_text=True)
    assert f'href="/files/{file_id}"' in html and "scan.pdf" in html


def test_contract_amount_is_exact(db_session, scanned):
    from models.customers import Contract

    contract_id, _ = scanned
    db_session.expire_all()
    contract = db_session.get(Contract, contract_id)
    assert contract.amount == Decimal("1000.00") and contract.starts_on == date(2026, 1, 1)
