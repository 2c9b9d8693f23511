"""Planner statistics: the list pages walk their partial indexes only if the planner knows
what the tables hold. Without statistics SQLite guesses, and a guess once sent the client
list through every live row and a sort (issue 10).

- after every ``flask db upgrade`` that applied a revision (``migrations/env.py``), and
  after seeding: :func:`refresh_statistics` (``ANALYZE``, on SQLite with an analysis
  limit so a large file is done in moments);
- on SQLite while the app runs: every :data:`OPTIMIZE_EVERY` returns of a pooled
  connection, ``PRAGMA optimize``, which re-analyses only the tables that changed a lot
  (SQLite's advice for long-lived connections; ``0x10002`` once when a connection opens);
- on PostgreSQL autovacuum keeps the statistics current between upgrades.
"""

from __future__ import annotations

import logging
import sqlite3

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

#: rows SQLite reads per index when it analyses (SQLite suggests 100–1000); 0 = all rows
ANALYSIS_LIMIT = 1000
#: pooled SQLite connections run ``PRAGMA optimize`` once per this many returns to the pool
OPTIMIZE_EVERY = 1000


def refresh_statistics(bind: Engine | Connection) -> None:
    """Gather fresh planner statistics for every table (``ANALYZE``), committed."""
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            _analyze(conn)
        return
    _analyze(bind)
    bind.commit()


def _analyze(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
    conn.exec_driver_sql("ANALYZE")


def _is_sqlite(dbapi_connection) -> bool:
    return isinstance(dbapi_connection, sqlite3.Connection)


def _optimize(dbapi_connection, pragma: str) -> None:
    """Best effort: a busy database postpones it to the next time, it never fails a request."""
    try:
        cursor = dbapi_connection.cursor()
        waits = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
        cursor.execute("PRAGMA busy_timeout=50")  # a writer at work: not now
        try:
            cursor.execute(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
            cursor.execute(pragma).fetchall()
        finally:
            cursor.execute(f"PRAGMA busy_timeout={int(waits)}")
            cursor.close()
    except sqlite3.Error as exc:
        log.info("%s skipped: %s", pragma, exc)


@event.listens_for(Engine, "connect")
def _optimize_on_open(dbapi_connection, connection_record):
    if _is_sqlite(dbapi_connection):
        connection_record.info["returns"] = 0
        # 0x10002: analyse what looks stale at once (SQLite ≥ 3.46; older ones ignore the bit)
        _optimize(dbapi_connection, "PRAGMA optimize=0x10002")


@event.listens_for(Engine, "checkin")
def _optimize_now_and_then(dbapi_connection, connection_record):
    if dbapi_connection is None or not _is_sqlite(dbapi_connection):
        return
    returns = connection_record.info.get("returns", 0) + 1
    connection_record.info["returns"] = returns
    if returns % OPTIMIZE_EVERY == 0:
        _optimize(dbapi_connection, "PRAGMA optimize")


@event.listens_for(Engine, "close")
def _optimize_on_close(dbapi_connection, connection_record):
    if _is_sqlite(dbapi_connection):
        _optimize(dbapi_connection, "PRAGMA optimize")
