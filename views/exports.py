"""My exports: the background list exports (views/crud/export.py) — queued with the
request's arguments, run by ``run-jobs`` as the requester, listed with their progress,
cancelled, downloaded by the requester alone (and only while they may still view and
export the list), removed after a day (``flask purge-exports``, and whenever a new one
is asked for)."""

from __future__ import annotations

import secrets
from contextlib import contextmanager

import click
from flask import abort, current_app, flash, g, redirect, request, send_file, url_for
from flask_admin import BaseView, expose
from flask_babel import force_locale, get_locale, gettext
from flask_login import current_user, login_user

from models import db
from models.auth import User
from models.exports import EXPORT_JOB, export_file, export_folder, my_exports, purge_exports
from models.jobs import Job, JobContext, JobFailed, cancel, enqueue, job_kind

from .crud.rights import login_url
from .helpers import attachment


def queue_export(view, export_type: str) -> Job:
    """Queue the export of the list as the current request asks for it: the job keeps the
    request's arguments and rebuilds the query with the requester's identity."""
    purge_exports()  # yesterday's files go as new ones are asked for
    payload = {
        "endpoint": view.endpoint,
        "export_type": export_type,
        "path": request.path,  # the export's own address: views that read the endpoint see it
        "args": [[key, value] for key, value in request.args.items(multi=True) if key != "lang"],
        "title": str(view.name),
        "filename": view.get_export_name(export_type),
        "fallback": view.export_fallback_name(export_type),
        "locale": str(get_locale()),
    }
    return enqueue(EXPORT_JOB, payload, user=current_user, ip=request.remote_addr, locale=payload["locale"])


def admin_view(endpoint: str):
    """The model view registered under ``endpoint`` (a job has no request to find it)."""
    for admin in current_app.extensions.get("admin", []):
        for view in admin._views:
            if view.endpoint == endpoint:
                return view
    return None


def may_export(view) -> bool:
    """Whether the current user may (still) view and export the list of ``view``."""
    return view is not None and view.allowed("view") and view.allowed("export")


@contextmanager
def as_requester(user, payload):
    """The request the export was asked in, rebuilt in the worker: its list address and
    arguments, the requester logged in, their language; what the request leaves in ``g``
    (the user, the time zone, Babel's caches) is dropped afterwards, so one job never
    sees another's, and each reads the settings as they are now."""
    state = vars(g._get_current_object())
    saved = dict(state)
    for key in ("_login_user", "crm_zone", "_flask_babel"):
        state.pop(key, None)
    try:
        with current_app.test_request_context(payload["path"], query_string=payload["args"]):
            login_user(user)
            with force_locale(payload.get("locale") or "zh_CN"):
                yield
    finally:
        state.clear()
        state.update(saved)


@job_kind(EXPORT_JOB)
def run_export(context: JobContext) -> dict:
    """The handler of export jobs: the requester's list rebuilt in a request context of
    its own, written to a file chunk by chunk with progress; a cancel stops it at the
    next chunk (and the partial file goes)."""
    payload = context.payload
    view = admin_view(payload["endpoint"])
    user = db.session.get(User, context.created_by_id) if context.created_by_id else None
    if view is None or user is None or not user.can_log_in():
        raise JobFailed(gettext("The user who asked for the export can no longer log in; nothing was exported."))
    folder = export_folder()
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{context.id}-{secrets.token_hex(16)}.{payload['export_type']}"
    partial = folder / f"{name}.part"
    reader = db.session.session_factory()  # the rows: progress commits must not close its cursor

    def progress(done, total=None):
        db.session.commit()  # end the read transaction first (SQLite: no stale write)
        context.beat(done=done, total=total)
        db.session.commit()

    try:
        with as_requester(user, payload):
            if not may_export(view):
                raise JobFailed(gettext("You may no longer export this list; nothing was exported."))
            query = view.export_query().with_session(reader)
            progress(0, query.enable_eagerloads(False).order_by(None).count())
            with partial.open("wb") as target:
                rows = view.write_export(payload["export_type"], query, target, progress)
        partial.rename(folder / name)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        reader.close()
    progress(rows, rows)
    return {"file": name, "rows": rows, "size": (folder / name).stat().st_size}


def percent(job: Job) -> int:
    """How far the job is, 0–100."""
    if job.status == "done":
        return 100
    return min(99, job.progress_done * 100 // job.progress_total) if job.progress_total else 0


class MyExportsView(BaseView):
    """/admin/exports/: the current user's exports (any logged-in user: each sees only
    their own; a download also needs the list's view and export rights now)."""

    def is_visible(self):
        return False  # reached from the user menu and every list's export menu

    def is_accessible(self):
        return current_user.is_authenticated

    def inaccessible_callback(self, name, **kwargs):
        return redirect(login_url())

    def _own(self, job_id: int) -> Job:
        job = db.session.get(Job, job_id) if job_id < 2**63 else None
        if job is None or job.kind != EXPORT_JOB or job.created_by_id != current_user.id:
            abort(404)
        return job

    @expose("/")
    def index_view(self):
        jobs = my_exports(current_user)
        return self.render(
            "admin/crm/my_exports.html",
            jobs=jobs,
            percent=percent,
            downloadable={job.id for job in jobs if export_file(job) is not None},
            refresh=any(not job.finished for job in jobs),
            highlight=request.args.get("job", type=int),
        )

    @expose("/<int:job_id>/download/")
    def download_view(self, job_id):
        job = self._own(job_id)
        path = export_file(job)
        if path is None:
            abort(404)
        if not may_export(admin_view(job.payload.get("endpoint", ""))):
            abort(403)
        kind = job.payload["export_type"]
        mimetype = {"csv": "text/csv"}.get(kind, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        response = send_file(path, mimetype=mimetype, max_age=0)
        response.headers["Content-Disposition"] = attachment(job.payload["filename"], job.payload["fallback"])
        return response

    @expose("/<int:job_id>/cancel/", methods=("POST",))
    def cancel_view(self, job_id):
        job = self._own(job_id)
        if cancel(job.id):
            flash(gettext("The export was cancelled."), "success")
        else:
            flash(gettext("The export had already finished."), "warning")
        db.session.commit()
        return redirect(url_for(".index_view"))


def init_app(app) -> None:
    """The ``purge-exports`` command (run it daily, e.g. from cron, beside ``run-jobs``)."""

    @app.cli.command("purge-exports")
    def purge_exports_command():
        """Remove export files and their jobs older than a day (safe to run any time)."""
        jobs, files = purge_exports()
        click.echo(f"Removed {jobs} export job(s) and {files} file(s).")
