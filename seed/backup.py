"""Backup and restore (SPEC §2.2, §8): one tar archive holding a consistent snapshot of the
database, the uploaded files and a ``manifest.json`` describing them.

Archive layout (members in this order, written as a stream, never held in memory)::

    database.sqlite3 | database.pgdump   the database: SQLite backup API copy, or pg_dump -Fc
    uploads/<relative path>              every file under UPLOAD_FOLDER
    manifest.json                        format, created_at, database kind, schema revision,
                                         row counts per table, file list, size + SHA-256 of parts

The manifest comes last because the parts' hashes are known only once they are written.
Restore reads the whole archive into a staging folder first, checks every hash, the
database kind, the schema revision and the row counts *inside* the database part against
the manifest, and only then touches the target database and upload folder.

No Flask request code here: the CLI in ``seed/__init__.py`` passes the engine, the upload
folder and the migrations' head revision.
"""

from __future__ import annotations

import glob
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from sqlalchemy import text
from sqlalchemy.engine import Engine

FORMAT = "crm-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
UPLOADS = "uploads"
DATABASE_PARTS = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
TIMESTAMP = "{timestamp}"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%S.%fZ"  # sorts by name in time order
TIMESTAMP_PATTERN = r"\d{8}T\d{6}\.\d{6}Z"
MAX_MANIFEST_BYTES = 256 * 1024 * 1024
CHUNK = 1024 * 1024


class BackupError(Exception):
    """A refusal or failure, said in one line for the person at the terminal."""


@dataclass
class BackupResult:
    path: Path
    manifest: dict
    removed: list[Path] = field(default_factory=list)


# ------------------------------------------------------------------------------ helpers
class _HashingReader:
    """Wraps a binary file: whatever is read through it is counted and hashed, so a part is
    hashed while tarfile copies it (one pass, constant memory)."""

    def __init__(self, raw):
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, n=-1):
        data = self.raw.read(n)
        self.sha256.update(data)
        self.size += len(data)
        return data


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _table_names(rows: Callable[[str], list], kind: str) -> list[str]:
    if kind == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
    else:
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    return sorted(r[0] for r in rows(sql))


def _facts(rows: Callable[[str], list], kind: str) -> dict:
    """Tables, row counts, schema revision and stored upload names of one database, read
    through ``rows(sql)`` so that the caller decides the snapshot (a transaction or a file)."""
    tables = _table_names(rows, kind)
    counts = {name: rows(f"SELECT count(*) FROM {_quote(name)}")[0][0] for name in tables}
    revision = None
    if "alembic_version" in counts:
        versions = [r[0] for r in rows("SELECT version_num FROM alembic_version")]
        revision = versions[0] if len(versions) == 1 else ",".join(sorted(versions)) or None
    stored = [r[0] for r in rows("SELECT stored_name FROM stored_file")] if "stored_file" in counts else []
    return {"row_counts": counts, "schema_revision": revision, "stored_names": stored}


def _database_kind(engine: Engine) -> str:
    kind = engine.dialect.name
    if kind not in DATABASE_PARTS:
        raise BackupError(f"backups support SQLite and PostgreSQL, not {kind}")
    return kind


def _sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError(f"the SQLite database {engine.url} is not a plain file; set DATABASE_URL to a file")
    return Path(database)


def describe(manifest: dict) -> str:
    """One line about a backup: database kind, revision, tables, rows, files."""
    counts = manifest["row_counts"]
    return (
        f"{manifest['database']['kind']} at revision {manifest['schema_revision']}, {len(counts)} tables, "
        f"{sum(counts.values())} rows, {len(manifest['files'])} uploaded files"
    )


