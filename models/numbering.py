"""Document numbers that never collide, one mechanism for every document type.

Each document type has a **pattern** in the settings (models/settings.py:
:data:`~models.settings.NUMBER_PATTERNS`, e.g. ``HT{yyyy}{seq:05}``) made of literal text
and the tokens ``{yyyy}`` ``{yy}`` ``{mm}`` ``{dd}`` (the document's day) and one
``{seq}`` / ``{seq:0N}`` (the serial, zero-padded to N digits). The serial comes from a
counter row per (document table, *stem*) in ``number_sequence``, the stem being the
pattern rendered for the day with the serial left as ``{seq}``: the sequence's period
follows the pattern — ``{yyyy}`` alone restarts every year, with ``{dd}`` every day, with
no date token never. A document type without a declared pattern (a caller passing only a
prefix) numbers ``<prefix>{yyyy}{mm}{dd}-{seq:03}``.

Why a counter row and not ``max(number) + 1``: two transactions reading the same maximum
give the same number, and the second user's record is lost to the unique constraint.
The counter's UPDATE takes a row lock (PostgreSQL) — a parallel creator waits for the
first to commit and then takes the next value; SQLite requests that write begin
``IMMEDIATE`` (app.py) and so run one after the other. A rolled-back creation gives
its number back. A number typed by hand is kept when no other record has it, and the
sequence skips it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, String, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column, object_session
from sqlalchemy.orm.attributes import get_history

from . import clock, db
from .base import FieldError, column_label

#: the date tokens of a pattern and how each renders a day
DATE_TOKENS = {"yyyy": "%Y", "yy": "%y", "mm": "%m", "dd": "%d"}
_TOKEN = re.compile(r"\{([^{}]*)\}")
_SEQ = re.compile(r"seq(?::0([1-9]))?")
#: what stands for the serial in a counter's stem
SEQ_MARK = "{seq}"


class NumberSequence(db.Model):
    """The last serial given for one document table and stem (bookkeeping, not audited)."""

    __tablename__ = "number_sequence"
    __audited__ = False

    id: Mapped[int] = mapped_column(primary_key=True)
    document: Mapped[str] = mapped_column(String(40))
    stem: Mapped[str] = mapped_column(String(80))
    last_value: Mapped[int] = mapped_column(Integer)

    __table_args__ = (db.UniqueConstraint("document", "stem", name="uq_number_sequence_key"),)


def pattern_problem(pattern: str):
    """What is wrong with a number pattern (a message), or None when it can be used: one
    ``{seq}`` or ``{seq:0N}`` (N from 1 to 9), date tokens ``{yyyy}`` ``{yy}`` ``{mm}``
    ``{dd}``, literal text without braces, at most 40 characters rendered."""
    tokens = _TOKEN.findall(pattern)
    for token in tokens:
        if token not in DATE_TOKENS and not _SEQ.fullmatch(token):
            return _l(
                "unknown token {%(token)s} — use {yyyy}, {yy}, {mm}, {dd} and one {seq} or {seq:0N} (e.g. {seq:05})",
                token=token,
            )
    if "{" in _TOKEN.sub("", pattern) or "}" in _TOKEN.sub("", pattern):
        return _l("a brace without its pair — tokens are written {yyyy}, {mm}, {dd}, {seq:05}")
    serials = [t for t in tokens if _SEQ.fullmatch(t)]
    if len(serials) != 1:
        return _l("must contain the serial exactly once: {seq} or {seq:0N}, e.g. HT{yyyy}{seq:05}")
    if len(render(pattern, date(2000, 12, 31)).number(10**9)) > 40:
        return _l("gives numbers longer than 40 characters — shorten the pattern")
    return None


@dataclass(frozen=True)
class Rendered:
    """A pattern rendered for one day: the text before and after the serial, its width."""

    before: str
    after: str
    width: int

    @property
    def stem(self) -> str:
        return f"{self.before}{SEQ_MARK}{self.after}"

    def number(self, serial: int) -> str:
        return f"{self.before}{serial:0{self.width}d}{self.after}"

    def serial_of(self, number: str) -> int | None:
        """The serial of a number of this stem, or None."""
        if not (number.startswith(self.before) and number.endswith(self.after)):
            return None
        middle = number[len(self.before) : len(number) - len(self.after)]
        return int(middle) if middle.isdigit() and len(middle) >= 1 else None


def render(pattern: str, day: date) -> Rendered:
    """``pattern`` (checked by :func:`pattern_problem`) with its date tokens filled in."""
    parts: list[str] = []
    width = 0
    split = None
    for piece in re.split(r"(\{[^{}]*\})", pattern):
        token = piece[1:-1] if piece.startswith("{") else None
        if token in DATE_TOKENS:
            parts.append(day.strftime(DATE_TOKENS[token]))
        elif token is not None and (match := _SEQ.fullmatch(token)):
            split = len(parts)
            width = int(match.group(1) or 1)
        else:
            parts.append(piece)
    return Rendered("".join(parts[:split]), "".join(parts[split:]), width)


def pattern_of(model, prefix: str | None = None) -> str:
    """The number pattern of ``model``'s documents: its setting, else ``<prefix>`` with
    the day and a three-digit serial."""
    from . import settings

    setting = settings.NUMBER_PATTERNS.get(model.__tablename__)
    if setting is not None:
        return setting()
    if not prefix:
        raise LookupError(f"no number pattern is declared for {model.__tablename__} and no prefix was given")
    return f"{prefix}{{yyyy}}{{mm}}{{dd}}-{{seq:03}}"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _serials_in_use(session, model, rendered: Rendered) -> int:
    """The highest serial of the stem already in ``model`` (numbers given before the
    counter existed, typed by hand, or written by seed-demo)."""
    like = f"{_escape_like(rendered.before)}%{_escape_like(rendered.after)}"
    taken = session.execute(select(model.number).where(model.number.like(like, escape="\\"))).scalars()
    return max((s for s in map(rendered.serial_of, taken) if s is not None), default=0)


def _increment(session, model, rendered: Rendered) -> int:
    document, stem = model.__tablename__, rendered.stem
    key = (NumberSequence.document == document, NumberSequence.stem == stem)
    value = session.execute(
        update(NumberSequence)
        .where(*key)
        .values(last_value=NumberSequence.last_value + 1)
        .returning(NumberSequence.last_value)
    ).scalar()
    if value is not None:
        return value
    # the stem's first number: start above what is in use; a parallel first insert of the
    # same key turns into the increment
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(NumberSequence).values(
        document=document, stem=stem, last_value=_serials_in_use(session, model, rendered) + 1
    )
    statement = statement.on_conflict_do_update(
        index_elements=["document", "stem"], set_={"last_value": NumberSequence.last_value + 1}
    )
    return session.execute(statement.returning(NumberSequence.last_value)).scalar()


def _taken(session, model, number: str, record=None) -> bool:
    """Whether ``number`` is stored on another row of ``model`` or pending in this session."""
    query = select(model.id).where(model.number == number)
    if record is not None and record.id is not None:
        query = query.where(model.id != record.id)
    pending = any(isinstance(obj, model) and obj is not record and obj.number == number for obj in session.new)
    return pending or session.execute(select(exists(query))).scalar()


def next_number(model, prefix: str | None = None, day: date | None = None) -> str:
    """The next free number of ``model`` by its pattern (:func:`pattern_of`) for ``day``
    (default: the local calendar day), from the (model, stem) counter, in the caller's
    transaction; numbers already taken (typed by hand) are skipped."""
    rendered = render(pattern_of(model, prefix), day or clock.today())
    session = db.session
    with session.no_autoflush:
        while True:
            number = rendered.number(_increment(session, model, rendered))
            if not _taken(session, model, number):
                return number


def assign_number(record, prefix: str | None = None, day: date | None = None) -> None:
    """Give ``record`` the next number when none was typed (``prefix``: for a document
    type without a pattern in the settings); a typed (or changed) number must not be
    another record's — refused naming the field, before the database would."""
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
