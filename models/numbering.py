"""Document numbers (``<prefix><yyyymmdd>-<nnn>``) that never collide: one counter row per
(document table, prefix, day) in ``number_sequence``, incremented in the creating
transaction. Orders, quotes, purchase requests and expense contracts number themselves
through :func:`next_number` (a later issue makes the pattern configurable per document
type; the key stays this one).

Why a counter row and not ``max(number) + 1``: two transactions reading the same maximum
give the same number, and the second user's record is lost to the unique constraint.
The counter's UPDATE takes a row lock (PostgreSQL) — a parallel creator waits for the
first to commit and then takes the next value; SQLite requests that write begin
``IMMEDIATE`` (app.py) and so run one after the other. A rolled-back creation gives
its number back.
"""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, Integer, String, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column, object_session
from sqlalchemy.orm.attributes import get_history

from . import clock, db
from .base import FieldError, column_label


class NumberSequence(db.Model):
    """The last serial given for one document table, prefix and day (bookkeeping, not audited)."""

    __tablename__ = "number_sequence"
    __audited__ = False

    id: Mapped[int] = mapped_column(primary_key=True)
    document: Mapped[str] = mapped_column(String(40))
    prefix: Mapped[str] = mapped_column(String(20))
    day: Mapped[date] = mapped_column(Date)
    last_value: Mapped[int] = mapped_column(Integer)

    __table_args__ = (db.UniqueConstraint("document", "prefix", "day", name="uq_number_sequence_key"),)


def _serials_in_use(session, model, stem: str) -> int:
    """The highest serial of ``stem`` already in ``model`` (numbers given before the counter
    existed, typed by hand, or written by seed-demo)."""
    taken = session.execute(select(model.number).where(model.number.like(f"{stem}%"))).scalars()
    serials = [int(n[len(stem) :]) for n in taken if n[len(stem) :].isdigit()]
    return max(serials, default=0)


def _increment(session, model, prefix: str, day: date, stem: str) -> int:
    key = (NumberSequence.document == model.__tablename__, NumberSequence.prefix == prefix, NumberSequence.day == day)
    value = session.execute(
        update(NumberSequence)
        .where(*key)
        .values(last_value=NumberSequence.last_value + 1)
        .returning(NumberSequence.last_value)
    ).scalar()
    if value is not None:
        return value
    # the day's first number: start above what is in use; a parallel first insert of the
    # same key turns into the increment
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(NumberSequence).values(
        document=model.__tablename__, prefix=prefix, day=day, last_value=_serials_in_use(session, model, stem) + 1
    )
    statement = statement.on_conflict_do_update(
        index_elements=["document", "prefix", "day"], set_={"last_value": NumberSequence.last_value + 1}
    )
    return session.execute(statement.returning(NumberSequence.last_value)).scalar()


def _taken(session, model, number: str, record=None) -> bool:
    """Whether ``number`` is stored on another row of ``model`` or pending in this session."""
    query = select(model.id).where(model.number == number)
    if record is not None and record.id is not None:
        query = query.where(model.id != record.id)
    pending = any(isinstance(obj, model) and obj is not record and obj.number == number for obj in session.new)
    return pending or session.execute(select(exists(query))).scalar()


def next_number(model, prefix: str, day: date | None = None) -> str:
    """The next free number ``<prefix><yyyymmdd>-<nnn>`` of ``model`` for ``day`` (default:
    the local calendar day), from the (model, prefix, day) counter, in the caller's
    transaction; numbers already taken (typed by hand) are skipped."""
    day = day or clock.today()
    stem = f"{prefix}{day:%Y%m%d}-"
    session = db.session
    with session.no_autoflush:
        while True:
            number = f"{stem}{_increment(session, model, prefix, day, stem):03d}"
            if not _taken(session, model, number):
                return number


def assign_number(record, prefix: str, day: date | None = None) -> None:
    """Give ``record`` the next number when none was typed; a typed (or changed) number
    must not be another record's — refused naming the field, before the database would."""
    model = type(record)
    if not record.number:
        record.number = next_number(model, prefix, day)
        return
    if record.id is not None and not get_history(record, "number").has_changes():
        return
    session = object_session(record) or db.session
    with session.no_autoflush:
        if _taken(session, model, record.number, record):
            raise FieldError(
                column_label(model, "number"),
                str(
                    _l(
                        "%(number)s is already taken — type another number or leave it empty to get a new one.",
                        number=record.number,
                    )
                ),
            )
