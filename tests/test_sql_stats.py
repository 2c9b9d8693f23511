"""SQL statistics headers for the benchmarks: on with SQL_STATS, absent by default."""

from __future__ import annotations

from sqlalchemy import event

from tests.conftest import login


def test_sql_stats_headers_count_the_statements_of_the_request(shared_app):
    from models import db

    app = shared_app(SQL_STATS=True)
    client = app.test_client()
    assert login(client, "admin").status_code == 302
    seen = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "after_cursor_execute", count)
    try:
        response = client.get("/admin/client/")
    finally:
        event.remove(engine, "after_cursor_execute", count)
    assert response.status_code == 200
    assert int(response.headers["X-SQL-Count"]) == len(seen) > 0
    sql_ms, total_ms = float(response.headers["X-SQL-Time"]), float(response.headers["X-Request-Time"])
    assert 0 < sql_ms <= total_ms


def test_no_sql_stats_headers_by_default(app, client_as):
    response = client_as("admin").get("/admin/client/")
    assert response.status_code == 200
    assert "X-SQL-Count" not in response.headers and "X-SQL-Time" not in response.headers
