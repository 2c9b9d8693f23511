"""The import job: the rows saved in short transactions, hidden until all are in, then
shown in one UPDATE — or removed again: all or nothing. Also the CSV error report."""

from __future__ import annotations

import json
import shutil
import time as clock
from pathlib import Path

from flask import current_app
from flask_babel import gettext
from sqlalchemy import and_, event, func, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, with_loader_criteria

from .. import db
from ..audit import AuditLog, audit_note
from ..auth import User
from ..base import FieldError, not_deleted
from ..customers import Client, Linkman, normalise_name
from ..jobs import Job, JobContext, JobFailed, enqueue, job_kind
from .mapping import CLIENTS, KINDS, ImportKind, field_label
from .validation import DUPLICATE_REASONS, RowError, validate


# ----------------------------------------------------------- rows of a running import
@event.listens_for(Session, "do_orm_execute")
def _hide_running_imports(state) -> None:
    """Rows of an import that has not finished belong to nobody yet: every ORM query
    leaves them out — lists, counts, details, look-ups, reports, duplicate checks — so a
    half-done or killed import shows nothing. The import's own bookkeeping asks for them
    with the execution option ``include_running_imports``."""
    if (
        state.is_select
        and not state.is_column_load
        and not state.is_relationship_load
        and not state.execution_options.get("include_running_imports", False)
    ):
        for kind in KINDS.values():
            model = kind.model
            state.statement = state.statement.options(
                with_loader_criteria(model, model.import_job_id.is_(None), include_aliases=True)
            )


_ALL_ROWS = {"include_running_imports": True}


def import_folder() -> Path:
    """Where uploads wait between the steps and for the job (``IMPORT_FOLDER``, default
    ``instance/imports``; shared storage when web and worker run on several machines)."""
    folder = current_app.config.get("IMPORT_FOLDER") or Path(current_app.instance_path) / "imports"
    return Path(folder)


def error_report(errors) -> bytes:
    """The errors as CSV (the one writer: UTF-8 with BOM, formulas neutralised)."""
    from reports.csvfile import csv_bytes

    header = [gettext("Row"), gettext("Field"), gettext("Problem")]
    return csv_bytes([header, *([error.row, str(error.field), str(error.message)] for error in errors)])


# ------------------------------------------------------------------ the import job
IMPORT_JOB = CLIENTS.job
#: rows per write transaction: short enough that other users' saves hardly wait
CHUNK_ROWS = 500
#: errors kept in the job's result for the page (the report file lists all)
ERRORS_KEPT = 200
#: serialises the last step of concurrent imports on PostgreSQL (SQLite has one writer)
_PG_LOCK_KEY = 8_2026_0008


def queue_import(
    token: str,
    mapping,
    source: str,
    actor,
    ip: str | None = None,
    locale: str | None = None,
    kind: ImportKind = CLIENTS,
) -> Job:
    """Queue the import of the pending upload ``token`` (see :func:`import_folder`) with
    the column ``mapping`` as a background job run by ``run-jobs``; the caller commits.
    The job validates again (the data may have changed since the preview), saves the
    rows (clients unless ``kind`` says otherwise) in chunks of :data:`CHUNK_ROWS` rows, each
    a short transaction, and shows them all at once at the end — or, if anything fails,
    removes them: all or nothing."""
    return enqueue(
        kind.job, {"token": token, "mapping": list(mapping), "source": source}, user=actor, ip=ip, locale=locale
    )


def _chunk_pause() -> float:
    """Seconds to wait between two chunks (``IMPORT_CHUNK_PAUSE``). SQLite's busy handler
    is not fair: a user's save that waits for the lock retries every 100 ms at most, and
    would lose every race against the next chunk without a gap. PostgreSQL locks rows,
    not the database, so there others never wait for the import."""
    configured = current_app.config.get("IMPORT_CHUNK_PAUSE")
    if configured is not None:
        return float(configured)
    return 0.1 if db.session.get_bind().dialect.name == "sqlite" else 0.0


def _kind(context: JobContext) -> ImportKind:
    return next(kind for kind in KINDS.values() if kind.job == context.kind)


def _job_rows(job_id: int, kind: ImportKind = CLIENTS):
    return kind.model.__table__.c.import_job_id == job_id


def _fail_with_errors(place: Path, errors: list[RowError]) -> JobFailed:
    """A job failure carrying the row errors (the page lists them, the report has all)."""
    (place / "errors.csv").write_bytes(error_report(errors))
    return JobFailed(
        gettext(
            "Nothing was imported: %(count)s problems were found. Correct the file (or the column "
            "matching) and try again.",
            count=len(errors),
        ),
        result={"errors": [list(error) for error in errors[:ERRORS_KEPT]], "error_count": len(errors)},
    )


