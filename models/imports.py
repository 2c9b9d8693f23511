"""Import of clients from CSV and XLSX files (SPEC §4.3 "Import"): read a table, guess
which column holds which client field, validate every row, commit all or nothing.

No Flask request code here: the view, the benchmark and tests call the same four
functions — :func:`read_table`, :func:`guess_mapping`, :func:`validate`, :func:`commit`.

Row numbers are the file's row numbers as a spreadsheet shows them: the headings are
row 1, the first data row is row 2.
"""
from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import NamedTuple

from flask_babel import gettext
from sqlalchemy import select

from . import db
from .audit import audit_note
from .auth import User, department_subtree_ids
from .customers import GENDERS, SCORES, Client, Linkman, normalise_name

#: the client fields a file may fill, in the order the mapping offers them; lookups and
#: the owner are named by their relationship (the file holds names, not ids)
FIELDS: tuple[str, ...] = (
    "name", "uscc", "address", "phone", "fax", "zip_code", "website", "email", "trade", "area",
    "contact_name", "contact_gender", "contact_position", "contact_mobile", "type", "star", "source",
    "main_business", "notes", "revenue_band", "capital_band", "size", "model", "owner",
    "satisfaction", "credit",
)

#: headings recognised besides the field name and its label in either language: the
#: design documents' Chinese labels and column names (SPEC §4.3) and common variants
ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("公司名称", "cname", "客户名称", "企业名称", "公司", "客户", "company", "client"),
    "uscc": ("统一社会信用代码", "社会信用代码", "信用代码", "uscc", "credit code"),
    "address": ("公司地址", "地址", "company address", "address"),
    "phone": ("联系电话", "电话", "公司电话", "telephone", "tel"),
    "fax": ("传真号码", "传真"),
    "zip_code": ("邮编", "邮政编码", "postcode", "postal code", "zip"),
    "website": ("企业网站", "网站", "网址", "web"),
    "email": ("电子邮件", "电子邮箱", "邮箱", "email", "mail"),
    "trade": ("产品分类", "产品分类/行业", "行业", "trade", "industry"),
    "area": ("所属地区", "地区", "城市", "region"),
    "contact_name": ("联系人", "clname", "联系人姓名", "contact name", "contact person"),
    "contact_gender": ("性别", "联系人性别", "contact gender"),
    "contact_position": ("职位", "联系人职位", "contact position"),
    "contact_mobile": ("常用手机", "手机", "手机号", "手机号码", "联系人手机", "移动电话",
                       "mobile", "contact mobile", "mobile phone", "cell phone"),
    "type": ("客户类型", "类型", "type"),
    "star": ("星级评定", "星级", "star", "stars"),
    "source": ("客户来源", "来源", "source"),
    "main_business": ("主营项目", "cproject", "主营业务", "主营"),
    "notes": ("备注其它", "备注其他", "ccontent", "备注", "notes", "remarks"),
    "revenue_band": ("年营业额", "营业额", "revenue"),
    "capital_band": ("注册资金", "注册资本", "capital"),
    "size": ("企业规模", "规模", "size"),
    "model": ("经营模式", "business model"),
    "owner": ("跟单人", "cuser", "负责人", "客户经理", "owner"),
    "satisfaction": ("满意度",),
    "credit": ("信用度", "credit"),
}

#: more rows than this are refused (split the file)
MAX_ROWS = 50_000

_GENDER_WORDS = {"男": "男", "女": "女", "未说明": "未说明", "male": "男", "female": "女",
                 "m": "男", "f": "女", "unspecified": "未说明"}


class ImportFileError(ValueError):
    """The file cannot be read as a table (wrong type, broken file, unknown encoding)."""


class RowError(NamedTuple):
    """One problem: the file row (1 = headings), the field's label and what is wrong."""

    row: int
    field: str
    message: str


# ------------------------------------------------------------------------ fields
def _column(field: str):
    """The clients column behind an import field (``area`` → ``area_id``)."""
    columns = Client.__table__.c
    return columns.get(field) if field in columns else columns.get(f"{field}_id")


