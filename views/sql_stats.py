"""SQL statistics per request for the benchmarks (config ``SQL_STATS``, env ``CRM_SQL_STATS=1``;
off by default): response headers ``X-SQL-Count`` (statements executed while the request
was handled), ``X-SQL-Time`` and ``X-Request-Time`` (milliseconds), so bench/lists.py can
report the statements per page and the time spent outside the database."""

from __future__ import annotations

import time

from flask import current_app, g, has_app_context
from sqlalchemy import event
from sqlalchemy.engine import Engine

_listening = False


def _counting() -> bool:
    return has_app_context() and "sql_stats" in g and current_app.config.get("SQL_STATS")


def _before(conn, cursor, statement, parameters, context, executemany):
    if _counting():
        conn.info["sql_stats_started"] = time.perf_counter()


def _after(conn, cursor, statement, parameters, context, executemany):
    started = conn.info.pop("sql_stats_started", None)
    if started is not None and _counting():
        g.sql_stats[0] += 1
        g.sql_stats[1] += time.perf_counter() - started


def init_app(app) -> None:
    """Install the counters when the app is configured with ``SQL_STATS``."""
    global _listening
    if not app.config.get("SQL_STATS"):
        return
    if not _listening:  # one pair of listeners for every engine of the process
        event.listen(Engine, "before_cursor_execute", _before)
        event.listen(Engine, "after_cursor_execute", _after)
        _listening = True

    @app.before_request
    def start_counting():
        g.sql_stats = [0, 0.0]
        g.sql_stats_started = time.perf_counter()

    @app.after_request
    def report(response):
        if "sql_stats" in g:
            count, seconds = g.sql_stats
            response.headers["X-SQL-Count"] = str(count)
            response.headers["X-SQL-Time"] = f"{seconds * 1000:.1f}"
            response.headers["X-Request-Time"] = f"{(time.perf_counter() - g.sql_stats_started) * 1000:.1f}"
        return response
