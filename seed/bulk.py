"""Bulk loading for seed-demo at scale (issue 10): rows written straight through the DB-API
(PostgreSQL ``COPY``, SQLite ``executemany``) with explicit ids, the secondary indexes of
the big tables dropped for the load and built once at the end from the metadata (so they
are exactly the models' and the migrations' indexes, partial ones included), SQLite
pragmas for the load, sequences moved past the explicit ids, then ``ANALYZE``.

Values go through each column's own bind processor (Money → fen, dates → SQLite's text
form), so a bulk row is stored exactly as a Core insert would store it. Column defaults
declared in Python are applied here too, since the DB-API does not know them.
"""

from __future__ import annotations

from bisect import bisect
from contextlib import contextmanager
from datetime import UTC, date
from functools import lru_cache
from itertools import accumulate

import click
from sqlalchemy import Date, DateTime, func, select, text

from models import db
from models.base import UTCDateTime


#: the tables seed-demo fills in proportion to the clients: their non-unique indexes are
#: dropped for a bulk load. Unique indexes stay, so a re-run can never make duplicates.
def big_tables() -> list:
    """The tables of the models seed-demo fills in proportion to the clients."""
    from models.audit import AuditLog
    from models.churn import ClientLoss
    from models.customers import Appointment, Client, Contract, FollowUp, Linkman
    from models.finance import ContractReceipt, Invoice, Receipt
    from models.opportunities import DevelopmentPlan, Opportunity
    from models.orders import Order, OrderLine, Quote, QuoteLine

    models = (Client, Linkman, FollowUp, Appointment, Contract, Receipt, ContractReceipt, Invoice)
    models += (Opportunity, DevelopmentPlan, Quote, QuoteLine, Order, OrderLine, ClientLoss, AuditLog)
    return [model.__table__ for model in models]


#: SQLite settings for the load (restored afterwards): no fsync per commit (the WAL keeps
#: the file consistent after a crash of the process), a 256 MB page cache
SQLITE_LOAD_PRAGMAS = {"synchronous": "OFF", "cache_size": "-262144"}


@lru_cache(maxsize=256)
def _cumulative(weights: tuple) -> tuple[list, float, int]:
    cumulative = list(accumulate(weights))
    return cumulative, cumulative[-1] + 0.0, len(cumulative) - 1


def weighted(rng, population, weights):
    """``rng.choices(population, weights)[0]`` — the same draw: one ``random()`` scaled by
    the total and bisected into the cumulative weights, as ``choices`` does — with the
    cumulative weights worked out once per set of weights (``weights`` a tuple)."""
    cumulative, total, last = _cumulative(weights)
    return population[bisect(cumulative, rng.random() * total, 0, last)]


#: PostgreSQL ``maintenance_work_mem`` for the index builds at the end of a bulk load
PG_INDEX_MEMORY = "256MB"


def _dialect():
    return db.session.get_bind().dialect


def _quote(name: str) -> str:
    return _dialect().identifier_preparer.quote(name)


def _defaults(table, keys):
    """(column, value-or-callable) for the columns the rows leave out that have a Python default."""
    out = []
    for column in table.columns:
        if column.name in keys or column.default is None or column.name == "id":
            continue
        default = column.default
        if getattr(default, "is_scalar", False):
            out.append((column.name, default.arg, False))
        elif getattr(default, "is_callable", False):
            out.append((column.name, default.arg, True))
    return out


def _converter(type_, dialect):
    """The column's bind processor, with shortcuts giving the same values for what the demo
    generators write most (aware UTC datetimes and dates as SQLite text; money, percentages,
    flags and lookups repeat, so their processed values are remembered)."""
    processor = type_._cached_bind_processor(dialect)
    if processor is None:
        return None
    if dialect.name == "sqlite" and isinstance(type_, UTCDateTime):

        def when(value):  # SQLite's DATETIME text, as the processor writes it
            if value.tzinfo is UTC:
                return value.isoformat(" ", "microseconds")[:26]
            return processor(value)

        return when
    if dialect.name == "sqlite" and isinstance(type_, Date) and not isinstance(type_, DateTime):
        return lambda value: value.isoformat() if type(value) is date else processor(value)
    if isinstance(type_, DateTime | UTCDateTime):
        return processor
    seen: dict = {}

    def remembered(value):
        key = (value.__class__, value)  # True == 1 == Decimal(1): the type is part of the key
        try:
            return seen[key]
        except KeyError:
            if len(seen) > 100_000:
                seen.clear()
            seen[key] = out = processor(value)
            return out
        except TypeError:  # not hashable
            return processor(value)

    return remembered


def _searchable(table):
    """The model of ``table`` when it has indexed search (its rows carry search keys), else None."""
    from models.search import searchable_models

    return next((model for model in searchable_models() if model.__table__ is table), None)


def fill_search_keys(table, rows: list[dict]) -> None:
    """Set ``search_pinyin`` and ``search_grams`` of rows of a searchable ``table`` (what
    the ORM's flush hook sets), so bulk rows need no UPDATE pass afterwards."""
    from models.search import search_keys

    model = _searchable(table)
    if model is None or not rows or "search_pinyin" in rows[0]:
        return
    columns, pinyin = model.__search__, model.__search_pinyin__
    for row in rows:
        row["search_pinyin"], row["search_grams"] = search_keys(row, columns, pinyin)


