"""Client import pages (SPEC §4.3 "Import", right ``client.import``): upload a CSV or
XLSX file, check the guessed column mapping on a preview of the first rows, then
validate every row and import all of them or none (the rules live in models/imports.py).

The parsed upload waits between the steps under a random token in ``IMPORT_FOLDER``
(default ``instance/imports``; never in the session cookie), readable only by the user
who uploaded it, and is removed after the import or a day later.
"""
from __future__ import annotations

import csv
import io
import json
import re
import secrets
import shutil
import time
from pathlib import Path

from flask import abort, current_app, flash, redirect, request, send_file
from flask_admin import expose
from flask_babel import gettext
from flask_login import current_user

from models.imports import FIELDS, REQUIRED, ImportFileError, commit, field_label, guess_mapping, read_table, \
    validate

#: pending uploads older than this are removed when the next upload arrives
PENDING_SECONDS = 24 * 3600
#: errors listed on the page (all of them are in the downloadable report)
ERRORS_SHOWN = 200
_TOKEN = re.compile(r"[0-9a-f]{32}")


# ------------------------------------------------------------------ pending uploads
def _folder() -> Path:
    folder = current_app.config.get("IMPORT_FOLDER") or Path(current_app.instance_path) / "imports"
    return Path(folder)


def _store(filename: str, table: tuple[list[str], list[list[str]]]) -> str:
    """Keep a parsed upload for the next steps (as JSON: the preview and the import do
    not parse a large workbook again); returns its token."""
    folder = _folder()
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in folder.iterdir():  # forget abandoned uploads
        if old.is_dir() and _TOKEN.fullmatch(old.name) and now - old.stat().st_mtime > PENDING_SECONDS:
            shutil.rmtree(old, ignore_errors=True)
    token = secrets.token_hex(16)
    place = folder / token
    place.mkdir(mode=0o700)
    headers, rows = table
    (place / "table.json").write_text(json.dumps({"headers": headers, "rows": rows}, ensure_ascii=False),
                                      encoding="utf-8")
    (place / "meta.json").write_text(json.dumps({"user_id": current_user.id, "filename": filename,
                                                 "uploaded_at": now}))
    return token


def _pending(token: str | None) -> tuple[Path, dict]:
    """The folder and metadata of the current user's upload ``token`` (404 otherwise)."""
    if not token or not _TOKEN.fullmatch(token):
        abort(404)
    place = _folder() / token
    try:
        meta = json.loads((place / "meta.json").read_text())
    except (OSError, ValueError):
        abort(404)
    if meta.get("user_id") != current_user.id or not (place / "table.json").exists():
        abort(404)
    return place, meta


def _cell(text) -> str:
    """A report cell; text that a spreadsheet would run as a formula is quoted."""
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def error_report(errors) -> bytes:
    """The errors as CSV (UTF-8 with BOM, so Excel shows the Chinese right)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([gettext("Row"), gettext("Field"), gettext("Problem")])
    writer.writerows([error.row, _cell(error.field), _cell(error.message)] for error in errors)
    return out.getvalue().encode("utf-8-sig")


# ------------------------------------------------------------------------- the view
class ClientImportMixin:
    """Adds /import/ to the client view. Put it before CrmModelView in the bases."""

    import_template = "admin/crm/client_import.html"
    import_preview_rows = 10

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # the pages need client.import (merged into what the view class declares)
        cls.view_operations = {**getattr(cls, "view_operations", {}),
                               "import_view": "import", "import_errors_view": "import"}

    def list_buttons(self) -> list[tuple[str, str]]:
        """(label, url) of extra buttons for the list page."""
        parent = getattr(super(), "list_buttons", None)
        buttons = list(parent()) if parent else []
        if self.allowed("import"):
            buttons.append((gettext("Import"), self.get_url(".import_view")))
        return buttons

    @expose("/import/", methods=("GET", "POST"))
    def import_view(self):
        token = request.values.get("token")
        if request.method == "POST" and "file" in request.files:
            return self._import_upload()
        if token is None:
            return self.render(self.import_template, stage="upload", **self._import_context())
        place, meta = _pending(token)
        table = json.loads((place / "table.json").read_text(encoding="utf-8"))
        headers, rows = table["headers"], table["rows"]
        guessed = guess_mapping(headers)
        if request.method == "GET":
            return self._import_preview(token, meta, headers, rows, guessed)
        mapping = [request.form.get(f"map_{i}", guessed[i] or "") or None for i in range(len(headers))]
        actor = current_user._get_current_object()
        clean, errors = validate(rows, mapping, actor)
        if errors:
            (place / "errors.csv").write_bytes(error_report(errors))
            return self._import_preview(token, meta, headers, rows, mapping, errors=errors)
        try:
            count = commit(clean, actor, source=meta["filename"])
        except Exception as exc:  # noqa: BLE001 - e.g. a client saved meanwhile with the same USCC
            if not self.handle_view_exception(exc):
                raise
            return self._import_preview(token, meta, headers, rows, mapping)
        shutil.rmtree(place, ignore_errors=True)
        flash(gettext("%(count)s clients imported.", count=count), "success")
        return redirect(self.get_url(".index_view"))

    @expose("/import/errors/<token>/")
    def import_errors_view(self, token):
        place, meta = _pending(token)
        report = place / "errors.csv"
        if not report.exists():
            abort(404)
        name = gettext("%(name)s-errors.csv", name=Path(meta["filename"]).stem)
        return send_file(report, mimetype="text/csv", as_attachment=True, download_name=name, max_age=0)

    # -- steps ------------------------------------------------------------------
    def _import_context(self, **kwargs):
        return {"fields": [(f, field_label(f), f in REQUIRED) for f in FIELDS], **kwargs}

    def _import_upload(self):
        upload = request.files["file"]
        if not upload.filename:
            flash(gettext("Choose a CSV or XLSX file to import."), "error")
            return self.render(self.import_template, stage="upload", **self._import_context())
        try:
            table = read_table(upload.filename, upload.read())
        except ImportFileError as exc:
            flash(str(exc), "error")
            return self.render(self.import_template, stage="upload", **self._import_context()), 400
        return redirect(self.get_url(".import_view", token=_store(upload.filename, table)))

    def _import_preview(self, token, meta, headers, rows, mapping, errors=None):
        context = self._import_context(
            stage="preview", token=token, filename=meta["filename"], headers=headers, mapping=mapping,
            rows=rows[:self.import_preview_rows], row_count=sum(1 for r in rows if any(r)),
            own_only=current_user.data_scope not in ("all", "department"),
            errors=(errors or [])[:ERRORS_SHOWN], error_count=len(errors or []),
            report_url=self.get_url(".import_errors_view", token=token) if errors else None)
        return self.render(self.import_template, **context)
