"""Import of clients from CSV and XLSX files (SPEC §4.3 "Import"): read a table, guess
which column holds which client field, validate every row, commit all or nothing.

No Flask request code here: the view, the benchmark and tests call the same functions —
:func:`read_table` (a stream, stopped at the size limits), :func:`guess_mapping`,
:func:`validate` and :func:`queue_import`, whose background job (models/jobs.py,
``run-jobs``) saves the rows in short transactions and shows them only once all are in.

Row numbers are the file's row numbers as a spreadsheet shows them: the headings are
row 1, the first data row is row 2.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import time as clock
import unicodedata
import zipfile
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import NamedTuple

from flask import current_app
from flask_babel import gettext
from sqlalchemy import and_, event, func, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, with_loader_criteria

from . import db
from .audit import AuditLog, audit_note
from .auth import User, department_subtree_ids
from .base import FieldError, checker_message
from .customers import GENDERS, SCORES, Client, Linkman, normalise_name
from .jobs import Job, JobContext, JobFailed, enqueue, job_kind

#: the client fields a file may fill, in the order the mapping offers them; lookups and
#: the owner are named by their relationship (the file holds names, not ids)
FIELDS: tuple[str, ...] = (
    "name",
    "uscc",
    "address",
    "phone",
    "fax",
    "zip_code",
    "website",
    "email",
    "trade",
    "area",
    "contact_name",
    "contact_gender",
    "contact_position",
    "contact_mobile",
    "type",
    "star",
    "source",
    "main_business",
    "notes",
    "revenue_band",
    "capital_band",
    "size",
    "model",
    "owner",
    "satisfaction",
    "credit",
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
    "contact_mobile": (
        "常用手机",
        "手机",
        "手机号",
        "手机号码",
        "联系人手机",
        "移动电话",
        "mobile",
        "contact mobile",
        "mobile phone",
        "cell phone",
    ),
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

_GENDER_WORDS = {
    "男": "男",
    "女": "女",
    "未说明": "未说明",
    "male": "男",
    "female": "女",
    "m": "男",
    "f": "女",
    "unspecified": "未说明",
}


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
#: more data rows than this are refused (split the file)
MAX_ROWS = 50_000
#: more filled columns than this are refused (the client has 26 fields)
MAX_COLUMNS = 200
#: Excel's own limit for one cell; a longer cell is refused
MAX_CELL_CHARS = 32_767
#: one physical line of a CSV file (MAX_COLUMNS cells and their quotes fit easily)
MAX_LINE_CHARS = 4_000_000
#: all cells together; bounds the memory of a workbook whose XML inflates a lot
MAX_TABLE_CHARS = 60_000_000
#: the workbook's shared string table is loaded whole by openpyxl: refuse a huge one
MAX_SHARED_STRINGS_BYTES = 40 * 1024 * 1024
#: bytes used to recognise the encoding and the delimiter of a CSV file
_SNIFF_BYTES = 64 * 1024


def read_table(filename: str, data) -> tuple[list[str], list[list[str]]]:
    """The headings (first row) and the data rows of a .csv or .xlsx file, every cell a
    stripped string, every row as long as the headings. ``data`` is the file's bytes or
    a binary file object (read as a stream: nothing beyond the limits is read).
    CSV may be UTF-8 (with or without BOM), UTF-16 with BOM or GB18030; delimiter comma,
    semicolon or tab. Reading stops at :data:`MAX_ROWS` rows, :data:`MAX_COLUMNS`
    columns and the cell/line sizes, with a refusal that says what to do.
    Raises :class:`ImportFileError` with a message for the user otherwise."""
    suffix = Path(filename or "").suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        if suffix in (".xls", ".et", ".ods", ".numbers", ".wps"):
            raise ImportFileError(
                gettext(
                    "%(name)s: this spreadsheet format cannot be read. Save it as Excel workbook (.xlsx) "
                    "or CSV and upload it again.",
                    name=filename,
                )
            )
        raise ImportFileError(
            gettext("%(name)s: only CSV (.csv) and Excel (.xlsx) files can be imported.", name=filename or "?")
        )
    stream = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    collector = _Collector()
    if suffix == ".csv":
        _read_csv(stream, collector)
    else:
        _read_xlsx(stream, collector)
    return collector.table()


class _Collector:
    """Receives the rows as they are read and refuses the file at the first limit."""

    def __init__(self):
        self.clear()

    def clear(self) -> None:
        self.headers: list[str] | None = None
        self.rows: list[list[str]] = []
        self.blank_tail = 0  # blank rows not stored yet (harmless unless data follows)
        self.chars = 0

    def add(self, cells: list[str]) -> None:
        while cells and not cells[-1]:
            cells.pop()
        row = len(self.rows) + self.blank_tail + (1 if self.headers is not None else 0) + 1
        if len(cells) > MAX_COLUMNS:
            raise ImportFileError(
                gettext(
                    "Row %(row)s has %(count)s columns; at most %(max)s columns can be imported. Delete the "
                    "columns you do not need (only client fields are imported) and upload the file again.",
                    row=row,
                    count=len(cells),
                    max=MAX_COLUMNS,
                )
            )
        for cell in cells:
            if len(cell) > MAX_CELL_CHARS:
                raise ImportFileError(_cell_too_long(row))
            self.chars += len(cell)
        if self.chars > MAX_TABLE_CHARS:
            raise _too_much_text()
        if self.headers is None:
            self.headers = cells
            return
        if not cells:
            self.blank_tail += 1
            if self.blank_tail > MAX_ROWS:
                raise _too_many_rows()
            return
        if len(self.rows) + self.blank_tail >= MAX_ROWS:
            raise _too_many_rows()
        self.rows.extend([] for _ in range(self.blank_tail))
        self.blank_tail = 0
        self.rows.append(cells)

    def table(self) -> tuple[list[str], list[list[str]]]:
        if self.headers is None:
            raise ImportFileError(gettext("The file is empty."))
        if not any(self.headers):
            raise ImportFileError(gettext("The first row must hold the column headings."))
        width = len(self.headers)
        return self.headers, [(row + [""] * (width - len(row)))[:width] for row in self.rows]


def _too_many_rows() -> ImportFileError:
    return ImportFileError(
        gettext(
            "The file has more than %(max)s rows; at most %(max)s rows can be imported at once. Split the "
            "file into parts of at most %(max)s rows and import them one after another.",
            max=MAX_ROWS,
        )
    )


def _too_much_text() -> ImportFileError:
    return ImportFileError(
        gettext(
            "The file holds more than %(max)s characters of text; split it into smaller files and "
            "import them one after another.",
            max=f"{MAX_TABLE_CHARS:,}",
        )
    )


def _cell_too_long(row: int) -> str:
    return gettext(
        "A cell in row %(row)s is longer than %(max)s characters (the limit of an Excel cell). "
        "Shorten it and upload the file again.",
        row=row,
        max=MAX_CELL_CHARS,
    )


def _encoding(head: bytes) -> tuple[str, int]:
    """(encoding, bytes to skip) of a CSV file from its first bytes; UTF-8 unless those
    bytes are not UTF-8 (GB18030 then)."""
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8", 3
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16", 0
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            return "gb18030", 0
    return "utf-8", 0


def _lines(text):
    """The physical lines of a text stream, each at most MAX_LINE_CHARS long (a file
    without line breaks is refused before it is read whole)."""
    number = 0
    while True:
        line = text.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_CHARS:
            raise ImportFileError(
                gettext(
                    "Line %(line)s of the file is longer than %(max)s characters. Check that the file is a "
                    "table with one client per line, and split or shorten it.",
                    line=number,
                    max=f"{MAX_LINE_CHARS:,}",
                )
            )
        yield line


def _read_csv(stream, collector: _Collector) -> None:
    head = stream.read(_SNIFF_BYTES)
    if b"\x00" in head[:4096] and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportFileError(gettext("The file is not a text CSV file. Save it as CSV or .xlsx."))
    encoding, skip = _encoding(head)
    first_line = head[skip:].split(b"\n", 1)[0].decode(encoding, errors="ignore")
    delimiter = max(",;\t", key=first_line.count) if first_line else ","
    for attempt in (encoding, "gb18030"):
        stream.seek(skip)
        text = io.TextIOWrapper(stream, encoding=attempt, newline="")
        try:
            for cells in csv.reader(_lines(text), delimiter=delimiter):
                collector.add([cell.strip() for cell in cells])
            return
        except UnicodeDecodeError:
            if attempt == "gb18030" or encoding != "utf-8":
                break
            collector.clear()  # not UTF-8 after all: read again as GB18030
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise ImportFileError(_cell_too_long(len(collector.rows) + 2)) from None
            raise ImportFileError(gettext("The CSV file is malformed: %(detail)s", detail=str(exc))) from None
        finally:
            text.detach()
    raise ImportFileError(
        gettext('The CSV file is neither UTF-8 nor GB18030 text. Save it as "CSV UTF-8" and upload it again.')
    )


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


_ROW_TAG = re.compile(rb"<(?:[\w.-]+:)?row\b[^>]*?(/?)>")


def _first_sheet_path(archive: zipfile.ZipFile) -> str | None:
    """The part name of the workbook's first sheet (what openpyxl opens as worksheets[0])."""
    from xml.etree import ElementTree

    try:
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError):
        return None
    sheet = next((el for el in workbook.iter() if el.tag.endswith("}sheet")), None)
    rel_id = next((v for k, v in (sheet.attrib.items() if sheet is not None else ()) if k.endswith("}id")), None)
    target = next((el.get("Target") for el in rels.iter() if el.get("Id") == rel_id), None)
    if not target:
        return None
    return target.lstrip("/") if target.startswith("/") else f"xl/{target}"