def _target(field: str):
    """The class a relationship field names (a lookup or User), else None."""
    rel = Client.__mapper__.relationships.get(field)
    return rel.mapper.class_ if rel is not None else None


#: fields a row must fill (the owner defaults to the importing user)
REQUIRED: tuple[str, ...] = tuple(f for f in FIELDS if f != "owner" and not _column(f).nullable)


def field_label(field: str) -> str:
    """The field's column label in the current language."""
    return str(_column(field).info.get("label", field))


def _key(text) -> str:
    """Heading comparison key: NFKC, case-folded, without spaces, marks and punctuation."""
    key = unicodedata.normalize("NFKC", str(text or "")).casefold()
    return re.sub(r"[\s*:_\-.·]+", "", key)


def _heading_keys(field: str) -> set[str]:
    label = _column(field).info.get("label")
    names = {field, field.replace("_", " "), *ALIASES.get(field, ())}
    if label is not None:
        names.add(str(getattr(label, "_args", (label,))[0]))  # the English msgid
        try:
            names.add(str(label))  # the label in the current language
        except Exception:  # noqa: BLE001 - outside an app context there is no locale
            pass
    return {_key(name) for name in names if name}


def guess_mapping(headers: Sequence[str]) -> list[str | None]:
    """For each heading, the client field it most likely holds (or None): matched by
    field name, English or Chinese label, or a known variant ("公司名称", "Company name",
    "name" → ``name``); a "(…)" note in the heading is ignored. Each field is used once."""
    lookup: dict[str, str] = {}
    for field in FIELDS:
        for key in _heading_keys(field):
            lookup.setdefault(key, field)
    mapping: list[str | None] = []
    used: set[str] = set()
    for header in headers:
        key = _key(header)
        field = lookup.get(key) or lookup.get(_key(re.sub(r"[(（\[【].*?[)）\]】]", "", str(header or ""))))
        if field in used:
            field = None
        if field:
            used.add(field)
        mapping.append(field)
    return mapping


# ------------------------------------------------------------------------- reading
def read_table(filename: str, data: bytes) -> tuple[list[str], list[list[str]]]:
    """The headings (first row) and the data rows of a .csv or .xlsx file, every cell a
    stripped string, every row as long as the headings. CSV may be UTF-8 (with or
    without BOM), UTF-16 with BOM or GB18030; delimiter comma, semicolon or tab.
    Raises :class:`ImportFileError` with a message for the user otherwise."""
    suffix = Path(filename or "").suffix.lower()
    if suffix == ".csv":
        headers, rows = _read_csv(data)
    elif suffix == ".xlsx":
        headers, rows = _read_xlsx(data)
    elif suffix in (".xls", ".et", ".ods", ".numbers", ".wps"):
        raise ImportFileError(gettext(
            "%(name)s: this spreadsheet format cannot be read. Save it as Excel workbook (.xlsx) "
            "or CSV and upload it again.", name=filename))
    else:
        raise ImportFileError(gettext(
            "%(name)s: only CSV (.csv) and Excel (.xlsx) files can be imported.", name=filename or "?"))
    while rows and not any(rows[-1]):
        rows.pop()
    if not any(headers):
        raise ImportFileError(gettext("The first row must hold the column headings."))
    if len(rows) > MAX_ROWS:
        raise ImportFileError(gettext("The file has %(count)s rows; at most %(max)s can be imported "
                                      "at once. Split the file.", count=len(rows), max=MAX_ROWS))
    width = len(headers)
    rows = [(row + [""] * (width - len(row)))[:width] for row in rows]
    return headers, rows


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError(gettext("The CSV file is neither UTF-8 nor GB18030 text. Save it as "
                                  "\"CSV UTF-8\" and upload it again."))


