"""/files/<id>: uploaded files, served only to users who may see a record that points
at them, always as an attachment (never from static/)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, send_file
from flask_login import current_user, login_required
from sqlalchemy import select

from models import db
from models.customers import Contract, StoredFile
from models.scope import scope_clause

from .helpers import attachment

bp = Blueprint("files", __name__)

#: (model, file column, right) — records whose files a user may download
FILE_OWNERS = [(Contract, Contract.scan_file_id, "contract.view")]


def may_download(file_id: int) -> bool:
    """True when a live record in the user's scope, which the user may view, holds the file."""
    for model, column, right in FILE_OWNERS:
        if not current_user.can(right):
            continue
        query = select(model.id).where(column == file_id)
        if hasattr(model, "is_deleted"):
            query = query.where(model.live())
        clause = scope_clause(model, current_user)
        if clause is not None:
            query = query.where(clause)
        if db.session.execute(query.limit(1)).first():
            return True
    return False


@bp.route("/files/<int:file_id>")
@login_required
def download(file_id: int):
    stored = db.session.get(StoredFile, file_id)
    if stored is None or not may_download(file_id):
        abort(404)
    path = Path(current_app.config["UPLOAD_FOLDER"]) / stored.stored_name
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype=stored.content_type, as_attachment=True, download_name=stored.original_name)
    # a Chinese name needs an ASCII fallback with a stem (Werkzeug would send " .pdf")
    response.headers["Content-Disposition"] = attachment(
        stored.original_name, f"file-{stored.id}{Path(stored.original_name).suffix.lower()}"
    )
    return response