def _count_rows(archive: zipfile.ZipFile, path: str, limit: int) -> int:
    """How many non-empty ``<row>`` elements the sheet holds, counted on the inflated XML
    without parsing it (fast), stopping once ``limit`` is passed."""
    count, tail = 0, b""
    with archive.open(path) as part:
        while count <= limit:
            block = part.read(1 << 16)
            if not block:
                break
            data = tail + block
            cut = data.rfind(b"<")
            data, tail = data[:cut], data[cut:]
            count += sum(1 for match in _ROW_TAG.finditer(data) if not match.group(1))
    return count


def _read_xlsx(stream, collector: _Collector) -> None:
    from openpyxl import load_workbook

    if not zipfile.is_zipfile(stream):
        raise ImportFileError(gettext("The file is not a valid Excel workbook (.xlsx)."))
    stream.seek(0)
    try:
        archive = zipfile.ZipFile(stream)
        sizes = {info.filename: info.file_size for info in archive.infolist()}
        path = _first_sheet_path(archive)
        # openpyxl would parse the whole sheet (to find its size) and load every shared
        # string before the first row: count the rows on the raw XML first
        if path in sizes and _count_rows(archive, path, MAX_ROWS + 1) > MAX_ROWS + 1:
            raise _too_many_rows()
        if sizes.get("xl/sharedStrings.xml", 0) > MAX_SHARED_STRINGS_BYTES:
            raise _too_much_text()
        stream.seek(0)
        workbook = load_workbook(stream, read_only=True, data_only=True)
    except ImportFileError:
        raise
    except Exception:  # noqa: BLE001 - openpyxl and zipfile raise many kinds for broken files
        raise ImportFileError(gettext("The file is not a valid Excel workbook (.xlsx).")) from None
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is not None:
            for values in sheet.iter_rows(values_only=True):
                collector.add([_cell(v) for v in values])
    except ImportFileError:
        raise
    except Exception:  # noqa: BLE001 - a damaged sheet part
        raise ImportFileError(gettext("The file is not a valid Excel workbook (.xlsx).")) from None
    finally:
        workbook.close()


