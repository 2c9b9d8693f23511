"""Declarative base, the Money column type and the mixins every business table uses.

Labels: every column carries ``info={"label": _l("English")}``; the English text is the
msgid of our Babel catalogue and ``translations/zh_Hans_CN`` (what Babel makes of zh_CN) holds the Chinese label taken
from the design documents. Views read labels from here (one label catalogue).

Validation: a column may carry ``info={"check": validators.mobile}``; the same checker
runs in forms (field error) and before every flush (so CLI and imports are covered).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, MetaData, event, text, types
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, declared_attr, mapped_column, relationship

from . import validators  # noqa: F401  (re-exported: models.base.validators)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Timezone-aware current UTC time (column defaults must be callables)."""
    return datetime.now(UTC)


class UTCDateTime(types.TypeDecorator):
    """A DateTime that always comes back timezone-aware UTC (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


CENT = Decimal("0.01")


def to_money(value) -> Decimal | None:
    """Convert user/program input to an exact 2-place Decimal; refuse floats and
    values with more than two decimals (raises ValueError/TypeError)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError("money must be a Decimal, an int or a string, never a float")
    try:
        dec = value if isinstance(value, Decimal) else Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not an amount") from None
    if not dec.is_finite():
        raise ValueError(f"{value!r} is not an amount")
    if dec != dec.quantize(CENT):
        raise ValueError(f"{value} has more than 2 decimal places")
    return dec.quantize(CENT)


def round_money(value: Decimal) -> Decimal:
    """Round half-up to the fen (for computed amounts such as tax)."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


class Money(types.TypeDecorator):
    """Integer fen in the database, ``Decimal('1234.50')`` in Python.

    ``func.sum(Model.amount)`` keeps this type, so SQL sums come back as Decimal too.
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value, dialect):
        dec = to_money(value)
        return None if dec is None else int(dec * 100)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return (Decimal(int(value)) / 100).quantize(CENT)

    @property
    def python_type(self):
        return Decimal


class Percent(types.TypeDecorator):
    """A percentage with two decimals (``Decimal('12.50')``), stored exactly as an integer
    number of hundredths; the same input rules as Money (no floats, at most 2 places)."""

    impl = Integer
    cache_ok = True

    def process_bind_param(self, value, dialect):
        dec = to_money(value)
        return None if dec is None else int(dec * 100)

    def process_result_value(self, value, dialect):
        return None if value is None else (Decimal(int(value)) / 100).quantize(CENT)

    @property
    def python_type(self):
        return Decimal


def format_money(value) -> str:
    """Show an amount as ``¥1,234.50``."""
    if value is None:
        return ""
    return f"¥{Decimal(value):,.2f}"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)

    #: Audited tables write audit_log entries from the session hooks (models/audit.py).
    __audited__ = True

    def __str__(self) -> str:  # shown in select boxes and list columns
        for attr in ("name", "title", "number", "username", "code"):
            if hasattr(self, attr) and getattr(self, attr):
                return str(getattr(self, attr))
        return f"#{getattr(self, 'id', '?')}"


def label(text: str, **info) -> dict:
    """Column ``info`` with a translatable label (English msgid, Chinese in zh_CN)."""
    return {"label": _l(text), **info}


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, nullable=False, index=True, info=label("Created at")
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(),
        default=utcnow,
        onupdate=utcnow,
        nullable=False,
        index=True,
        info=label("Updated at"),
    )


class SoftDelete:
    """Rows are hidden, not removed; the recycle bin restores them (only admin purges)."""

    __soft_delete__ = True

    #: no index of its own: a boolean index lures the planner into reading every live row and
    #: sorting them; the big lists walk the partial indexes of :func:`list_indexes` instead
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False, info=label("Deleted"))
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Deleted at"))

    @declared_attr
    def deleted_by_id(cls) -> Mapped[int | None]:
        return mapped_column(
            Integer,
            ForeignKey("users.id", ondelete="SET NULL"),
            index=True,
            info=label("Deleted by"),
        )

    @classmethod
    def live(cls, deleted: bool = False):
        """The soft-delete filter of every list, count and look-up (``deleted=True``: the
        recycle bin), see :func:`not_deleted`."""
        return not_deleted(cls, deleted)

    def soft_delete(self, user_id: int | None) -> None:
        """Mark deleted (the audit hook records it as action ``delete``)."""
        self.is_deleted = True
        self.deleted_at = utcnow()
        self.deleted_by_id = user_id

    def restore(self) -> None:
        """Bring the row back from the recycle bin (audited as ``restore``)."""
        self.is_deleted = False
        self.deleted_at = None
        self.deleted_by_id = None


