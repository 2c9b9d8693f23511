"""Backup and restore (SPEC §2.2, §8; issue 8 item 14), through the real CLI, on SQLite and
on PostgreSQL (TEST_DATABASE_URL): a backup taken while writes run restores into a fresh
database with every table and uploaded file as they were at the snapshot; a damaged or
edited archive and a schema mismatch are refused before anything changes; --force
replaces a database cleanly; --keep N leaves the newest N archives."""

from __future__ import annotations

import io
import json
import tarfile
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, select, text

from tests import factories
from tests.conftest import close_database, fresh_database, make_app

ONE_LINE_REFUSAL = "nothing was changed"


# ----------------------------------------------------------------------------- helpers
def invoke(app, *args):
    return app.test_cli_runner().invoke(args=[str(a) for a in args])


@contextmanager
def restore_target(template_db, tmp_path):
    """An app on an empty database with an upload folder of its own."""
    folder = tmp_path / f"target-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    with fresh_database(template_db, folder, empty=True) as url:
        target = make_app(url, folder, UPLOAD_FOLDER=str(folder / "uploads"))
        yield target
        close_database(target)


def all_rows(url: str) -> dict[str, list[tuple]]:
    """Every row of every table, all columns, in primary-key order; the FTS5 search index
    tables (``fts_*``, models/search.py) are derived from their content table and left out."""
    engine = create_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(bind=engine)
        with engine.connect() as conn:
            return {
                name: conn.execute(
                    select(table).order_by(*(list(table.primary_key.columns) or list(table.columns)))
                ).all()
                for name, table in metadata.tables.items()
                if not name.startswith("fts_")
            }
    finally:
        engine.dispose()


def files_in(folder: Path) -> dict[str, bytes]:
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def png(n: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (2 + n % 40, 3), (n * 37 % 256, n * 11 % 256, 90)).save(buffer, "PNG")
    return buffer.getvalue()


def add_scan(n: int):
    """Store an uploaded PNG as the app does (file under UPLOAD_FOLDER + stored_file row)."""
    from werkzeug.datastructures import FileStorage

    from views.uploads import store_upload

    return store_upload(FileStorage(io.BytesIO(png(n)), filename=f"scan{n}.png", content_type="image/png"))


def write_rows(app, count: int, start: int = 0) -> None:
    from models import db

    with app.app_context():
        for n in range(start, start + count):
            factories.make_client(db.session, "account_manager")
            add_scan(n)
            db.session.commit()
        db.session.remove()


def manifest_of(archive: Path) -> dict:
    with tarfile.open(archive) as tar:
        return json.loads(tar.extractfile("manifest.json").read())


def rewrite(archive: Path, dest: Path, manifest=None, drop=(), extra=None) -> Path:
    """A copy of ``archive`` with another manifest (a dict, or raw bytes), without some
    members, or with an ``extra`` member (a TarInfo) first."""
    with tarfile.open(archive) as src, tarfile.open(dest, "w") as out:
        if extra is not None:
            out.addfile(extra, io.BytesIO(b"x" * extra.size) if extra.isreg() else None)
        for member in src.getmembers():
            if member.name in drop:
                continue
            if member.name == "manifest.json" and manifest is not None:
                data = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
                member.size = len(data)
                out.addfile(member, io.BytesIO(data))
            else:
                out.addfile(member, src.extractfile(member))
    return dest


