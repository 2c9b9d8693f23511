"""The lead import (issue 13), declared like the client import: the lead fields a file may
fill, the headings recognised, and its duplicate rule — rows that repeat an earlier row,
a live client (USCC, normalised company name, mobile: the client rules) or an open live
lead (also the e-mail) are refused, and with them the whole file."""

from __future__ import annotations

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from .. import db
from ..customers import normalise_name
from ..marketing import OPEN_LEAD, Lead
from .mapping import ImportKind
from .validation import RowError, existing_client_message, existing_duplicates, same_in_file

LEAD_FIELDS = ("company_name", "uscc", "contact_name", "mobile", "email", "campaign", "source", "owner", "notes")

LEAD_ALIASES: dict[str, tuple[str, ...]] = {
    "company_name": ("公司名称", "企业名称", "客户名称", "公司", "单位", "company", "company name"),
    "uscc": ("统一社会信用代码", "社会信用代码", "信用代码", "credit code"),
    "contact_name": ("联系人", "联系人姓名", "姓名", "contact", "contact name", "name"),
    "mobile": ("手机", "手机号", "手机号码", "联系人手机", "移动电话", "mobile phone", "cell phone"),
    "email": ("电子邮件", "电子邮箱", "邮箱", "email", "mail"),
    "campaign": ("市场活动", "活动", "活动名称", "campaign"),
    "source": ("线索来源", "客户来源", "来源", "source"),
    "owner": ("负责人", "跟进人", "owner"),
    "notes": ("备注", "notes", "remarks"),
}

#: (rule, field, row → key): the rules of :func:`models.marketing.find_lead_duplicates`
_RULES = (
    ("uscc", "uscc", lambda row: row.get("uscc")),
    ("name", "company_name", lambda row: normalise_name(row.get("company_name"))),
    ("contact_mobile", "mobile", lambda row: row.get("mobile")),
    ("email", "email", lambda row: row.get("email")),  # normalised by the column's check
)


def lead_duplicates(cleaned: list[tuple[int, dict]], labels: dict) -> list[RowError]:
    """Rows repeating an earlier row, a live client or an open live lead (bulk look-ups)."""
    keyed, errors = same_in_file(cleaned, labels, _RULES)
    values = {rule: {v for _, _, keys in keyed for r, _, v in keys if r == rule} for rule, _, _ in _RULES}
    by_uscc, by_name, by_mobile = existing_duplicates(values["uscc"], values["name"], values["contact_mobile"])
    clients = {"uscc": by_uscc, "name": by_name, "contact_mobile": by_mobile}
    leads = _open_leads(values)
    for number, _row, keys in keyed:
        for rule, field, value in keys:
            match = clients.get(rule, {}).get(value)
            if match is not None:
                errors.append(RowError(number, labels[field], existing_client_message(rule, match)))
            lead = leads[rule].get(value)
            if lead is not None:
                errors.append(
                    RowError(
                        number,
                        labels[field],
                        gettext("the same as the open lead #%(id)s %(name)s", id=lead[0], name=lead[1]),
                    )
                )
    return errors


def _open_leads(values: dict) -> dict[str, dict]:
    """rule → key → (id, company) of the open live leads holding one of the keys."""
    columns = {"uscc": Lead.uscc, "name": Lead.name_key, "contact_mobile": Lead.mobile, "email": Lead.email}
    found: dict[str, dict] = {rule: {} for rule in columns}
    for rule, column in columns.items():
        keys = sorted(values.get(rule, ()))
        for start in range(0, len(keys), 500):
            query = select(Lead.id, Lead.company_name, column).where(
                Lead.live(), Lead.status.in_(OPEN_LEAD), column.in_(keys[start : start + 500])
            )
            for id_, name, key in db.session.execute(query.order_by(Lead.id)):
                found[rule].setdefault(key, (id_, name))
    return found


LEADS = ImportKind(
    "leads",
    Lead,
    LEAD_FIELDS,
    LEAD_ALIASES,
    "import_leads",
    {
        "title": _l("Import leads"),
        "row_hint": _l(
            "The first row holds the column headings; each further row is one lead. The columns are matched "
            "to the fields by their headings (Chinese or English labels); you can correct the matching on the "
            "next page before anything is imported."
        ),
        "own_only": _l("The imported leads will belong to you (an owner column is ignored)."),
        "show": _l("Show the leads"),
        "imported": _l("%(count)s leads imported."),
        "appear": _l(
            "The leads appear in the list when every row is saved; if anything fails, none of them is kept. "
            "You may leave this page: the import goes on."
        ),
    },
    duplicates=lead_duplicates,
)