#: the predicate of the partial list indexes, the same words the filter compiles to
LIVE_WHERE = {"sqlite_where": text("is_deleted = 0"), "postgresql_where": text("is_deleted = false")}


def not_deleted(entity, deleted: bool = False):
    """``is_deleted = 0`` (SQLite) / ``is_deleted = false`` (PostgreSQL) on a model, an
    alias or a table: the one spelling of the soft-delete filter. A partial index
    ``… WHERE is_deleted = 0`` is only used by a query whose WHERE has that very term;
    ``is_deleted IS 0`` (``.is_(False)``) does not match it."""
    column = entity.c.is_deleted if hasattr(entity, "c") else entity.is_deleted
    return column == deleted


def list_indexes(table: str, *columns: str, soft_delete: bool = True) -> tuple[Index, ...]:
    """One ``(column, id)`` index per sort column of a big list, partial on live rows
    (``WHERE is_deleted = 0``) for soft-deleted tables: the page query walks it in either
    direction, and a keyset page seeks ``(column, id) < (?, ?)`` in it, instead of sorting
    the table. Named ``ix_<table>_live_<column>`` / ``ix_<table>_<column>_id``."""
    if soft_delete:
        return tuple(Index(f"ix_{table}_live_{column}", column, "id", **LIVE_WHERE) for column in columns)
    return tuple(Index(f"ix_{table}_{column}_id", column, "id") for column in columns)


def filter_indexes(table: str, sort: str, *columns: str, live: tuple[str, ...] = ()) -> tuple[Index, ...]:
    """One ``(filter column, default sort column, id)`` index per equality filter of a big
    list (``id`` once when the list sorts by id): a filtered first page seeks the value and
    walks the rows of that value in the list's order, instead of reading every row of the
    value and sorting them, or walking the sort index and testing every row.

    ``columns`` get a full index (``ix_<table>_<column>_<sort>``): a foreign key's own
    checks (deleting the lookup or user it points at) read every row, deleted ones too, so
    a full index also stands in for the key's single-column index. ``live`` columns (no
    foreign key, or tables without soft delete never use it) get an index partial on live
    rows, ``ix_<table>_live_<column>_<sort>``."""
    order = (sort, "id") if sort != "id" else ("id",)
    suffix = "" if sort == "id" else f"_{sort}"
    full = tuple(Index(f"ix_{table}_{column}_{sort}", column, *order) for column in columns)
    return full + tuple(Index(f"ix_{table}_live_{column}{suffix}", column, *order, **LIVE_WHERE) for column in live)


def prune_covered_indexes(metadata, tables) -> None:
    """Remove from ``tables`` the single-column indexes another index makes redundant: one
    that starts with the same column serves its look-ups (its leftmost prefix), at no write
    cost. A partial index on live rows stands in only for a column without a foreign key
    (the key's checks read deleted rows too). Unique indexes always stay. Called once all
    models are declared (models/__init__.py); migration 0012 drops the same indexes."""
    for name in tables:
        table = metadata.tables[name]
        for index in list(table.indexes):
            if index.unique or len(index.columns) != 1 or _partial(index):
                continue
            column = next(iter(index.columns))
            if any(_covers(other, column) for other in table.indexes if other is not index):
                table.indexes.discard(index)


def _partial(index: Index) -> bool:
    return any(index.dialect_options[dialect].get("where") is not None for dialect in ("sqlite", "postgresql"))