# ---------------------------------------------------------------------- validation
def _plain(text: str) -> str:
    """Comparison key of a lookup value or a user name."""
    return unicodedata.normalize("NFKC", text).strip().casefold()


def _lookup_table(model):
    """name key → (id, active) of one lookup table (one query)."""
    return {
        _plain(name): (id_, active)
        for id_, name, active in db.session.execute(select(model.id, model.name, model.is_active))
    }


def _lookup_hint(model) -> str:
    names = (
        db.session.execute(
            select(model.name).where(model.is_active.is_(True)).order_by(model.sort_order, model.id).limit(16)
        )
        .scalars()
        .all()
    )
    if len(names) <= 15:
        return gettext("use one of: %(values)s", values=", ".join(names))
    return gettext("use a value of the lookup table %(table)s", table=str(getattr(model, "__label__", "")))


class _Owners:
    """Resolves the owner column: by username, else by full name; within the actor's scope."""

    def __init__(self, actor):
        self.actor = actor
        rows = db.session.execute(
            select(User.id, User.username, User.name, User.department_id).where(
                User.is_active.is_(True), User.is_deleted.is_(False)
            )
        ).all()
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
                return None, gettext(
                    "several users are called %(name)s: give the username (%(usernames)s)",
                    name=text,
                    usernames=", ".join(sorted(u.username for u in named)),
                )
            user = named[0] if named else None
        if user is None:
            return None, gettext("no active user %(name)s: give a username or a full name", name=text)
        if self.allowed_ids is not None and user.id not in self.allowed_ids:
            return None, gettext(
                "%(name)s is not in your department: you may assign clients only to users of your department", name=text
            )
        return user.id, None


