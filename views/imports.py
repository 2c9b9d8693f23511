"""Client import pages (SPEC §4.3 "Import", right ``client.import``): upload a CSV or
XLSX file, check the guessed column mapping on a preview of the first rows, then
validate every row and queue the import as a background job (``run-jobs``) whose page
shows its progress and then its result: all rows imported or none (the rules live in
models/imports.py).

The parsed upload (read as a stream and capped at the limits) waits between the steps
under a random token in ``IMPORT_FOLDER`` (default ``instance/imports``; never in the
session cookie), readable only by the user who uploaded it, and is removed after the
import or a day later. Reloading the preview never parses the file again.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import shutil
import time
from pathlib import Path

from flask import abort, flash, jsonify, redirect, request, send_file, url_for
from flask_admin import expose
from flask_babel import get_locale, gettext
from flask_login import current_user

from models import db, without_write_lock
from models.imports import (
    KINDS,
    ImportFileError,
    RowError,
    error_report,
    guess_mapping,
    import_folder,
    queue_import,
    read_table,
    validate,
)
from models.imports.template import template_xlsx
from models.jobs import Job

from .crud import crm_page

__all__ = ["ClientImportMixin", "ImportMixin", "error_report"]

#: pending uploads older than this are removed when the next upload arrives
PENDING_SECONDS = 24 * 3600
#: errors listed on the page (all of them are in the downloadable report)
ERRORS_SHOWN = 200
_TOKEN = re.compile(r"[0-9a-f]{32}")


# ------------------------------------------------------------------ pending uploads
def _store(filename: str, table: tuple[list[str], list[list[str]]]) -> str:
    """Keep a parsed upload for the next steps (as JSON: the preview and the import do
    not parse a large workbook again); returns its token."""
    folder = import_folder()
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in folder.iterdir():  # forget abandoned uploads
        if old.is_dir() and _TOKEN.fullmatch(old.name) and now - old.stat().st_mtime > PENDING_SECONDS:
            shutil.rmtree(old, ignore_errors=True)
    token = secrets.token_hex(16)
    place = folder / token
    place.mkdir(mode=0o700)
    headers, rows = table
    (place / "table.json").write_text(
        json.dumps({"headers": headers, "rows": rows}, ensure_ascii=False), encoding="utf-8"
    )
    (place / "meta.json").write_text(json.dumps({"user_id": current_user.id, "filename": filename, "uploaded_at": now}))
    return token


def _pending(token: str | None) -> tuple[Path, dict]:
    """The folder and metadata of the current user's upload ``token`` (404 otherwise)."""
    if not token or not _TOKEN.fullmatch(token):
        abort(404)
    place = import_folder() / token
    try:
        meta = json.loads((place / "meta.json").read_text())
    except (OSError, ValueError):
        abort(404)
    if meta.get("user_id") != current_user.id or not (place / "table.json").exists():
        abort(404)
    return place, meta


def _own_job(job_id: int, kind) -> Job:
    """The current user's import job ``job_id`` of this kind (404 for anybody else's)."""
    job = db.session.get(Job, job_id) if job_id < 2**63 else None
    if job is None or job.kind != kind.job or job.created_by_id != current_user.id:
        abort(404)
    return job


def _queued_job(place: Path) -> int | None:
    """The job already importing this upload, unless it failed (then it may run again)."""
    try:
        job_id = json.loads((place / "job.json").read_text())["job_id"]
    except (OSError, ValueError, KeyError):
        return None
    job = db.session.get(Job, job_id)
    return job.id if job is not None and job.status != "failed" else None