def _covers(other: Index, column) -> bool:
    if len(other.columns) < 2 or next(iter(other.columns)) is not column:
        return False
    return not _partial(other) or not column.foreign_keys


class Versioned:
    """Optimistic locking: SQLAlchemy refuses an UPDATE whose version moved on, and the
    edit form carries the version the user loaded (checked in CrmModelView)."""

    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, info=label("Version"))

    @declared_attr.directive
    def __mapper_args__(cls):
        return {"version_id_col": cls.__table__.c.version}


class Owned:
    """``owner_id → users``: the data scope of §6 is applied through it."""

    __scope_owner__ = ("owner_id",)

    @declared_attr
    def owner_id(cls) -> Mapped[int]:
        return mapped_column(
            Integer,
            ForeignKey("users.id", ondelete="RESTRICT"),
            nullable=False,
            index=True,
            info=label("Owner"),
        )

    @declared_attr
    def owner(cls):
        return relationship("User", foreign_keys=f"{cls.__name__}.owner_id")


def user_fk(text: str, required: bool = False):
    """A foreign key to ``users`` labelled ``text``: RESTRICT when required, else SET NULL."""
    return mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT" if required else "SET NULL"),
        index=True,
        nullable=not required,
        info=label(text),
    )


def foreign_key(target: str, text: str, ondelete: str = "RESTRICT"):
    """An indexed foreign key to ``target`` ("table.id") labelled ``text``; nullable when
    the annotation says ``| None``. RESTRICT unless told: a parent row in use stays."""
    return mapped_column(ForeignKey(target, ondelete=ondelete), index=True, info=label(text))


def kept_total(text_: str):
    """An amount summed from other rows (lines, allocations, invoices) and kept beside them
    by models/totals.py in the transaction that changes them, so lists sort and filter on
    a stored column. Not audited: it changes with the rows it sums, which are."""
    return mapped_column(
        Money(), nullable=False, default=Decimal("0.00"), server_default=text("0"), info=label(text_, kept=True)
    )


class FieldError(ValueError):
    """A domain rule refused a value; names the field so the message can guide the user."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def column_label(model, key: str) -> str:
    """The translated label of a model column (falls back to the attribute name)."""
    col = model.__table__.c.get(key)
    return str(col.info.get("label", key)) if col is not None else key


def not_negative(model, key: str, value) -> None:
    """Refuse a negative amount in ``model.key``, naming the field."""
    if value is not None and Decimal(value) < 0:
        raise FieldError(column_label(model, key), str(_l("must not be negative")))


def positive_quantity(model, value) -> None:
    """Refuse a quantity of 0 or less in ``model.quantity``, naming the field."""
    if value is not None and int(value) <= 0:
        raise FieldError(column_label(model, "quantity"), str(_l("must be greater than 0")))


def checker_message(exc: ValueError) -> str:
    """A field checker's English message (``models/validators.py``) in the user's language."""
    return gettext(str(exc))


def check_row(obj) -> None:
    """Run every column's ``info['check']`` on a row about to be saved; store the
    normalised value or raise FieldError naming the column. Empty strings in optional
    columns become NULL (so unique optional codes stay unique). Then the row's own
    ``check_rules()`` (cross-field rules), when it has one."""
    table = getattr(obj, "__table__", None)
    if table is None:
        return
    for col in table.columns:
        if col.nullable and not col.primary_key and getattr(obj, col.key, None) == "":
            setattr(obj, col.key, None)
        check = col.info.get("check")
        if check is None:
            continue
        value = getattr(obj, col.key, None)
        if value in (None, ""):
            continue
        try:
            normalised = check(value)
        except ValueError as exc:
            raise FieldError(column_label(type(obj), col.key), checker_message(exc)) from None
        if normalised != value:
            setattr(obj, col.key, normalised)
    if hasattr(obj, "check_rules"):
        obj.check_rules()


@event.listens_for(Session, "before_flush")
def _check_rows(session, flush_context, instances) -> None:
    for obj in list(session.new) + list(session.dirty):
        check_row(obj)