def _chunks(values, size=500):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start : start + size]


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
            select(Client.id, Client.name, Client.uscc, Client.is_deleted).where(Client.uscc.in_(chunk))
        ):
            by_uscc[uscc] = (id_, name, deleted)
    live = Client.is_deleted.is_(False)
    for chunk in _chunks(set(name_keys)):
        for id_, name, key in db.session.execute(
            select(Client.id, Client.name, Client.name_key).where(live, Client.name_key.in_(chunk)).order_by(Client.id)
        ):
            by_name.setdefault(key, (id_, name))
    for chunk in _chunks(set(mobiles)):
        for id_, name, mobile in db.session.execute(
            select(Client.id, Client.name, Client.contact_mobile)
            .where(live, Client.contact_mobile.in_(chunk))
            .order_by(Client.id)
        ):
            by_mobile.setdefault(mobile, (id_, name))
        for id_, name, mobile in db.session.execute(
            select(Client.id, Client.name, Linkman.mobile)
            .join(Linkman, Linkman.client_id == Client.id)
            .where(live, Linkman.mobile.in_(chunk))
            .order_by(Client.id)
        ):
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
            errors.append(
                RowError(
                    1,
                    field_label(field),
                    gettext(
                        "columns %(first)s and %(second)s both fill this field: choose one",
                        first=seen[field] + 1,
                        second=index + 1,
                    ),
                )
            )
        seen.setdefault(field, index)
    for field in REQUIRED:
        if field not in seen:
            errors.append(
                RowError(1, field_label(field), gettext("required field: no column of the file is mapped to it"))
            )
    if errors:
        return [], errors

    labels = {field: field_label(field) for field in FIELDS}
    lookups = {
        field: (_target(field), _lookup_table(_target(field)))
        for field in seen
        if field != "owner" and _target(field) is not None
    }
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

        def refuse(field, message, row_errors=row_errors, number=number):
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
                    refuse(field, f"“{values[field]}”: {checker_message(exc)}")
                    continue
            length = getattr(column.type, "length", None)
            if length and len(text) > length:
                refuse(
                    field, gettext("at most %(max)s characters (this cell has %(count)s)", max=length, count=len(text))
                )
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
        keys = (
            ("uscc", row.get("uscc")),
            ("name", normalise_name(row.get("name"))),
            ("contact_mobile", row.get("contact_mobile")),
        )
        keys = [(field, value) for field, value in keys if value]
        keyed.append((number, row, keys))
        for field, value in keys:
            earlier = first.setdefault((field, value), number)
            if earlier != number:
                errors.append(RowError(number, labels[field], _same_as_row(field, earlier)))
    by_uscc, by_name, by_mobile = existing_duplicates(
        [r.get("uscc") for _, r in cleaned if r.get("uscc")],
        [normalise_name(r.get("name")) for _, r in cleaned],
        [r.get("contact_mobile") for _, r in cleaned if r.get("contact_mobile")],
    )
    found = {"uscc": by_uscc, "name": by_name, "contact_mobile": by_mobile}
    for number, _row, keys in keyed:
        for field, value in keys:
            match = found[field].get(value)
            if match is None:
                continue
            if field == "uscc" and match[2]:
                message = gettext(
                    "the unified social credit code belongs to the deleted client "
                    "#%(id)s %(name)s: restore it from the recycle bin instead",
                    id=match[0],
                    name=match[1],
                )
            else:
                message = gettext(
                    "%(reason)s as the existing client #%(id)s %(name)s",
                    reason=_REASONS[field](),
                    id=match[0],
                    name=match[1],
                )
            errors.append(RowError(number, labels[field], message))
    errors.sort(key=lambda e: e.row)
    if not cleaned and not errors:
        errors.append(RowError(2, "", gettext("the file holds no rows under the headings")))
    return ([] if errors else [row for _, row in cleaned]), errors