def flip_byte(archive: Path, dest: Path, member_name: str) -> Path:
    data = bytearray(archive.read_bytes())
    with tarfile.open(archive) as tar:
        member = tar.getmember(member_name)
    data[member.offset_data + member.size // 2] ^= 0x01
    dest.write_bytes(bytes(data))
    return dest


def head_revision(app) -> str:
    from seed.backup import schema_head

    return schema_head(app.extensions["migrate"].directory)


# ------------------------------------------------------------------------------- tests
def test_backup_while_writes_run_restores_every_table_and_file(app, database_url, template_db, tmp_path):
    write_rows(app, 3)
    source_uploads = Path(app.config["UPLOAD_FOLDER"])
    clients_at_start = len(all_rows(database_url)["clients"])
    written, errors = [], []
    enough_before, stop_after = threading.Event(), []

    def writer():
        from models import db

        try:
            with app.app_context():
                n = 100
                while not stop_after or len(written) < stop_after[0]:
                    factories.make_client(db.session, "account_manager")
                    add_scan(n)
                    db.session.commit()
                    n += 1
                    written.append(n)
                    if len(written) >= 3:
                        enough_before.set()
                db.session.remove()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            enough_before.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert enough_before.wait(120)
    before_backup = len(written)
    archive = tmp_path / "crm.tar"
    result = invoke(app, "backup", archive)
    after_backup = len(written)
    stop_after.append(after_backup + 3)  # writes go on after the snapshot too
    thread.join(120)
    assert not errors, errors
    assert result.exit_code == 0, result.output
    assert not list(tmp_path.glob("*.part"))

    manifest = manifest_of(archive)
    snapshot_clients = manifest["row_counts"]["clients"]
    assert clients_at_start + before_backup <= snapshot_clients <= clients_at_start + after_backup
    source = all_rows(database_url)
    assert len(source["clients"]) == clients_at_start + len(written) > snapshot_clients
    assert manifest["schema_revision"] == head_revision(app)
    assert manifest["database"]["kind"] == ("postgresql" if template_db[0] == "pg" else "sqlite")

    with restore_target(template_db, tmp_path) as target:
        restored = invoke(target, "restore", archive)
        assert restored.exit_code == 0, restored.output
        url = target.config["SQLALCHEMY_DATABASE_URI"]
        copy = all_rows(url)
        # every table of the snapshot, row by row and column by column: the writer only
        # inserts, one transaction at a time, so the snapshot is the first N rows of each
        assert set(copy) == set(source) == {name for name in manifest["row_counts"] if not name.startswith("fts_")}
        for table, rows in source.items():
            assert len(copy[table]) == manifest["row_counts"][table], table
            assert copy[table] == rows[: len(copy[table])], table

        restored_files = files_in(Path(target.config["UPLOAD_FOLDER"]))
        assert sorted(restored_files) == sorted(manifest["files"])
        source_files = files_in(source_uploads)
        for name, content in restored_files.items():
            assert content == source_files[name], name
        # the files the snapshot's rows point at are all there, byte for byte
        stored = {row.stored_name: row.sha256 for row in copy["stored_file"]}
        import hashlib

        assert {n: hashlib.sha256(restored_files[n]).hexdigest() for n in stored} == stored

        # the restored database works for the app (sequences, journal)
        from models import db
        from models.customers import Client

        with target.app_context():
            factories.make_client(db.session, "clerk")
            db.session.commit()
            assert db.session.query(Client).count() == snapshot_clients + 1
            db.session.remove()


DAMAGES = [
    "database byte flipped",
    "upload byte flipped",
    "truncated in the database",
    "truncated in the manifest",
    "manifest row count edited",
    "manifest hash edited",
    "manifest not JSON",
    "manifest missing",
    "file added to manifest",
    "member not in manifest",
    "member escaping the folder",
    "symlink member",
]


def damaged(kind: str, archive: Path, folder: Path) -> Path:
    dest = folder / f"{kind.replace(' ', '-')}.tar"
    manifest = manifest_of(archive)
    upload = next(name for name in manifest["parts"] if name.startswith("uploads/"))
    database = manifest["database"]["part"]
    if kind == "database byte flipped":
        return flip_byte(archive, dest, database)
    if kind == "upload byte flipped":
        return flip_byte(archive, dest, upload)
    if kind.startswith("truncated"):
        with tarfile.open(archive) as tar:
            member = tar.getmember(database if kind.endswith("database") else "manifest.json")
        dest.write_bytes(archive.read_bytes()[: member.offset_data + member.size // 2])
        return dest
    if kind == "manifest row count edited":
        manifest["row_counts"]["clients"] += 1
    elif kind == "manifest hash edited":
        manifest["parts"][upload]["sha256"] = "0" * 64
    elif kind == "file added to manifest":
        manifest["files"].append("extra.png")
        manifest["parts"]["uploads/extra.png"] = manifest["parts"][upload]
    elif kind == "manifest not JSON":
        return rewrite(archive, dest, manifest=b'{"format": "crm-backup", ')
    elif kind == "manifest missing":
        return rewrite(archive, dest, drop=("manifest.json",))
    elif kind == "member escaping the folder":
        escaping = tarfile.TarInfo("uploads/../../escaped.txt")
        escaping.size = 1
        return rewrite(archive, dest, extra=escaping)
    elif kind == "symlink member":
        link = tarfile.TarInfo("uploads/link.png")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        return rewrite(archive, dest, extra=link)
    elif kind == "member not in manifest":
        manifest["files"].remove(upload.removeprefix("uploads/"))
        del manifest["parts"][upload]
    return rewrite(archive, dest, manifest=manifest)


def test_damaged_archives_are_refused_before_anything_changes(app, database_url, template_db, tmp_path):
    write_rows(app, 2)
    archive = tmp_path / "good.tar"
    assert invoke(app, "backup", archive).exit_code == 0
    uploads = Path(app.config["UPLOAD_FOLDER"])
    rows_before, files_before = all_rows(database_url), files_in(uploads)
    with restore_target(template_db, tmp_path) as target:
        target_url = target.config["SQLALCHEMY_DATABASE_URI"]
        for kind in DAMAGES:
            bad = damaged(kind, archive, tmp_path)
            for app_under_test, args in ((target, ()), (app, ("--force",))):
                result = invoke(app_under_test, "restore", *args, bad)
                assert result.exit_code != 0, (kind, result.output)
                assert ONE_LINE_REFUSAL in result.output, (kind, result.output)
                assert len(result.output.strip().splitlines()) == 1, (kind, result.output)
            # neither the empty target nor the live database (even with --force) changed
            assert all_rows(target_url) == {}, kind
            assert not Path(target.config["UPLOAD_FOLDER"]).exists(), kind
            assert all_rows(database_url) == rows_before, kind
            assert files_in(uploads) == files_before, kind
            assert not list(tmp_path.rglob("escaped.txt")), kind
        # the intact archive restores
        assert invoke(target, "restore", archive).exit_code == 0


def test_schema_revision_mismatch_is_refused_naming_both(app, database_url, template_db, tmp_path):
    head = head_revision(app)
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0003_finance'"))
    engine.dispose()
    archive = tmp_path / "old.tar"
    assert invoke(app, "backup", archive).exit_code == 0
    assert manifest_of(archive)["schema_revision"] == "0003_finance"
    with restore_target(template_db, tmp_path) as target:
        result = invoke(target, "restore", archive)
        assert result.exit_code != 0
        assert "0003_finance" in result.output and head in result.output
        assert "db upgrade" in result.output and ONE_LINE_REFUSAL in result.output
        assert all_rows(target.config["SQLALCHEMY_DATABASE_URI"]) == {}


def test_a_database_in_use_is_replaced_only_with_force(app, database_url, tmp_path):
    write_rows(app, 2)
    uploads = Path(app.config["UPLOAD_FOLDER"])
    archive = tmp_path / "crm.tar"
    assert invoke(app, "backup", archive).exit_code == 0
    at_backup, files_at_backup = all_rows(database_url), files_in(uploads)
    write_rows(app, 2, start=50)  # changes after the backup, to be undone
    changed, files_changed = all_rows(database_url), files_in(uploads)
    assert len(changed["clients"]) == len(at_backup["clients"]) + 2

    refused = invoke(app, "restore", archive)
    assert refused.exit_code != 0 and "--force" in refused.output
    assert all_rows(database_url) == changed and files_in(uploads) == files_changed

    checked = invoke(app, "restore", "--check", archive)
    assert checked.exit_code == 0 and "nothing was changed" in checked.output
    assert all_rows(database_url) == changed

    replaced = invoke(app, "restore", "--force", archive)
    assert replaced.exit_code == 0, replaced.output
    assert all_rows(database_url) == at_backup
    assert files_in(uploads) == files_at_backup


def test_keep_leaves_the_newest_archives_of_the_pattern(app, tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    others = ["crm-notes.tar", "other-20200101T000000.000000Z.tar", "crm-20200101T000000.000000Z.tar.gz"]
    for name in others:
        (folder / name).write_text("not ours")
    made = []
    for _ in range(3):
        result = invoke(app, "backup", "--keep", "2", folder / "crm-{timestamp}.tar")
        assert result.exit_code == 0, result.output
        made.append(result.output.split("Backup written to ")[1].split(" (")[0])
    assert len(set(made)) == 3
    remaining = sorted(p.name for p in folder.iterdir())
    assert remaining == sorted(others + [Path(m).name for m in made[1:]])
    assert f"Removed old backup {made[0]}" in result.output

    without_pattern = invoke(app, "backup", "--keep", "2", folder / "fixed.tar")
    assert without_pattern.exit_code != 0 and "{timestamp}" in without_pattern.output
    assert not (folder / "fixed.tar").exists()
    assert "{timestamp}" in invoke(app, "backup", "--help").output


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_missing_folder_or_archive_is_a_message(app, tmp_path, command):
    result = invoke(app, command, tmp_path / "nowhere" / "crm.tar")
    assert result.exit_code != 0
    assert "does not exist" in result.output and "Traceback" not in result.output


def test_an_archive_inside_the_upload_folder_is_refused(app):
    uploads = Path(app.config["UPLOAD_FOLDER"])
    uploads.mkdir(parents=True)
    result = invoke(app, "backup", uploads / "crm.tar")
    assert result.exit_code != 0 and "upload folder" in result.output
    assert list(uploads.iterdir()) == []