def run_import(context: JobContext) -> dict:
    """The handler of import jobs (see :func:`queue_import`); resumes after a takeover
    from the chunks already committed. Returns ``{"imported": n}``."""
    payload = context.payload
    kind = _kind(context)
    table_ = kind.model.__table__
    place = import_folder() / payload["token"]
    try:
        table = json.loads((place / "table.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise JobFailed(
            gettext("The uploaded file is no longer there (uploads are kept for a day). Upload it again.")
        ) from None
    actor = db.session.get(User, context.created_by_id) if context.created_by_id else None
    if actor is None or not actor.can_log_in():
        raise JobFailed(gettext("The user who started the import can no longer log in; nothing was imported."))
    actor_id = actor.id
    pending = db.session.execute(
        select(func.count()).select_from(table_).where(_job_rows(context.id, kind)).execution_options(**_ALL_ROWS)
    ).scalar()
    if context.total and context.done == context.total and pending == 0 and context.attempts > 1:
        return {"imported": context.total}  # the rows were shown just before the last worker died
    if pending != context.done:  # a cleanup was interrupted: start again from nothing
        discard_import(context)

    rows = table["rows"]
    clean, errors = validate(rows, payload["mapping"], actor, kind)
    if errors:
        raise _fail_with_errors(place, errors)
    numbers = [offset + 2 for offset, cells in enumerate(rows) if any(cells)]
    context.beat(total=len(clean))
    db.session.commit()
    source = payload.get("source")
    pause = _chunk_pause()
    for start in range(context.done, len(clean), CHUNK_ROWS):
        chunk = clean[start : start + CHUNK_ROWS]
        audit_note(db.session, "import", source)
        db.session.add_all(
            [
                kind.model(**{**row, "owner_id": row.get("owner_id") or actor_id}, import_job_id=context.id)
                for row in chunk
            ]
        )
        try:
            db.session.flush()
            # the rows and the progress they make commit together, and only while this
            # worker holds the job (else JobLost: a takeover's worker does this chunk)
            context.beat(done=start + len(chunk))
            db.session.commit()
        except (IntegrityError, FieldError) as exc:
            db.session.rollback()
            detail = str(getattr(exc, "orig", exc)).splitlines()[0]
            raise JobFailed(
                gettext(
                    "Rows %(first)s to %(last)s could not be saved (%(detail)s); probably another user saved "
                    "the same data meanwhile. Nothing was imported: check the file and import it again.",
                    first=numbers[start],
                    last=numbers[start + len(chunk) - 1],
                    detail=detail,
                )
            ) from None
        if pause:
            clock.sleep(pause)

    # every row is in: check what others saved meanwhile, then show the rows in one UPDATE
    context.beat()
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sql_text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    errors = kind.saved_meanwhile(context.id, clean, numbers) if kind.saved_meanwhile else []
    if errors:
        db.session.rollback()
        raise _fail_with_errors(place, errors)
    db.session.execute(update(table_).where(_job_rows(context.id, kind)).values(import_job_id=None))
    context.beat(done=len(clean))
    db.session.commit()
    shutil.rmtree(place, ignore_errors=True)
    return {"imported": len(clean)}


def _saved_meanwhile(job_id: int, clean: list[dict], numbers: list[int]) -> list[RowError]:
    """Clients saved by others while the import ran that duplicate one of its rows (the
    rules of :func:`existing_duplicates`; the file was checked against the rest): three
    indexed joins, whatever the number of rows."""
    mine, other, linkman = Client.__table__.alias("mine"), Client.__table__.alias("other"), Linkman.__table__
    live = and_(other.c.import_job_id.is_(None), not_deleted(other))
    checks = [
        (
            "name",
            select(mine.c.name_key, other.c.id, other.c.name).join(
                other, and_(other.c.name_key == mine.c.name_key, live)
            ),
        ),
        (
            "contact_mobile",
            select(mine.c.contact_mobile, other.c.id, other.c.name).join(
                other, and_(other.c.contact_mobile == mine.c.contact_mobile, live)
            ),
        ),
        (
            "contact_mobile",
            select(mine.c.contact_mobile, other.c.id, other.c.name)
            .join(linkman, linkman.c.mobile == mine.c.contact_mobile)
            .join(other, and_(other.c.id == linkman.c.client_id, live)),
        ),
    ]
    row_of = {"name": {}, "contact_mobile": {}}
    for number, row in zip(numbers, clean, strict=True):
        row_of["name"].setdefault(normalise_name(row.get("name")), number)
        row_of["contact_mobile"].setdefault(row.get("contact_mobile"), number)
    errors = []
    for field, query in checks:
        query = query.where(mine.c.import_job_id == job_id).limit(ERRORS_KEPT).execution_options(**_ALL_ROWS)
        for value, id_, name in db.session.execute(query):
            errors.append(
                RowError(
                    row_of[field].get(value, 0),
                    field_label(field),
                    gettext(
                        "%(reason)s as the existing client #%(id)s %(name)s",
                        reason=DUPLICATE_REASONS[field](),
                        id=id_,
                        name=name,
                    ),
                )
            )
    return sorted(set(errors), key=lambda e: e.row)


def discard_import(context: JobContext) -> None:
    """Remove what a failed import left — its hidden rows and their audit entries — in
    short transactions (a killed cleanup is finished by whoever takes the job over)."""
    audit = AuditLog.__table__
    kind = _kind(context)
    table_ = kind.model.__table__
    while True:
        context.beat(done=0)
        ids = (
            db.session.execute(
                select(table_.c.id).where(_job_rows(context.id, kind)).limit(CHUNK_ROWS).execution_options(**_ALL_ROWS)
            )
            .scalars()
            .all()
        )
        if ids:
            db.session.execute(
                audit.delete().where(
                    audit.c.table_name == table_.name, audit.c.record_id.in_(ids), audit.c.action == "import"
                )
            )
            db.session.execute(table_.delete().where(table_.c.id.in_(ids)))
        db.session.commit()
        if len(ids) < CHUNK_ROWS:
            context.done = 0
            return


CLIENTS.saved_meanwhile = _saved_meanwhile


def register_jobs() -> None:
    """One background job kind per declared import (all run :func:`run_import`)."""
    for kind in KINDS.values():
        job_kind(kind.job, on_failure=discard_import)(run_import)