# the reasons of find_duplicates (same msgids, one wording)
_REASONS = {
    "uscc": lambda: gettext("same unified social credit code"),
    "name": lambda: gettext("same company name"),
    "contact_mobile": lambda: gettext("same contact mobile"),
}


def _same_as_row(field: str, row: int) -> str:
    if field == "uscc":
        return gettext("same unified social credit code as row %(row)s", row=row)
    if field == "name":
        return gettext("same company name as row %(row)s", row=row)
    return gettext("same contact mobile as row %(row)s", row=row)


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
        state.statement = state.statement.options(
            with_loader_criteria(Client, Client.import_job_id.is_(None), include_aliases=True)
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
IMPORT_JOB = "import_clients"
#: rows per write transaction: short enough that other users' saves hardly wait
CHUNK_ROWS = 500
#: errors kept in the job's result for the page (the report file lists all)
ERRORS_KEPT = 200
#: serialises the last step of concurrent imports on PostgreSQL (SQLite has one writer)
_PG_LOCK_KEY = 8_2026_0008


def queue_import(token: str, mapping, source: str, actor, ip: str | None = None, locale: str | None = None) -> Job:
    """Queue the import of the pending upload ``token`` (see :func:`import_folder`) with
    the column ``mapping`` as a background job run by ``run-jobs``; the caller commits.
    The job validates again (the data may have changed since the preview), saves the
    clients in chunks of :data:`CHUNK_ROWS` rows, each a short transaction, and shows them
    all at once at the end — or, if anything fails, removes them: all or nothing."""
    return enqueue(
        IMPORT_JOB, {"token": token, "mapping": list(mapping), "source": source}, user=actor, ip=ip, locale=locale
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


def _job_rows(job_id: int):
    return Client.__table__.c.import_job_id == job_id


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
        select(func.count()).select_from(Client.__table__).where(_job_rows(context.id)).execution_options(**_ALL_ROWS)
    ).scalar()
    if context.total and context.done == context.total and pending == 0 and context.attempts > 1:
        return {"imported": context.total}  # the rows were shown just before the last worker died
    if pending != context.done:  # a cleanup was interrupted: start again from nothing
        discard_import(context)

    rows = table["rows"]
    clean, errors = validate(rows, payload["mapping"], actor)
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
            [Client(**{**row, "owner_id": row.get("owner_id") or actor_id}, import_job_id=context.id) for row in chunk]
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
    errors = _saved_meanwhile(context.id, clean, numbers)
    if errors:
        db.session.rollback()
        raise _fail_with_errors(place, errors)
    db.session.execute(update(Client.__table__).where(_job_rows(context.id)).values(import_job_id=None))
    context.beat(done=len(clean))
    db.session.commit()
    shutil.rmtree(place, ignore_errors=True)
    return {"imported": len(clean)}


def _saved_meanwhile(job_id: int, clean: list[dict], numbers: list[int]) -> list[RowError]:
    """Clients saved by others while the import ran that duplicate one of its rows (the
    rules of :func:`existing_duplicates`; the file was checked against the rest): three
    indexed joins, whatever the number of rows."""
    mine, other, linkman = Client.__table__.alias("mine"), Client.__table__.alias("other"), Linkman.__table__
    live = and_(other.c.import_job_id.is_(None), other.c.is_deleted.is_(False))
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
                        reason=_REASONS[field](),
                        id=id_,
                        name=name,
                    ),
                )
            )
    return sorted(set(errors), key=lambda e: e.row)


def discard_import(context: JobContext) -> None:
    """Remove what a failed import left — its hidden clients and their audit entries — in
    short transactions (a killed cleanup is finished by whoever takes the job over)."""
    audit = AuditLog.__table__
    while True:
        context.beat(done=0)
        ids = (
            db.session.execute(
                select(Client.__table__.c.id)
                .where(_job_rows(context.id))
                .limit(CHUNK_ROWS)
                .execution_options(**_ALL_ROWS)
            )
            .scalars()
            .all()
        )
        if ids:
            db.session.execute(
                audit.delete().where(
                    audit.c.table_name == Client.__tablename__, audit.c.record_id.in_(ids), audit.c.action == "import"
                )
            )
            db.session.execute(Client.__table__.delete().where(Client.__table__.c.id.in_(ids)))
        db.session.commit()
        if len(ids) < CHUNK_ROWS:
            context.done = 0
            return


job_kind(IMPORT_JOB, on_failure=discard_import)(run_import)