def _read_csv(data: bytes):
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportFileError(gettext("The file is not a text CSV file. Save it as CSV or .xlsx."))
    try:
        text = _decode(data)
    except UnicodeDecodeError:
        raise ImportFileError(gettext("The CSV file is neither UTF-8 nor GB18030 text. Save it as "
                                      "\"CSV UTF-8\" and upload it again.")) from None
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count) if first_line else ","
    try:
        table = [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text, newline=""),
                                                                        delimiter=delimiter)]
    except csv.Error as exc:
        raise ImportFileError(gettext("The CSV file is malformed: %(detail)s", detail=str(exc))) from None
    if not table:
        raise ImportFileError(gettext("The file is empty."))
    return table[0], table[1:]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # phone numbers typed as numbers come back as 13812345678.0
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d" if value.time() == time(0) else "%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _read_xlsx(data: bytes):
    from openpyxl import load_workbook

    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ImportFileError(gettext("The file is not a valid Excel workbook (.xlsx)."))
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - openpyxl raises many kinds for broken files
        raise ImportFileError(gettext("The file is not a valid Excel workbook (.xlsx).")) from None
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        table = [[_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)] if sheet else []
    finally:
        workbook.close()
    if not table:
        raise ImportFileError(gettext("The file is empty."))
    return table[0], table[1:]


# ---------------------------------------------------------------------- validation
def _plain(text: str) -> str:
    """Comparison key of a lookup value or a user name."""
    return unicodedata.normalize("NFKC", text).strip().casefold()


def _lookup_table(model):
    """name key → (id, active) of one lookup table (one query)."""
    return {_plain(name): (id_, active) for id_, name, active in
            db.session.execute(select(model.id, model.name, model.is_active))}


def _lookup_hint(model) -> str:
    names = db.session.execute(select(model.name).where(model.is_active.is_(True))
                               .order_by(model.sort_order, model.id).limit(16)).scalars().all()
    if len(names) <= 15:
        return gettext("use one of: %(values)s", values=", ".join(names))
    return gettext("use a value of the lookup table %(table)s", table=str(getattr(model, "__label__", "")))


class _Owners:
    """Resolves the owner column: by username, else by full name; within the actor's scope."""

    def __init__(self, actor):
        self.actor = actor
        rows = db.session.execute(select(User.id, User.username, User.name, User.department_id)
                                  .where(User.is_active.is_(True), User.is_deleted.is_(False))).all()
        self.by_username = {_plain(r.username): r for r in rows}
        self.by_name: dict[str, list] = {}
        for r in rows:
            self.by_name.setdefault(_plain(r.name), []).append(r)
        scope = actor.data_scope
        self.own_only = scope not in ("all", "department")
        self.allowed_ids = None  # None: anyone
        if scope == "department":
            departments = set(department_subtree_ids(actor.department_id))
            self.allowed_ids = {r.id for r in rows if r.department_id in departments} | {actor.id}

    def resolve(self, text: str) -> tuple[int | None, str | None]:
        """(user id, None) or (None, message)."""
        if self.own_only or not text:
            return self.actor.id, None  # own-scope users import for themselves
        key = _plain(text)
        user = self.by_username.get(key)
        if user is None:
            named = self.by_name.get(key, [])
            if len(named) > 1:
                return None, gettext("several users are called %(name)s: give the username (%(usernames)s)",
                                     name=text, usernames=", ".join(sorted(u.username for u in named)))
            user = named[0] if named else None
        if user is None:
            return None, gettext("no active user %(name)s: give a username or a full name", name=text)
        if self.allowed_ids is not None and user.id not in self.allowed_ids:
            return None, gettext("%(name)s is not in your department: you may assign clients only to "
                                 "users of your department", name=text)
        return user.id, None


def _chunks(values, size=500):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]