def schema_head(migrations_directory: str) -> str:
    """The revision the code's migrations end at (what `flask db upgrade` brings a database to)."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory(migrations_directory).get_heads()
    if len(heads) != 1:
        raise BackupError(f"the migrations have {len(heads)} heads ({', '.join(heads)}); merge them first")
    return heads[0]


# ----------------------------------------------------------------------- PostgreSQL tools
def find_pg_tool(name: str) -> tuple[str, tuple[int, int]]:
    """The newest ``pg_dump``/``pg_restore`` on PATH or under /usr/lib/postgresql/*/bin,
    with its (major, minor) version."""
    candidates = set(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    on_path = shutil.which(name)
    if on_path:
        candidates.add(on_path)
    found = []
    for path in sorted(candidates):
        try:
            out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        match = re.search(r"(\d+)(?:\.(\d+))?", out)
        if match:
            found.append(((int(match[1]), int(match[2] or 0)), path))
    if not found:
        raise BackupError(
            f"{name} was not found on PATH nor under /usr/lib/postgresql/*/bin: install the "
            f"PostgreSQL client tools (e.g. apt-get install postgresql-client) of the "
            f"server's version or newer"
        )
    version, path = max(found)
    return path, version


def _pg_env(engine: Engine) -> dict:
    """Connection settings for the client tools; the password goes in the environment so
    that it never shows in the process list."""
    url = engine.url
    env = dict(os.environ)
    for key, value in (
        ("PGHOST", url.host),
        ("PGPORT", url.port),
        ("PGUSER", url.username),
        ("PGPASSWORD", url.password),
        ("PGDATABASE", url.database),
    ):
        if value is not None:
            env[key] = str(value)
    if "sslmode" in url.query:
        env["PGSSLMODE"] = str(url.query["sslmode"])
    return env


def _server_major(conn) -> int:
    return int(conn.execute(text("SHOW server_version_num")).scalar()) // 10000


def _check_tool_version(name: str, version: tuple[int, int], server_major: int) -> None:
    if version[0] < server_major:
        raise BackupError(
            f"{name} {version[0]}.{version[1]} is older than the PostgreSQL {server_major} server: "
            f"install the client tools of version {server_major} or newer"
        )


def _run_tool(args: list[str], env: dict, what: str) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise BackupError(f"{what} failed: {lines[-1] if lines else f'exit code {done.returncode}'}")


# --------------------------------------------------------------------- database snapshot
def _snapshot_sqlite(engine: Engine, dest: Path) -> dict:
    source = _sqlite_path(engine)
    if not source.exists():
        raise BackupError(f"the database file {source} does not exist")
    # The backup API copies a consistent snapshot even while others write (WAL: writers go
    # on); a plain file copy could catch a half-written page or miss the -wal file.
    with closing(sqlite3.connect(source, timeout=60)) as src, closing(sqlite3.connect(dest)) as dst:
        src.execute("PRAGMA busy_timeout=60000")
        src.backup(dst)  # all pages in one step: one read transaction, one snapshot
        # one self-contained file, no -wal beside it
        dst.execute("PRAGMA journal_mode=DELETE")
        facts = _facts(lambda sql: dst.execute(sql).fetchall(), "sqlite")
    facts["tool"] = f"sqlite {sqlite3.sqlite_version}"
    return facts


def _snapshot_postgresql(engine: Engine, dest: Path) -> dict:
    tool, version = find_pg_tool("pg_dump")
    with engine.connect().execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True) as conn:
        with conn.begin():
            _check_tool_version("pg_dump", version, _server_major(conn))
            # pg_dump reads the snapshot this transaction exported, so the row counts taken
            # here describe exactly what is in the dump, however many writes run meanwhile.
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar()
            facts = _facts(lambda sql: conn.exec_driver_sql(sql).all(), "postgresql")
            facts["schema"] = conn.execute(text("SELECT current_schema()")).scalar()
            _run_tool([tool, "--format=custom", f"--snapshot={snapshot}", f"--file={dest}"], _pg_env(engine), "pg_dump")
    facts["tool"] = f"pg_dump {version[0]}.{version[1]}"
    return facts


def _upload_files(upload_folder: Path) -> Iterator[tuple[str, Path]]:
    if not upload_folder.is_dir():
        return
    for root, dirs, files in os.walk(upload_folder):
        dirs.sort()
        for name in sorted(files):
            full = Path(root) / name
            if full.is_file() and not full.is_symlink():
                yield full.relative_to(upload_folder).as_posix(), full


