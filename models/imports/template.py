"""The import template of a kind (issue 14 item 3): an XLSX whose first sheet holds the
kind's headings (labels in the user's language, which :func:`guess_mapping` recognises)
and one example row, and whose second sheet lists the values allowed in each lookup
column (the active lookup values, the records the user may name, the genders, the
scores) — so a clerk fills the file in Excel and the import maps it unchanged."""

from __future__ import annotations

import io

from flask_babel import gettext
from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import select

from .. import db
from ..auth import User
from ..customers import GENDERS, SCORES
from ..scope import scoped, users_in_scope_clause
from .mapping import ImportKind

#: an example cell per field (fields of several kinds share a name); lookups and the owner
#: are taken from the database
EXAMPLES: dict[str, str] = {
    "name": "示例科技有限公司",
    "company_name": "示例科技有限公司",
    "uscc": "91330100799655058B",
    "address": "浙江省杭州市西湖区文三路100号",
    "phone": "0571-88886666",
    "fax": "0571-88886667",
    "zip_code": "310000",
    "website": "www.example.com",
    "email": "contact@example.com",
    "contact_name": "张三",
    "contact_position": "经理",
    "contact_mobile": "13900000000",
    "mobile": "13900000000",
    "main_business": "软件开发",
    "notes": "示例 / example",
}
#: at most this many allowed values are listed per column
VALUES_LISTED = 1000


def _allowed(kind: ImportKind, field: str, actor) -> list[str] | None:
    """The values a lookup column accepts, or None for a free column."""
    if field == "contact_gender":
        return [code for code, _ in GENDERS]
    if field in ("satisfaction", "credit"):
        return [str(value) for value, _ in SCORES]
    model = kind.related(field)
    if model is None:
        return None
    if model is User:
        query = select(User.username).where(User.is_active.is_(True), User.live()).order_by(User.username)
        clause = users_in_scope_clause(actor)
        query = query if clause is None else query.where(clause)
        return list(db.session.execute(query.limit(VALUES_LISTED)).scalars())
    query = scoped(select(model.name), model, actor)
    if getattr(model, "is_active", None) is not None:
        query = query.where(model.is_active.is_(True))
    if hasattr(model, "live"):
        query = query.where(model.live())
    order = getattr(model, "sort_order", None)
    query = query.order_by(*((order,) if order is not None else ()), model.id)
    return list(db.session.execute(query.limit(VALUES_LISTED)).scalars())


def template_xlsx(kind: ImportKind, actor) -> bytes:
    """The XLSX template of ``kind`` for ``actor`` (whose scope limits the records listed)."""
    book = Workbook()
    sheet = book.active
    sheet.title = gettext("Import")
    values = book.create_sheet(gettext("Allowed values"))
    bold = Font(bold=True)
    column = 0
    for index, field in enumerate(kind.fields, start=1):
        label = kind.label(field)
        allowed = _allowed(kind, field, actor)
        if field == "owner":
            example = actor.username
        elif allowed is not None:
            example = allowed[0] if allowed else ""
        else:
            example = EXAMPLES.get(field, "")
        sheet.cell(row=1, column=index, value=label).font = bold
        sheet.cell(row=2, column=index, value=example).number_format = "@"
        sheet.column_dimensions[sheet.cell(row=1, column=index).column_letter].width = max(12, 2 * len(label) + 4)
        if allowed is not None:
            column += 1
            values.cell(row=1, column=column, value=label).font = bold
            for row, value in enumerate(allowed, start=2):
                values.cell(row=row, column=column, value=value)
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