def existing_duplicates(usccs=(), name_keys=(), mobiles=()):
    """The clients an import would duplicate, looked up in bulk — the rules of
    :func:`models.customers.find_duplicates` (live clients with the same USCC, the same
    normalised name, or a contact mobile that is a client's or a linkman's), plus any
    client, even in the recycle bin, holding a USCC (the column is unique).
    Returns three dicts: uscc → (id, name, deleted), name key → (id, name),
    mobile → (id, name)."""
    by_uscc, by_name, by_mobile = {}, {}, {}
    for chunk in _chunks(set(usccs)):
        for id_, name, uscc, deleted in db.session.execute(
                select(Client.id, Client.name, Client.uscc, Client.is_deleted).where(Client.uscc.in_(chunk))):
            by_uscc[uscc] = (id_, name, deleted)
    live = Client.is_deleted.is_(False)
    for chunk in _chunks(set(name_keys)):
        for id_, name, key in db.session.execute(
                select(Client.id, Client.name, Client.name_key).where(live, Client.name_key.in_(chunk))
                .order_by(Client.id)):
            by_name.setdefault(key, (id_, name))
    for chunk in _chunks(set(mobiles)):
        for id_, name, mobile in db.session.execute(
                select(Client.id, Client.name, Client.contact_mobile)
                .where(live, Client.contact_mobile.in_(chunk)).order_by(Client.id)):
            by_mobile.setdefault(mobile, (id_, name))
        for id_, name, mobile in db.session.execute(
                select(Client.id, Client.name, Linkman.mobile).join(Linkman, Linkman.client_id == Client.id)
                .where(live, Linkman.mobile.in_(chunk)).order_by(Client.id)):
            by_mobile.setdefault(mobile, (id_, name))
    return by_uscc, by_name, by_mobile