def _add_part(tar: tarfile.TarFile, name: str, path: Path) -> dict | None:
    """Stream one file into the archive; None when it vanished meanwhile (an upload whose
    transaction did not commit is removed again)."""
    try:
        raw = open(path, "rb")
    except FileNotFoundError:
        return None
    with raw:
        stat = os.fstat(raw.fileno())
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = stat.st_size, int(stat.st_mtime), 0o640
        reader = _HashingReader(raw)
        tar.addfile(info, reader)
    return {"size": reader.size, "sha256": reader.sha256.hexdigest()}


# --------------------------------------------------------------------------------- backup
def archive_path(target: str | os.PathLike, now: datetime | None = None) -> Path:
    """FILE with ``{timestamp}`` replaced by the UTC time (e.g. 20261201T091500.123456Z)."""
    now = now or datetime.now(UTC)
    return Path(str(target).replace(TIMESTAMP, now.strftime(TIMESTAMP_FORMAT)))


def create_backup(
    engine: Engine, upload_folder: str | os.PathLike, target: str | os.PathLike, keep: int | None = None
) -> BackupResult:
    """Write a consistent online backup of the database and the uploaded files to
    ``target`` (``{timestamp}`` in it is filled in). The archive is written to
    ``<name>.part`` and renamed when complete; with ``keep``, only the newest ``keep``
    archives of the same name pattern stay in the folder afterwards."""
    kind = _database_kind(engine)
    if keep is not None:
        _retention_pattern(target)  # refuse a bad --keep before the work
    path = archive_path(target)
    if not path.parent.is_dir():
        raise BackupError(f"the folder {path.parent} does not exist: create it or choose another FILE")
    upload_folder = Path(upload_folder)
    if path.parent.resolve().is_relative_to(upload_folder.resolve()):
        raise BackupError(
            f"{path} is inside the upload folder {upload_folder}, which the backup contains: "
            f"choose a FILE in another folder"
        )
    part = path.with_name(path.name + ".part")
    with tempfile.TemporaryDirectory(prefix=".crm-backup-", dir=path.parent) as work:
        db_file = Path(work) / DATABASE_PARTS[kind]
        snapshot_at = datetime.now(UTC)
        facts = (_snapshot_sqlite if kind == "sqlite" else _snapshot_postgresql)(engine, db_file)
        if facts["schema_revision"] is None:
            raise BackupError(
                "the database has no schema revision (alembic_version): run 'flask --app app db upgrade' first"
            )
        parts, files = {}, []
        try:
            with open(part, "wb") as out:
                with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    parts[DATABASE_PARTS[kind]] = _add_part(tar, DATABASE_PARTS[kind], db_file)
                    os.unlink(db_file)  # the copy is in the archive; do not hold the disk twice
                    for relative, full in _upload_files(upload_folder):
                        described = _add_part(tar, f"{UPLOADS}/{relative}", full)
                        if described is not None:
                            parts[f"{UPLOADS}/{relative}"] = described
                            files.append(relative)
                    manifest = {
                        "format": FORMAT,
                        "format_version": FORMAT_VERSION,
                        "created_at": snapshot_at.isoformat(timespec="seconds"),
                        "database": {
                            "kind": kind,
                            "part": DATABASE_PARTS[kind],
                            "tool": facts["tool"],
                            **({"schema": facts["schema"]} if "schema" in facts else {}),
                        },
                        "schema_revision": facts["schema_revision"],
                        "row_counts": facts["row_counts"],
                        "files": files,
                        # rows whose file was not in the upload folder: reported, not fatal
                        "missing_files": sorted(set(facts["stored_names"]) - set(files)),
                        "parts": parts,
                    }
                    data = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
                    info = tarfile.TarInfo(MANIFEST)
                    info.size, info.mtime, info.mode = len(data), int(datetime.now().timestamp()), 0o640
                    tar.addfile(info, io.BytesIO(data))
                out.flush()
                os.fsync(out.fileno())
            os.replace(part, path)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
    _fsync_folder(path.parent)
    removed = prune_backups(target, keep) if keep is not None else []
    return BackupResult(path, manifest, removed)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _retention_pattern(target: str | os.PathLike) -> re.Pattern:
    name = Path(str(target)).name
    if TIMESTAMP not in name:
        raise BackupError(
            f"--keep needs {TIMESTAMP} in the file name (e.g. backups/crm-{TIMESTAMP}.tar), "
            f"so that the archives it keeps can be told apart"
        )
    prefix, _, suffix = name.partition(TIMESTAMP)
    if TIMESTAMP in suffix:
        raise BackupError(f"use {TIMESTAMP} only once in the file name")
    return re.compile(re.escape(prefix) + TIMESTAMP_PATTERN + re.escape(suffix))


