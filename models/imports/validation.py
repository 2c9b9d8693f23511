"""Validation of the rows of an import as it would save them: fields, lookups, owners
within the importing user's scope, and duplicates in the file and in the database."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy import true as sa_true

from .. import db
from ..auth import User, department_subtree_ids
from ..base import checker_message
from ..customers import GENDERS, SCORES, Client, Linkman, normalise_name
from ..scope import scoped
from .mapping import CLIENTS, ImportKind

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


class RowError(NamedTuple):
    """One problem: the file row (1 = headings), the field's label and what is wrong."""

    row: int
    field: str
    message: str


def _plain(text: str) -> str:
    """Comparison key of a lookup value or a user name."""
    return unicodedata.normalize("NFKC", text).strip().casefold()


def _lookup_table(model, actor):
    """name key → (id, active) of one lookup table, or of the records of another table the
    actor may see (a lead's campaign), by name (one query)."""
    active = getattr(model, "is_active", None)
    query = scoped(select(model.id, model.name, active if active is not None else sa_true()), model, actor)
    if hasattr(model, "live"):
        query = query.where(model.live())
    return {_plain(name): (id_, flag) for id_, name, flag in db.session.execute(query)}


def _lookup_hint(model) -> str:
    query = select(model.name).order_by(getattr(model, "sort_order", model.id), model.id).limit(16)
    if getattr(model, "is_active", None) is not None:
        query = query.where(model.is_active.is_(True))
    names = db.session.execute(query).scalars().all()
    if len(names) <= 15:
        return gettext("use one of: %(values)s", values=", ".join(names))
    return gettext("use a value of the lookup table %(table)s", table=str(getattr(model, "__label__", "")))


class _Owners:
    """Resolves the owner column: by username, else by full name; within the actor's scope."""

    def __init__(self, actor):
        self.actor = actor
        rows = db.session.execute(
            select(User.id, User.username, User.name, User.department_id).where(User.is_active.is_(True), User.live())
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
    live = Client.live()
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


def validate(
    rows: Sequence[Sequence[str]], mapping, actor, kind: ImportKind = CLIENTS
) -> tuple[list[dict], list[RowError]]:
    """Check every row as the import would save it. ``mapping`` gives, per file column,
    the field it fills (one of ``kind.fields``, the client fields unless told) or None to
    ignore it. ``actor`` is the
    importing user: owner of rows without one, and whose data scope limits the owners
    a row may name (own scope: the actor owns every row).

    Returns ``(clean_rows, errors)``: clean rows are keyword dicts for ``kind.model`` with
    normalised values and ids resolved; errors are :class:`RowError` in file order.
    A lookup is resolved by name among active values, duplicates are looked for in the
    database and within the file (``kind.duplicates``). A few queries in all, whatever the
    number of rows."""
    field_label = kind.label
    pairs = mapping.items() if isinstance(mapping, Mapping) else enumerate(mapping)
    errors: list[RowError] = []
    seen: dict[str, int] = {}  # field → file column index
    for index, field in sorted(pairs):
        if field not in kind.fields:
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
    for field in kind.required:
        if field not in seen:
            errors.append(
                RowError(1, field_label(field), gettext("required field: no column of the file is mapped to it"))
            )
    if errors:
        return [], errors

    labels = {field: field_label(field) for field in kind.fields}
    lookups = {
        field: (kind.related(field), _lookup_table(kind.related(field), actor))
        for field in seen
        if field != "owner" and kind.related(field) is not None
    }
    hints: dict[str, str] = {}
    owners = _Owners(actor)
    genders = {**_GENDER_WORDS, **{_plain(str(text)): code for code, text in GENDERS}}
    scores = {str(value) for value, _ in SCORES}
    columns = {field: kind.column(field) for field in seen}

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
                if field in kind.required:
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

    if kind.duplicates is not None:
        errors.extend(kind.duplicates(cleaned, labels))
    errors.sort(key=lambda e: e.row)
    if not cleaned and not errors:
        errors.append(RowError(2, "", gettext("the file holds no rows under the headings")))
    return ([] if errors else [row for _, row in cleaned]), errors


def client_duplicates(cleaned: list[tuple[int, dict]], labels: dict) -> list[RowError]:
    """The client import's duplicate rule: rows with the same USCC, normalised name or
    contact mobile as an earlier row of the file or a client of the database
    (:func:`existing_duplicates`)."""
    keyed, errors = same_in_file(
        cleaned,
        labels,
        (
            ("uscc", "uscc", lambda row: row.get("uscc")),
            ("name", "name", lambda row: normalise_name(row.get("name"))),
            ("contact_mobile", "contact_mobile", lambda row: row.get("contact_mobile")),
        ),
    )
    by_uscc, by_name, by_mobile = existing_duplicates(
        [r.get("uscc") for _, r in cleaned if r.get("uscc")],
        [normalise_name(r.get("name")) for _, r in cleaned],
        [r.get("contact_mobile") for _, r in cleaned if r.get("contact_mobile")],
    )
    found = {"uscc": by_uscc, "name": by_name, "contact_mobile": by_mobile}
    for number, _row, keys in keyed:
        for _rule, field, value in keys:
            match = found[field].get(value)
            if match is not None:
                errors.append(RowError(number, labels[field], existing_client_message(field, match)))
    return errors


def existing_client_message(rule: str, match) -> str:
    """The error of a row that duplicates the client ``match`` — (id, name[, deleted]) of
    :func:`existing_duplicates` — by ``rule`` (uscc, name, contact_mobile)."""
    if rule == "uscc" and len(match) > 2 and match[2]:
        return gettext(
            "the unified social credit code belongs to the deleted client "
            "#%(id)s %(name)s: restore it from the recycle bin instead",
            id=match[0],
            name=match[1],
        )
    return gettext(
        "%(reason)s as the existing client #%(id)s %(name)s",
        reason=DUPLICATE_REASONS[rule](),
        id=match[0],
        name=match[1],
    )


def same_in_file(cleaned, labels, rules):
    """Rows that repeat an earlier row of the file by one of ``rules`` — (rule, field,
    row → key); rule ``uscc``, ``name``, ``contact_mobile`` or ``email`` words the error.
    Returns ([(file row, values, [(rule, field, key)])], errors)."""
    first: dict[tuple[str, str], int] = {}
    keyed, errors = [], []
    for number, row in cleaned:
        keys = [(rule, field, key(row)) for rule, field, key in rules]
        keys = [(rule, field, value) for rule, field, value in keys if value]
        keyed.append((number, row, keys))
        for rule, field, value in keys:
            earlier = first.setdefault((rule, value), number)
            if earlier != number:
                errors.append(RowError(number, labels[field], _same_as_row(rule, earlier)))
    return keyed, errors


# the reasons of find_duplicates (same msgids, one wording)
DUPLICATE_REASONS = {
    "uscc": lambda: gettext("same unified social credit code"),
    "name": lambda: gettext("same company name"),
    "contact_mobile": lambda: gettext("same contact mobile"),
}


def _same_as_row(field: str, row: int) -> str:
    if field == "uscc":
        return gettext("same unified social credit code as row %(row)s", row=row)
    if field == "name":
        return gettext("same company name as row %(row)s", row=row)
    if field == "email":
        return gettext("same e-mail as row %(row)s", row=row)
    return gettext("same contact mobile as row %(row)s", row=row)


CLIENTS.duplicates = client_duplicates