def validate(rows: Sequence[Sequence[str]], mapping, actor) -> tuple[list[dict], list[RowError]]:
    """Check every row as the import would save it. ``mapping`` gives, per file column,
    the field it fills (see :data:`FIELDS`) or None to ignore it. ``actor`` is the
    importing user: owner of rows without one, and whose data scope limits the owners
    a row may name (own scope: the actor owns every row).

    Returns ``(clean_rows, errors)``: clean rows are keyword dicts for ``Client`` with
    normalised values and ids resolved; errors are :class:`RowError` in file order.
    A lookup is resolved by name among active values, duplicates are looked for in the
    database and within the file. A few queries in all, whatever the number of rows."""
    pairs = mapping.items() if isinstance(mapping, Mapping) else enumerate(mapping)
    errors: list[RowError] = []
    seen: dict[str, int] = {}  # field → file column index
    for index, field in sorted(pairs):
        if field not in FIELDS:
            continue  # None / "" / anything unknown: the column is ignored
        if field in seen:
            errors.append(RowError(1, field_label(field), gettext(
                "columns %(first)s and %(second)s both fill this field: choose one", first=seen[field] + 1,
                second=index + 1)))
        seen.setdefault(field, index)
    for field in REQUIRED:
        if field not in seen:
            errors.append(RowError(1, field_label(field), gettext(
                "required field: no column of the file is mapped to it")))
    if errors:
        return [], errors

    labels = {field: field_label(field) for field in FIELDS}
    lookups = {field: (_target(field), _lookup_table(_target(field)))
               for field in seen if field != "owner" and _target(field) is not None}
    hints: dict[str, str] = {}
    owners = _Owners(actor)
    genders = {**_GENDER_WORDS, **{_plain(str(text)): code for code, text in GENDERS}}
    scores = {str(value) for value, _ in SCORES}
    columns = {field: _column(field) for field in seen}

    cleaned: list[tuple[int, dict]] = []
    for offset, cells in enumerate(rows):
        number = offset + 2
        if not any(cells):
            continue  # blank lines between the rows are harmless
        values = {field: (cells[index] if index < len(cells) else "").strip() for field, index in seen.items()}
        row: dict = {}
        row_errors: list[RowError] = []

        def refuse(field, message):
            row_errors.append(RowError(number, labels[field], message))

        for field, text in values.items():
            column = columns[field]
            if not text:
                if field in REQUIRED:
                    refuse(field, gettext("required: the cell is empty"))
                continue
            if field == "owner":
                continue
            if field in lookups:
                model, table = lookups[field]
                found = table.get(_plain(text))
                if found is None:
                    if field not in hints:
                        hints[field] = _lookup_hint(model)
                    refuse(field, gettext("unknown value “%(value)s”: %(hint)s", value=text, hint=hints[field]))
                elif not found[1]:
                    refuse(field, gettext("“%(value)s” is inactive: choose an active value", value=text))
                else:
                    row[column.key] = found[0]
                continue
            if field == "contact_gender":
                value = genders.get(_plain(text))
                if value is None:
                    refuse(field, gettext("must be one of %(values)s", values="男, 女, 未说明"))
                else:
                    row[field] = value
                continue
            if field in ("satisfaction", "credit"):
                if text not in scores:
                    refuse(field, gettext("must be a whole number from 1 to 5"))
                else:
                    row[field] = int(text)
                continue
            check = column.info.get("check")
            if check is not None:
                try:
                    text = check(text)
                except ValueError as exc:
                    refuse(field, f"“{values[field]}”: {exc}")
                    continue
            length = getattr(column.type, "length", None)
            if length and len(text) > length:
                refuse(field, gettext("at most %(max)s characters (this cell has %(count)s)",
                                      max=length, count=len(text)))
                continue
            row[field] = text
        owner_id, problem = owners.resolve(values.get("owner", ""))
        if problem:
            refuse("owner", problem)
        row["owner_id"] = owner_id
        errors.extend(row_errors)
        if not row_errors:
            cleaned.append((number, row))

    # duplicates: earlier rows of the file first, then the database
    first: dict[tuple[str, str], int] = {}
    keyed = []
    for number, row in cleaned:
        keys = (("uscc", row.get("uscc")), ("name", normalise_name(row.get("name"))),
                ("contact_mobile", row.get("contact_mobile")))
        keys = [(field, value) for field, value in keys if value]
        keyed.append((number, row, keys))
        for field, value in keys:
            earlier = first.setdefault((field, value), number)
            if earlier != number:
                errors.append(RowError(number, labels[field], _same_as_row(field, earlier)))
    by_uscc, by_name, by_mobile = existing_duplicates(
        [r.get("uscc") for _, r in cleaned if r.get("uscc")],
        [normalise_name(r.get("name")) for _, r in cleaned],
        [r.get("contact_mobile") for _, r in cleaned if r.get("contact_mobile")])
    found = {"uscc": by_uscc, "name": by_name, "contact_mobile": by_mobile}
    for number, row, keys in keyed:
        for field, value in keys:
            match = found[field].get(value)
            if match is None:
                continue
            if field == "uscc" and match[2]:
                message = gettext("the unified social credit code belongs to the deleted client "
                                  "#%(id)s %(name)s: restore it from the recycle bin instead",
                                  id=match[0], name=match[1])
            else:
                message = gettext("%(reason)s as the existing client #%(id)s %(name)s",
                                  reason=_REASONS[field](), id=match[0], name=match[1])
            errors.append(RowError(number, labels[field], message))
    errors.sort(key=lambda e: e.row)
    if not cleaned and not errors:
        errors.append(RowError(2, "", gettext("the file holds no rows under the headings")))
    return ([] if errors else [row for _, row in cleaned]), errors


# the reasons of find_duplicates (same msgids, one wording)
_REASONS = {"uscc": lambda: gettext("same unified social credit code"),
            "name": lambda: gettext("same company name"),
            "contact_mobile": lambda: gettext("same contact mobile")}


def _same_as_row(field: str, row: int) -> str:
    if field == "uscc":
        return gettext("same unified social credit code as row %(row)s", row=row)
    if field == "name":
        return gettext("same company name as row %(row)s", row=row)
    return gettext("same contact mobile as row %(row)s", row=row)


# -------------------------------------------------------------------------- commit
def commit(clean_rows: Sequence[dict], actor, source: str | None = None) -> int:
    """Create one client per clean row in one transaction (audited as action ``import``,
    one entry per client, with ``source`` — the file name — as comment) and commit.
    Any failure rolls everything back and re-raises: a file imports completely or not at
    all. Returns the number of clients created."""
    session = db.session
    try:
        clients = [Client(**row) for row in clean_rows]
        for client in clients:
            if client.owner_id is None:
                client.owner_id = actor.id
        audit_note(session, "import", source)
        session.add_all(clients)
        session.flush()
        session.commit()
    except Exception:
        session.rollback()
        raise
    return len(clients)