def prune_backups(target: str | os.PathLike, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` archives whose names match ``target`` with any
    timestamp in place of ``{timestamp}`` (other files in the folder are left alone)."""
    if keep < 1:
        raise BackupError("--keep must be at least 1")
    pattern = _retention_pattern(target)
    folder = Path(str(target)).parent
    matching = sorted(p for p in folder.iterdir() if p.is_file() and pattern.fullmatch(p.name))
    removed = matching[:-keep]
    for old in removed:
        old.unlink()
    return removed


# -------------------------------------------------------------------------------- restore
def _member_path(work: Path, name: str, database_part_names) -> Path:
    """Where a member is staged; refuses names that could escape the staging folder."""
    parts = PurePosixPath(name).parts
    if name in database_part_names:
        return work / name
    if (
        len(parts) >= 2
        and parts[0] == UPLOADS
        and not name.startswith("/")
        and "\\" not in name
        and all(p not in ("", ".", "..") for p in parts)
    ):
        return work.joinpath(*parts)
    raise BackupError(
        f"the archive holds an unexpected member {name!r}; it is not a CRM backup or was "
        f"tampered with, nothing was changed"
    )


def read_archive(archive: Path, work: Path) -> dict:
    """Stage every part of ``archive`` under ``work`` and return its manifest, after checking
    that the parts are exactly those the manifest lists, with the same sizes and SHA-256."""
    if not archive.is_file():
        raise BackupError(f"the backup {archive} does not exist")
    found, manifest_bytes = {}, None
    damaged = f"the backup {archive} is damaged or truncated"
    try:
        with tarfile.open(archive, mode="r|") as tar:
            for member in tar:
                if member.name in found or (member.name == MANIFEST and manifest_bytes is not None):
                    raise BackupError(f"{damaged}: {member.name} appears twice; nothing was changed")
                if not member.isreg():
                    raise BackupError(
                        f"the archive member {member.name!r} is not a plain file; it is not a "
                        f"CRM backup or was tampered with, nothing was changed"
                    )
                source = tar.extractfile(member)
                if member.name == MANIFEST:
                    if member.size > MAX_MANIFEST_BYTES:
                        raise BackupError(f"{damaged}: the manifest is too large; nothing was changed")
                    manifest_bytes = source.read()
                    continue
                dest = _member_path(work, member.name, DATABASE_PARTS.values())
                dest.parent.mkdir(parents=True, exist_ok=True)
                digest, size = hashlib.sha256(), 0
                with open(dest, "wb") as out:
                    while chunk := source.read(CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                if size != member.size:
                    raise BackupError(f"{damaged}: {member.name} ends early; nothing was changed")
                found[member.name] = {"size": size, "sha256": digest.hexdigest()}
    except (tarfile.TarError, EOFError) as exc:
        raise BackupError(f"{damaged} ({exc}); nothing was changed") from None
    if manifest_bytes is None:
        raise BackupError(f"{damaged}: it has no {MANIFEST}; nothing was changed")
    manifest = _parse_manifest(manifest_bytes, archive)
    listed = manifest["parts"]
    for name in sorted(set(listed) | set(found)):
        if name not in found:
            raise BackupError(f"{damaged}: {name} is listed in the manifest but missing; nothing was changed")
        if name not in listed:
            raise BackupError(f"{damaged}: {name} is not listed in the manifest; nothing was changed")
        if listed[name] != found[name]:
            raise BackupError(
                f"{damaged}: {name} has SHA-256 {found[name]['sha256']} and {found[name]['size']} "
                f"bytes, the manifest says {listed[name].get('sha256')} and "
                f"{listed[name].get('size')}; nothing was changed"
            )
    return manifest


def _parse_manifest(data: bytes, archive: Path) -> dict:
    unreadable = f"the manifest of {archive} is unreadable"
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BackupError(f"{unreadable} ({exc}); nothing was changed") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{unreadable}: it is not a CRM backup manifest; nothing was changed")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            f"{archive} has backup format version {manifest.get('format_version')!r}, this code "
            f"reads version {FORMAT_VERSION}; restore it with the code that made it"
        )
    database, parts, counts = manifest.get("database"), manifest.get("parts"), manifest.get("row_counts")
    well_formed = (
        isinstance(database, dict)
        and database.get("kind") in DATABASE_PARTS
        and database.get("part") == DATABASE_PARTS[database["kind"]]
        and isinstance(manifest.get("schema_revision"), str)
        and isinstance(counts, dict)
        and all(isinstance(v, int) for v in counts.values())
        and isinstance(parts, dict)
        and database["part"] in parts
        and all(isinstance(v, dict) and set(v) == {"size", "sha256"} for v in parts.values())
        and isinstance(manifest.get("files"), list)
        and {f"{UPLOADS}/{f}" for f in manifest["files"] if isinstance(f, str)} == set(parts) - {database["part"]}
    )
    if not well_formed:
        raise BackupError(f"{unreadable}: a field is missing or malformed; nothing was changed")
    return manifest


def _read_only_uri(path: Path) -> str:
    """An SQLite URI that opens a staged copy read-only, whatever characters its path has."""
    return path.resolve().as_uri() + "?mode=ro&immutable=1"


def _staged_sqlite_facts(db_file: Path, archive: Path) -> dict:
    try:
        with closing(sqlite3.connect(_read_only_uri(db_file), uri=True)) as con:
            check = con.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise BackupError(f"the database in {archive} is damaged ({check}); nothing was changed")
            return _facts(lambda sql: con.execute(sql).fetchall(), "sqlite")
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"the database in {archive} is not readable ({exc}); nothing was changed") from None


_COPY = re.compile(rb"^COPY (.+?) (?:\(.*\) )?FROM stdin;$")


def _split_qualified(name: str) -> tuple[str, str]:
    """'public."user"' → ('public', 'user') as pg_restore prints qualified names."""
    pieces, current, quoted, i = [], "", False, 0
    while i < len(name):
        ch = name[i]
        if ch == '"':
            if quoted and name[i + 1 : i + 2] == '"':
                current += '"'
                i += 1
            else:
                quoted = not quoted
        elif ch == "." and not quoted:
            pieces.append(current)
            current = ""
        else:
            current += ch
        i += 1
    pieces.append(current)
    return (pieces[0], pieces[1]) if len(pieces) == 2 else ("", pieces[-1])


def _dump_facts(db_file: Path, schema: str, archive: Path) -> dict:
    """Row counts and revision inside a pg_dump archive, read by streaming its data as
    pg_restore prints it (COPY blocks, one line a row), without a database."""
    tool, _ = find_pg_tool("pg_restore")
    counts, revision, table, rows = {}, [], None, 0
    with subprocess.Popen(
        [tool, "--data-only", "--file=-", str(db_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        for line in proc.stdout:
            line = line.rstrip(b"\n")
            if table is None:
                match = _COPY.match(line)
                if match:
                    table_schema, table_name = _split_qualified(match[1].decode())
                    table, rows = (table_name if table_schema in ("", schema) else ""), 0
            elif line == b"\\.":
                if table:
                    counts[table] = rows
                table = None
            else:
                rows += 1
                if table == "alembic_version":
                    revision.append(line.decode())
        error = proc.stderr.read().decode(errors="replace").strip()
    if proc.returncode != 0:
        raise BackupError(
            f"the database dump in {archive} is not readable "
            f"({error.splitlines()[-1] if error else proc.returncode}); nothing was changed"
        )
    return {"row_counts": counts, "schema_revision": ",".join(sorted(revision)) or None}


def _target_tables(engine: Engine, kind: str) -> list[str]:
    if kind == "sqlite":
        path = _sqlite_path(engine)
        if not path.parent.is_dir():
            raise BackupError(
                f"the folder {path.parent} of the database does not exist: create it; nothing was changed"
            )
        if not path.exists() or path.stat().st_size == 0:
            return []
    with engine.connect() as conn:
        return _table_names(lambda sql: conn.exec_driver_sql(sql).all(), kind)


def restore_backup(
    engine: Engine,
    upload_folder: str | os.PathLike,
    archive: str | os.PathLike,
    head_revision: str,
    force: bool = False,
    check_only: bool = False,
) -> dict:
    """Verify ``archive`` completely, then restore it into the (empty, or with ``force``
    replaced) database of ``engine`` and into ``upload_folder``; returns the manifest.
    Every refusal happens before anything is changed. After the restore the row counts of
    the target are compared with the manifest's."""
    kind = _database_kind(engine)
    archive, upload_folder = Path(archive), Path(upload_folder)
    staging_parent = upload_folder.parent if upload_folder.parent.is_dir() else None
    with tempfile.TemporaryDirectory(prefix=".crm-restore-", dir=staging_parent) as work_name:
        work = Path(work_name)
        manifest = read_archive(archive, work)
        made_by = manifest["database"]["kind"]
        if made_by != kind:
            raise BackupError(
                f"{archive} is a {made_by} backup and this database is {kind}: restore it into a "
                f"{made_by} database (set DATABASE_URL); nothing was changed"
            )
        revision = manifest["schema_revision"]
        if revision != head_revision:
            raise BackupError(
                f"{archive} has schema revision {revision}, this code expects {head_revision}: "
                f"restore it with the code version whose migrations end at {revision} and then "
                f"run 'flask --app app db upgrade'; nothing was changed"
            )
        db_file = work / manifest["database"]["part"]
        inside = (
            _staged_sqlite_facts(db_file, archive)
            if kind == "sqlite"
            else _dump_facts(db_file, manifest["database"].get("schema", "public"), archive)
        )
        if inside["schema_revision"] != revision or inside["row_counts"] != manifest["row_counts"]:
            raise BackupError(
                f"the manifest of {archive} does not describe its database (revision "
                f"{inside['schema_revision']}, {sum(inside['row_counts'].values())} rows inside; "
                f"the manifest says {revision}, {sum(manifest['row_counts'].values())}): it was "
                f"edited or the archive is damaged, nothing was changed"
            )
        tools = _pg_restore_tools(engine, manifest) if kind == "postgresql" else None
        if check_only:
            return manifest
        tables = _target_tables(engine, kind)
        if upload_folder.exists() and not upload_folder.is_dir():
            raise BackupError(f"the upload folder {upload_folder} is a file: move it away; nothing was changed")
        files = sorted(p.name for p in upload_folder.iterdir()) if upload_folder.is_dir() else []
        if (tables or files) and not force:
            what = (
                f"the database already has {len(tables)} tables ({', '.join(tables[:3])}…)"
                if tables
                else f"the upload folder {upload_folder} already has {len(files)} entries"
            )
            raise BackupError(
                f"{what}: restore only into an empty database and upload folder, or add --force "
                f"to replace them; nothing was changed"
            )
        # ---------------------------------------------------- from here on the target changes
        if kind == "sqlite":
            _restore_sqlite(engine, db_file)
        else:
            _restore_postgresql(engine, db_file, tools, bool(tables), manifest["database"].get("schema", "public"))
        _restore_files(work / UPLOADS, upload_folder)
    with engine.connect() as conn:
        after = _facts(lambda sql: conn.exec_driver_sql(sql).all(), kind)["row_counts"]
    wrong = {t: (after.get(t), n) for t, n in manifest["row_counts"].items() if after.get(t) != n}
    if wrong or set(after) != set(manifest["row_counts"]):
        details = ", ".join(f"{t}: {a} rows, backup {n}" for t, (a, n) in sorted(wrong.items())[:5])
        raise BackupError(
            f"the restored database does not match the backup ({details or 'other tables'}); restore again with --force"
        )
    return manifest


def _restore_sqlite(engine: Engine, db_file: Path) -> None:
    target = _sqlite_path(engine)
    engine.dispose()
    # Through the backup API, not a file copy: it writes into the target as one transaction
    # and respects its journal (a stale -wal beside a copied file would corrupt it).
    with (
        closing(sqlite3.connect(_read_only_uri(db_file), uri=True)) as src,
        closing(sqlite3.connect(target, timeout=60)) as dst,
    ):
        src.backup(dst)


def _pg_restore_tools(engine: Engine, manifest: dict) -> tuple[str, str]:
    """pg_restore (at least as new as the server and the pg_dump that made the archive) and psql."""
    tool, version = find_pg_tool("pg_restore")
    made_with = re.search(r"(\d+)", manifest["database"].get("tool", ""))
    with engine.connect() as conn:
        server = _server_major(conn)
    _check_tool_version("pg_restore", version, max(server, int(made_with[1]) if made_with else 0))
    return tool, find_pg_tool("psql")[0]


def _restore_postgresql(engine: Engine, db_file: Path, tools: tuple[str, str], replace: bool, schema: str) -> None:
    pg_restore, psql = tools
    env = _pg_env(engine)
    engine.dispose()
    if not replace:
        _run_tool(
            [
                pg_restore,
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                f"--dbname={engine.url.database}",
                str(db_file),
            ],
            env,
            "pg_restore",
        )
        return
    # --force: dropping the old schema and loading the dump run in one transaction (psql -1
    # fed the dump as SQL), so a failure leaves the old database as it was. The dump is
    # relayed rather than piped so that psql commits only if pg_restore produced all of it.
    with tempfile.TemporaryFile() as dump_errors, tempfile.TemporaryFile() as load_errors:
        load = subprocess.Popen(
            [
                psql,
                "--no-psqlrc",
                "--quiet",
                "--single-transaction",
                "--set=ON_ERROR_STOP=1",
                f"--command=DROP SCHEMA {_quote(schema)} CASCADE",
                f"--command=CREATE SCHEMA {_quote(schema)}",
                "--file=-",
                f"--dbname={engine.url.database}",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=load_errors,
            env=env,
        )
        with subprocess.Popen(
            [pg_restore, "--no-owner", "--no-privileges", "--file=-", str(db_file)],
            stdout=subprocess.PIPE,
            stderr=dump_errors,
            env=env,
        ) as dump:
            try:
                while chunk := dump.stdout.read(CHUNK):
                    load.stdin.write(chunk)
                dump.wait()
                if dump.returncode != 0:
                    load.stdin.write(b"\nDO $$ BEGIN RAISE EXCEPTION 'the dump ended early'; END $$;\n")
                load.stdin.close()
            except BrokenPipeError:  # psql stopped at an error: it rolled back
                dump.kill()
        load.wait()
        errors = []
        for log in (dump_errors, load_errors):  # pg_restore's own error first: it is the cause
            log.seek(0)
            errors += [line for line in log.read().decode(errors="replace").splitlines() if "error" in line.lower()]
    if load.returncode != 0 or dump.returncode != 0:
        raise BackupError(
            f"restoring the database failed and it was left as it was: "
            f"{errors[0] if errors else f'exit code {load.returncode or dump.returncode}'}"
        )


def _restore_files(staged: Path, upload_folder: Path) -> None:
    staged.mkdir(exist_ok=True)
    old = None
    if upload_folder.exists():
        old = upload_folder.with_name(f".{upload_folder.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(upload_folder, old)
    upload_folder.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(staged), str(upload_folder))
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