def insert(table, rows: list[dict], ids: bool = False) -> list[int]:
    """Write ``rows`` (dicts; keys starting with "_" and unknown keys ignored) into
    ``table`` in one bulk statement; with ``ids`` the rows get explicit ids (returned in
    order), numbered on from the table's highest id — seed-demo is the only writer. Rows
    of a searchable table get their search keys here (:func:`fill_search_keys`)."""
    if not rows:
        return []
    if not hasattr(table, "columns"):
        table = table.__table__
    fill_search_keys(table, rows)
    connection = db.session.connection()
    dialect = connection.dialect
    keys = [c.name for c in table.columns if c.name in rows[0] and c.name != "id"]
    columns = [[row.get(key) for row in rows] for key in keys]
    for index, key in enumerate(keys):
        convert = _converter(table.c[key].type, dialect)
        if convert is not None:
            columns[index] = [None if v is None else convert(v) for v in columns[index]]
    for name, value, call in _defaults(table, set(keys)):
        processor = table.c[name].type._cached_bind_processor(dialect)
        values = [value(None) if call else value for _ in rows]
        keys.append(name)
        columns.append([processor(v) if processor and v is not None else v for v in values])
    new_ids: list[int] = []
    if ids:
        first = (db.session.execute(select(func.max(table.c.id))).scalar() or 0) + 1
        new_ids = list(range(first, first + len(rows)))
        keys.insert(0, "id")
        columns.insert(0, new_ids)
    raw = connection.connection.driver_connection
    names = ", ".join(_quote(k) for k in keys)
    tuples = zip(*columns, strict=True)
    if dialect.name == "postgresql":
        with raw.cursor() as cursor:
            with cursor.copy(f"COPY {_quote(table.name)} ({names}) FROM STDIN") as copy:
                for values in tuples:
                    copy.write_row(values)
            if ids:  # the ORM's later inserts (audit, workflow) take ids after these
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{_quote(table.name)}', 'id'), %s)", (new_ids[-1],)
                )
    else:
        marks = ", ".join("?" for _ in keys)
        raw.cursor().executemany(f"INSERT INTO {_quote(table.name)} ({names}) VALUES ({marks})", tuples)
    return new_ids


def _big_indexes():
    for table in big_tables():
        for index in sorted(table.indexes, key=lambda i: i.name):
            if not index.unique:
                yield index


def _search_indexes() -> list[tuple[str, str]]:
    """PostgreSQL: (name, CREATE statement) of the search indexes (pg_trgm and grams GIN
    indexes, models/search.py) of the searchable tables; none on SQLite (its FTS5 tables
    are suspended and rebuilt by ``suspend_search_index`` / ``resume_search_index``)."""
    from models.search import postgresql_ddl, searchable_models

    if _dialect().name != "postgresql":
        return []
    out = []
    for model in searchable_models():
        for statement in postgresql_ddl(model.__tablename__, model.__search__):
            name = statement.split()[2]
            out.append((name, statement.replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1)))
    return out


def drop_indexes() -> int:
    """Drop the non-unique indexes of the big tables (those present) and, on PostgreSQL,
    the search indexes (a GIN index kept row by row costs more than one build at the end);
    returns how many."""
    dropped = 0
    for index in _big_indexes():
        db.session.execute(text(f"DROP INDEX IF EXISTS {_quote(index.name)}"))
        dropped += 1
    for name, _ in _search_indexes():
        db.session.execute(text(f"DROP INDEX IF EXISTS {_quote(name)}"))
        dropped += 1
    return dropped


def build_indexes(label: str = "Indexes") -> int:
    """Create every index of the metadata's big tables that is missing, and on PostgreSQL the
    search indexes (one pass per index, a progress bar on a terminal); returns how many."""
    connection = db.session.connection()
    indexes = list(_big_indexes()) + _search_indexes()
    if connection.dialect.name == "postgresql":  # sorting room for the builds, this transaction only
        connection.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{PG_INDEX_MEMORY}'")

    def shown(item):
        return None if item is None else item[0] if isinstance(item, tuple) else item.name

    with click.progressbar(indexes, label=label, item_show_func=shown) as bar:
        for index in bar:
            if isinstance(index, tuple):
                connection.exec_driver_sql(index[1])
            else:
                index.create(connection, checkfirst=True)
    return len(indexes)


def analyze() -> None:
    """Fresh planner statistics (PostgreSQL ANALYZE; SQLite ANALYZE, then PRAGMA optimize)."""
    db.session.execute(text("ANALYZE"))
    if _dialect().name == "sqlite":
        db.session.execute(text("PRAGMA optimize"))


def _pragma(name: str, value: str | None = None):
    raw = db.session.connection().connection.driver_connection
    if value is None:
        return raw.execute(f"PRAGMA {name}").fetchone()[0]
    if not (raw.in_transaction and name == "synchronous"):  # SQLite refuses that inside a transaction
        raw.execute(f"PRAGMA {name}={value}")
    return None


@contextmanager
def load_settings(active: bool = True):
    """SQLite: the load pragmas while the block runs (again after each commit: the pool may
    hand out another connection), the previous values afterwards. PostgreSQL: commits that
    do not wait for the WAL flush (``synchronous_commit`` off for the session: a crash may
    lose the last chunks, never corrupt; the progress record says where to resume)."""
    if active and _dialect().name == "postgresql":

        def asynchronous():
            db.session.execute(text("SET synchronous_commit TO off"))

        asynchronous()
        try:
            yield asynchronous
        finally:
            try:
                db.session.execute(text("RESET synchronous_commit"))
            except Exception:  # a failed transaction: its own error propagates
                pass
        return
    if not active or _dialect().name != "sqlite":
        yield lambda: None
        return
    before = {name: _pragma(name) for name in SQLITE_LOAD_PRAGMAS}

    def apply():
        for name, value in SQLITE_LOAD_PRAGMAS.items():
            _pragma(name, value)

    apply()
    try:
        yield apply
    finally:
        for name, value in before.items():
            _pragma(name, str(value))
