"""What an import may fill — the client import and the others declared the same way
(:class:`ImportKind`: the model, its fields, the headings recognised, the duplicate rule) —
and the guess of which file column holds which (by field name, label in either language,
or a known variant of the heading)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

from flask_babel import lazy_gettext as _l

from ..customers import Client

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


#: the headings of the client sheet of the design documents (SPEC §4.3), in its order —
#: each the first heading ALIASES knows for its field, so such a file maps unchanged
DOCUMENT_HEADINGS: tuple[str, ...] = tuple(
    ALIASES[field][0]
    for field in "name uscc address phone area contact_name contact_mobile type star source trade size zip_code "
    "email owner notes".split()
)


class ImportKind:
    """One kind of import, declared: the ``model`` its rows become, the ``fields`` a file
    may fill (columns, or relationships named by their target's name), the headings
    recognised besides the fields' names and labels (``aliases``), the background job's
    ``job`` kind, the texts of its pages, and ``duplicates`` — (clean rows as [(file row,
    values)], labels) → the RowErrors of rows that duplicate each other or the database.
    ``saved_meanwhile`` (optional) checks again, at the end of the job, against what
    others saved while it ran. Registered in :data:`KINDS` by ``name``."""

    def __init__(self, name, model, fields, aliases, job, texts, duplicates=None, saved_meanwhile=None):
        self.name, self.model, self.fields, self.aliases, self.job = name, model, tuple(fields), aliases, job
        self.texts = texts
        self.duplicates: Callable | None = duplicates
        self.saved_meanwhile: Callable | None = saved_meanwhile
        self.required = tuple(f for f in self.fields if f != "owner" and not self.column(f).nullable)
        KINDS[name] = self

    def column(self, field: str):
        """The table column behind an import field (``area`` → ``area_id``)."""
        columns = self.model.__table__.c
        return columns.get(field) if field in columns else columns.get(f"{field}_id")

    def related(self, field: str):
        """The class a relationship field names (a lookup, a campaign or User), else None."""
        rel = self.model.__mapper__.relationships.get(field)
        return rel.mapper.class_ if rel is not None else None

    def label(self, field: str) -> str:
        """The field's column label in the current language."""
        return str(self.column(field).info.get("label", field))


#: name → the declared imports
KINDS: dict[str, ImportKind] = {}

CLIENTS = ImportKind(
    "clients",
    Client,
    FIELDS,
    ALIASES,
    "import_clients",
    {
        "title": _l("Import clients"),
        "row_hint": _l(
            "The first row holds the column headings; each further row is one client. The columns are matched "
            "to the fields by their headings (Chinese or English labels); you can correct the matching on the "
            "next page before anything is imported."
        ),
        "own_only": _l("The imported clients will belong to you (an owner column is ignored)."),
        "show": _l("Show the clients"),
        "appear": _l(
            "The clients appear in the list when every row is saved; if anything fails, none of them is kept. "
            "You may leave this page: the import goes on."
        ),
    },
)


def client_column(field: str):
    """The clients column behind an import field (``area`` → ``area_id``)."""
    return CLIENTS.column(field)


def related_class(field: str):
    """The class a relationship field names (a lookup or User), else None."""
    return CLIENTS.related(field)


#: fields a row must fill (the owner defaults to the importing user)
REQUIRED: tuple[str, ...] = CLIENTS.required


def field_label(field: str, kind: ImportKind = CLIENTS) -> str:
    """The field's column label in the current language."""
    return kind.label(field)


def _key(text) -> str:
    """Heading comparison key: NFKC, case-folded, without spaces, marks and punctuation."""
    key = unicodedata.normalize("NFKC", str(text or "")).casefold()
    return re.sub(r"[\s*:_\-.·]+", "", key)


def _heading_keys(field: str, kind: ImportKind) -> set[str]:
    label = kind.column(field).info.get("label")
    names = {field, field.replace("_", " "), *kind.aliases.get(field, ())}
    if label is not None:
        names.add(str(getattr(label, "_args", (label,))[0]))  # the English msgid
        try:
            names.add(str(label))  # the label in the current language
        except Exception:  # noqa: BLE001 - outside an app context there is no locale
            pass
    return {_key(name) for name in names if name}


def guess_mapping(headers: Sequence[str], kind: ImportKind = CLIENTS) -> list[str | None]:
    """For each heading, the client field it most likely holds (or None): matched by
    field name, English or Chinese label, or a known variant ("公司名称", "Company name",
    "name" → ``name``); a "(…)" note in the heading is ignored. Each field is used once."""
    lookup: dict[str, str] = {}
    for field in kind.fields:
        for key in _heading_keys(field, kind):
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
