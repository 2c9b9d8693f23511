"""Uploaded files (SPEC §4.3 contract scans, §8 security): PDF/PNG/JPEG only, checked by
their content — the magic bytes, then the real file structure (pypdf reads the PDF's
pages, Pillow verifies the image) and no HTML or script anywhere — not just the
extension, at most ``upload_max_mb``
(system_config, default 10), stored under UPLOAD_FOLDER with a random name and served
only through /files/<id> (views/files.py).

* :func:`store_upload` — check and store one upload in the caller's transaction; the
  written file is removed again when that transaction does not commit.
* :class:`ScanUploadMixin` — adds the upload field to a CrmModelView's create/edit forms
  and stores the upload in ``on_model_change`` (same transaction as the record).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import unicodedata
from pathlib import Path

from flask import current_app, has_request_context, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape
from wtforms import FileField
from wtforms.validators import ValidationError

from models import db, settings
from models.base import FieldError
from models.customers import StoredFile
from models.uploads import remember_written_file

#: kind → (magic bytes at offset 0, extensions that may carry it, content type, display name)
KINDS = {
    "pdf": (b"%PDF-", (".pdf",), "application/pdf", "PDF"),
    "png": (b"\x89PNG\r\n\x1a\n", (".png",), "image/png", "PNG"),
    "jpeg": (b"\xff\xd8\xff", (".jpg", ".jpeg"), "image/jpeg", "JPEG"),
}
#: markers of HTML/script content, looked for in the whole of every upload (a file that
#: is a PDF but also carries a page or a script is refused). Long enough never to occur
#: by chance in compressed image or PDF data; ``<?xml`` is not one: PDFs carry XMP metadata.
ACTIVE_MARKERS = (
    b"<script",
    b"<html",
    b"<!doctype html",
    b"<body",
    b"<iframe",
    b"javascript:",
    b"/javascript",
    b"/launch",
)
#: short markers, looked for in the head only (four bytes occur by chance in megabytes)
HEAD_MARKERS = (b"<svg",)
HEAD = 1024


def _mb(value: float) -> str:
    return f"{value:g}"


def _kind_names(allowed) -> str:
    return ", ".join(KINDS[k][3] for k in allowed)


def _describe(data: bytes) -> str:
    """What an unrecognised file looks like, for the refusal message."""
    head = data[:HEAD].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<") or any(m in head for m in ACTIVE_MARKERS + HEAD_MARKERS):
        return gettext("an HTML page or a script")
    if head.startswith(b"#!"):
        return gettext("a script")
    if head.startswith(b"mz"):
        return gettext("a program")
    if head.startswith(b"pk\x03\x04"):
        return gettext("a ZIP archive or an Office document")
    return gettext("not a recognised file type")


def safe_name(filename: str | None, fallback_ext: str) -> str:
    """The file name without any directory part, control or reserved characters
    (Chinese names are kept, unlike ``werkzeug.utils.secure_filename``)."""
    name = unicodedata.normalize("NFC", filename or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r'[<>:"|?*]', "_", name).strip(" .")
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:190] + dot + ext[:9]) if dot else name[:200]
    return name or (f"upload{fallback_ext}" if fallback_ext else "")


def check_upload(file_storage, label, allowed=("pdf", "png", "jpeg"), max_mb=None):
    """Read and check an upload; returns ``(data, kind, original name)`` or raises
    :class:`FieldError` naming ``label`` and saying how to fix it. Nothing is written."""
    label = str(label)
    allowed = tuple(k for k in allowed if k in KINDS)
    raw_name = getattr(file_storage, "filename", None) or ""
    filename = safe_name(raw_name, "")  # what the messages show
    ext = os.path.splitext(filename)[1].lower()
    accepted_ext = [e for k in allowed for e in KINDS[k][1]]
    if ext not in accepted_ext:
        raise FieldError(
            label,
            gettext(
                "only %(kinds)s files are accepted (the file %(name)s is not one). "
                "Scan or save the document as %(kinds)s and upload it again.",
                kinds=_kind_names(allowed),
                name=filename or "?",
            ),
        )
    limit_mb = float(max_mb) if max_mb else settings.upload_max_mb()
    limit = int(limit_mb * 1024 * 1024)
    stream = file_storage.stream
    if hasattr(stream, "seek"):
        try:
            stream.seek(0)
        except OSError:
            pass
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise FieldError(
            label,
            gettext(
                "the file %(name)s is larger than %(mb)s MB, the upload limit. Upload a smaller "
                "file (e.g. scan at a lower resolution or compress the PDF).",
                name=filename,
                mb=_mb(limit_mb),
            ),
        )
    if not data:
        raise FieldError(label, gettext("the file %(name)s is empty. Choose the right file.", name=filename))
    kind = next((k for k, spec in KINDS.items() if data.startswith(spec[0])), None)
    if kind is None or kind not in allowed:
        what = KINDS[kind][3] if kind else _describe(data)
        raise FieldError(
            label,
            gettext(
                "the content of %(name)s is %(what)s, not %(kinds)s. Only real %(kinds)s files are "
                "accepted: upload the scan itself.",
                name=filename,
                what=what,
                kinds=_kind_names(allowed),
            ),
        )
    if ext not in KINDS[kind][1]:
        raise FieldError(
            label,
            gettext(
                "the file %(name)s is named %(ext)s but its content is %(kind)s. Rename it to "
                "%(right)s or upload the right file.",
                name=filename,
                ext=ext,
                kind=KINDS[kind][3],
                right=KINDS[kind][1][0],
            ),
        )
    if has_active_content(data):
        raise FieldError(
            label,
            gettext(
                "the file %(name)s contains HTML or script code and is refused. Upload a plain scan.", name=filename
            ),
        )
    if not is_well_formed(data, kind):
        raise FieldError(
            label,
            gettext(
                "the file %(name)s starts like a %(kind)s but is damaged or not a real %(kind)s "
                "(it cannot be opened). Save or scan the document again and upload the new file.",
                name=filename,
                kind=KINDS[kind][3],
            ),
        )
    return data, kind, safe_name(raw_name, KINDS[kind][1][0])


def has_active_content(data: bytes) -> bool:
    """True when HTML or script code is anywhere in the file (or an SVG at its head)."""
    lowered = data.lower()
    return any(m in lowered for m in ACTIVE_MARKERS) or any(m in lowered[:HEAD] for m in HEAD_MARKERS)


def is_well_formed(data: bytes, kind: str) -> bool:
    """Whether the file really is a ``kind`` file: pypdf opens the PDF and finds at least
    one page; Pillow opens and verifies the PNG or JPEG (and refuses decompression bombs)."""
    import io

    try:
        if kind == "pdf":
            from pypdf import PdfReader

            return len(PdfReader(io.BytesIO(data)).pages) > 0
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            if image.format not in {"png": ("PNG",), "jpeg": ("JPEG", "MPO")}[kind]:  # MPO: camera JPEGs
                return False
            image.verify()
        return True
    except Exception:  # noqa: BLE001 — any parser failure means: not a file we can accept
        return False


def store_upload(file_storage, allowed=("pdf", "png", "jpeg"), max_mb=None, label=None) -> StoredFile:
    """Check an upload (see :func:`check_upload`), write it under UPLOAD_FOLDER with a
    random name and add its :class:`StoredFile` row to the session (not flushed). The
    file is removed again if the session's transaction ends without a commit."""
    label = label or gettext("File")
    data, kind, original = check_upload(file_storage, label, allowed, max_mb)
    folder = Path(current_app.config["UPLOAD_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    session = db.session()
    stored_name = f"{secrets.token_hex(16)}{KINDS[kind][1][0]}"
    path = folder / stored_name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    remember_written_file(session, path)  # removed again unless the transaction commits
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    user_id = current_user.id if has_request_context() and current_user.is_authenticated else None
    stored = StoredFile(
        original_name=original,
        stored_name=stored_name,
        content_type=KINDS[kind][2],
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_by_id=user_id,
    )
    session.add(stored)
    return stored


# ----------------------------------------------------------------------------- the form
class UploadField(FileField):
    """A file input whose value is not copied onto the model (the view stores it), checked
    by content while the form validates, so a refusal shows next to the field."""

    allowed = ("pdf", "png", "jpeg")

    def populate_obj(self, obj, name):
        pass

    def pre_validate(self, form):
        if _has_file(self.data):
            try:
                check_upload(self.data, self.label.text, self.allowed)
            except FieldError as exc:
                raise ValidationError(exc.message) from None


def _has_file(value) -> bool:
    return bool(value is not None and getattr(value, "filename", None))


class ScanUploadMixin:
    """For CrmModelView subclasses whose model has a ``<scan_column>`` relationship to
    StoredFile (``scan_file`` → ``scan_file_id``): a "scan_upload" file field on create and
    edit forms; a valid upload is stored in the record's own transaction. Put it first in
    the bases: ``class ContractView(ScanUploadMixin, ClientChildView)``."""

    scan_column = "scan_file"
    scan_field = "scan_upload"
    scan_allowed = ("pdf", "png", "jpeg")

    def scan_label(self):
        return self.column_labels.get(self.scan_column) or _l("File")

    def scaffold_form(self):
        form_class = super().scaffold_form()
        field_class = type("ScanUploadField", (UploadField,), {"allowed": self.scan_allowed})
        accept = ",".join(
            [e for k in self.scan_allowed for e in KINDS[k][1]] + [KINDS[k][2] for k in self.scan_allowed]
        )
        setattr(form_class, self.scan_field, field_class(self.scan_label(), render_kw={"accept": accept}))
        return form_class

    def _describe_scan_field(self, form, obj=None):
        field = form._fields.get(self.scan_field)
        if field is None:
            return form
        text = escape(
            gettext(
                "%(kinds)s only, at most %(mb)s MB.",
                kinds=_kind_names(self.scan_allowed),
                mb=_mb(settings.upload_max_mb()),
            )
        )
        current = getattr(obj, self.scan_column, None) if obj is not None else None
        if current is not None:
            text += Markup(' {} <a href="{}">{}</a>. {}').format(
                gettext("Current file:"),
                url_for("files.download", file_id=current.id),
                current.original_name,
                gettext("Uploading a new file replaces it."),
            )
        field.description = Markup(text)
        return form

    def create_form(self, obj=None):
        return self._describe_scan_field(super().create_form(obj))

    def edit_form(self, obj=None):
        return self._describe_scan_field(super().edit_form(obj), obj)

    def on_model_change(self, form, model, is_created):
        super().on_model_change(form, model, is_created)
        field = form._fields.get(self.scan_field)
        if field is not None and _has_file(field.data):
            stored = store_upload(field.data, self.scan_allowed, label=str(self.scan_label()))
            setattr(model, self.scan_column, stored)  # sets scan_file_id at the flush
