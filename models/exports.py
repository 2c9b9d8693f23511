"""Export files of background export jobs ("My exports"): where they are kept, who may
fetch them, and how they are removed after a day.

The job row (``job``, kind :data:`EXPORT_JOB`) is the record of an export: who asked
(``created_by_id``: the only user who may download it), the list and the request's
arguments it was asked with (``payload``), its progress, and in ``result`` the file's
name, row count and size. The file itself lies under :func:`export_folder`, named after
the job and a random token, so nobody can guess another user's file.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import delete, select

from . import db
from .base import utcnow
from .jobs import Job

EXPORT_JOB = "list_export"
#: export files and their job rows are removed this long after the export was asked for
KEEP = timedelta(days=1)
#: ``<job id>-<token>.<csv|xlsx>`` (``.part`` while it is written)
FILE_NAME = re.compile(r"(\d+)-[0-9a-f]{32}\.(csv|xlsx)(\.part)?")


def export_folder() -> Path:
    """Where export files are written (``EXPORT_FOLDER``, default ``instance/exports``;
    shared storage when web and worker run on several machines)."""
    folder = current_app.config.get("EXPORT_FOLDER") or Path(current_app.instance_path) / "exports"
    return Path(folder)


def export_file(job: Job) -> Path | None:
    """The finished file of the export ``job``, if it is still there."""
    name = (job.result or {}).get("file") if job.status == "done" else None
    if not name or not FILE_NAME.fullmatch(name):
        return None
    path = export_folder() / name
    return path if path.is_file() else None


def my_exports(user, limit: int = 50) -> list[Job]:
    """The export jobs ``user`` asked for, newest first."""
    query = (
        select(Job)
        .where(Job.kind == EXPORT_JOB, Job.created_by_id == user.id)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(limit)
    )
    return list(db.session.execute(query).scalars())


def purge_exports(now=None) -> tuple[int, int]:
    """Remove the export jobs asked for more than :data:`KEEP` ago with their files, and
    any file in the folder older than that whose job is gone (a cancelled or killed
    export's leftovers). Idempotent; commits. Returns (jobs removed, files removed)."""
    now = now or utcnow()
    cutoff = now - KEEP
    old = db.session.execute(
        select(Job.id).where(Job.kind == EXPORT_JOB, Job.created_at < cutoff, Job.status != "running")
    ).scalars()
    old_ids = set(old)
    if old_ids:
        db.session.execute(delete(Job).where(Job.id.in_(old_ids)))
    db.session.commit()
    live = set(db.session.execute(select(Job.id).where(Job.kind == EXPORT_JOB)).scalars())
    files = 0
    folder = export_folder()
    if folder.is_dir():
        stamp = time.time() - KEEP.total_seconds()
        for path in folder.iterdir():
            match = FILE_NAME.fullmatch(path.name)
            if not match or not path.is_file():
                continue
            if int(match.group(1)) in old_ids or (int(match.group(1)) not in live and path.stat().st_mtime < stamp):
                path.unlink(missing_ok=True)
                files += 1
    return len(old_ids), files