def _percent(job: Job) -> int:
    if job.status == "done":
        return 100
    return min(99, job.progress_done * 100 // job.progress_total) if job.progress_total else 0


# ------------------------------------------------------------------------- the view
class ImportMixin:
    """Adds /import/ to a view: the import declared as ``import_kind`` (a name of
    ``models.imports.KINDS``: "clients", "leads"). Put it before CrmModelView in the bases."""

    import_kind = "clients"
    import_template = "admin/crm/client_import.html"
    job_template = "admin/crm/client_import_job.html"
    import_preview_rows = 10

    def list_buttons(self) -> list[tuple[str, str]]:
        """(label, url) of extra buttons for the list page."""
        parent = getattr(super(), "list_buttons", None)
        buttons = list(parent()) if parent else []
        if self.allowed("import"):
            buttons.append((gettext("Import"), self.get_url(".import_view")))
        return buttons

    @expose("/import/", methods=("GET", "POST"))
    @crm_page(right="import")
    def import_view(self):
        token = request.values.get("token")
        if request.method == "POST" and "file" in request.files:
            return self._import_upload()
        if token is None:
            return self.render(self.import_template, stage="upload", **self._import_context())
        place, meta = _pending(token)
        table = json.loads((place / "table.json").read_text(encoding="utf-8"))
        headers, rows = table["headers"], table["rows"]
        guessed = guess_mapping(headers, self._kind)
        if request.method == "GET":
            return self._import_preview(token, meta, headers, rows, guessed)
        mapping = [request.form.get(f"map_{i}", guessed[i] or "") or None for i in range(len(headers))]
        actor = current_user._get_current_object()
        with without_write_lock():
            clean, errors = validate(rows, mapping, actor, self._kind)
        if errors:
            (place / "errors.csv").write_bytes(error_report(errors))
            return self._import_preview(token, meta, headers, rows, mapping, errors=errors)
        queued = _queued_job(place)
        if queued is not None:  # submitted twice: the first job imports the file
            return redirect(self.get_url(".import_job_view", job_id=queued))
        job = queue_import(
            token, mapping, meta["filename"], actor, ip=request.remote_addr, locale=str(get_locale()), kind=self._kind
        )
        db.session.commit()
        (place / "job.json").write_text(json.dumps({"job_id": job.id}))
        return redirect(self.get_url(".import_job_view", job_id=job.id))

    @expose("/import/job/<int:job_id>/")
    @crm_page(right="import")
    def import_job_view(self, job_id):
        job = _own_job(job_id, self._kind)
        result = job.result or {}
        errors = [RowError(*error) for error in result.get("errors", [])]
        token = (job.payload or {}).get("token", "")
        has_report = bool(errors) and (import_folder() / token / "errors.csv").exists()
        return self.render(
            self.job_template,
            job=job,
            percent=_percent(job),
            errors=errors,
            error_count=result.get("error_count", 0),
            imported=result.get("imported"),
            report_url=self.get_url(".import_errors_view", token=token) if has_report else None,
            retry_url=self.get_url(".import_view", token=token)
            if job.status == "failed" and (import_folder() / token / "table.json").exists()
            else None,
            status_url=self.get_url(".import_job_status_view", job_id=job.id),
            script_url=url_for("static", filename="import_job.js"),
            texts=self._kind.texts,
        )

    @expose("/import/job/<int:job_id>/status/")
    @crm_page(right="import")
    def import_job_status_view(self, job_id):
        """JSON for static/import_job.js, which polls it until the job has finished."""
        job = _own_job(job_id, self._kind)
        return jsonify(
            {
                "status": job.status,
                "done": job.progress_done,
                "total": job.progress_total,
                "percent": _percent(job),
                "finished": job.finished,
            }
        )

    @expose("/import/template/")
    @crm_page(right="import")
    def import_template_view(self):
        """The kind's XLSX template: headings, an example row, the allowed lookup values."""
        data = template_xlsx(self._kind, current_user._get_current_object())
        name = gettext("%(name)s-import-template.xlsx", name=self.import_kind)
        return send_file(
            io.BytesIO(data),
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            as_attachment=True,
            download_name=name,
            max_age=0,
        )

    @expose("/import/errors/<token>/")
    @crm_page(right="import")
    def import_errors_view(self, token):
        place, meta = _pending(token)
        report = place / "errors.csv"
        if not report.exists():
            abort(404)
        name = gettext("%(name)s-errors.csv", name=Path(meta["filename"]).stem)
        return send_file(report, mimetype="text/csv", as_attachment=True, download_name=name, max_age=0)

    # -- steps ------------------------------------------------------------------
    @property
    def _kind(self):
        return KINDS[self.import_kind]

    def _import_context(self, **kwargs):
        kind = self._kind
        fields = [(f, kind.label(f), f in kind.required) for f in kind.fields]
        return {"fields": fields, "texts": kind.texts, **kwargs}

    def _import_upload(self):
        upload = request.files["file"]
        if not upload.filename:
            flash(gettext("Choose a CSV or XLSX file to import."), "error")
            return self.render(self.import_template, stage="upload", **self._import_context())
        try:
            with without_write_lock():
                table = read_table(upload.filename, upload.stream)
        except ImportFileError as exc:
            flash(str(exc), "error")
            return self.render(self.import_template, stage="upload", **self._import_context()), 400
        return redirect(self.get_url(".import_view", token=_store(upload.filename, table)))

    def _import_preview(self, token, meta, headers, rows, mapping, errors=None):
        context = self._import_context(
            stage="preview",
            token=token,
            filename=meta["filename"],
            headers=headers,
            mapping=mapping,
            rows=rows[: self.import_preview_rows],
            row_count=sum(1 for r in rows if any(r)),
            own_only=current_user.data_scope not in ("all", "department"),
            errors=(errors or [])[:ERRORS_SHOWN],
            error_count=len(errors or []),
            report_url=self.get_url(".import_errors_view", token=token) if errors else None,
        )
        return self.render(self.import_template, **context)


#: the client view's import (the name it had before other imports were declared)
ClientImportMixin = ImportMixin
