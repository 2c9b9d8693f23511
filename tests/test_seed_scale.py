"""seed-demo at scale (issue 10): chunks committed as they are written, an interrupted run
resumed by the next one without duplicates, the big tables' indexes rebuilt exactly as the
metadata declares them, and bulk-loaded data equal to what the same seed gives otherwise."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, inspect, select

from models.auth import SystemConfig
from models.customers import Client, Contract, Linkman
from models.orders import Order
from seed import bulk
from seed.demo import PROGRESS_SETTING
from tests.conftest import fresh_database, make_app
from tests.factories import make_client


def _seed(app, *args, ok=True):
    result = app.test_cli_runner().invoke(args=["seed-demo", *args])
    if ok:
        assert result.exit_code == 0, result.output
    return result


def _indexes(app) -> dict[str, set[tuple]]:
    """The database's indexes of the big tables: name → (columns, unique)."""
    from models import db

    with app.app_context():
        inspector = inspect(db.engine)
        found = {
            t.name: {
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(t.name)
                if not i.get("duplicates_constraint")  # PostgreSQL: the index of a UNIQUE constraint
                and "_search_" not in i["name"]  # PostgreSQL: search indexes of models/search.py
            }
            for t in bulk.big_tables()
        }
        db.session.remove()
    return found


def _declared() -> dict[str, set[tuple]]:
    return {
        t.name: {(i.name, tuple(c.name for c in i.columns), bool(i.unique)) for i in t.indexes}
        for t in bulk.big_tables()
    }


def _snapshot(app):
    from models import db

    with app.app_context():
        data = (
            db.session.execute(select(Client.name, Client.uscc, Client.contact_mobile).order_by(Client.id)).all(),
            db.session.execute(select(Linkman.name, Linkman.mobile).order_by(Linkman.id)).all(),
            db.session.execute(select(Contract.number, Contract.status, Contract.amount).order_by(Contract.id)).all(),
            db.session.execute(select(Order.number, Order.client_id, Order.status).order_by(Order.id)).all(),
        )
        db.session.remove()
        db.engine.dispose()
    return data


def test_interrupted_run_keeps_its_chunks_and_the_next_run_resumes(app, db_session, monkeypatch):
    import seed.demo
    from seed.customers_demo import DemoClients

    monkeypatch.setattr(seed.demo, "CHUNK", 10)
    real_batch = DemoClients.batch
    calls = []

    def crash_on_third(self, size, counts):
        calls.append(size)
        if len(calls) == 3:
            raise RuntimeError("power cut")
        return real_batch(self, size, counts)

    monkeypatch.setattr(DemoClients, "batch", crash_on_third)
    result = _seed(app, "--clients", "40", "--seed", "5", "--bulk", ok=False)
    assert result.exit_code != 0 and isinstance(result.exception, RuntimeError)

    # the two chunks before the crash are committed, whole, and the run is on record
    s = db_session
    s.expire_all()
    assert s.execute(select(func.count()).select_from(Client)).scalar() == 20
    assert s.execute(select(func.count(func.distinct(Linkman.client_id)))).scalar() == 20
    assert s.execute(select(func.count(func.distinct(Order.client_id)))).scalar() > 10
    marker = s.execute(select(SystemConfig.value).where(SystemConfig.name == PROGRESS_SETTING)).scalar()
    assert marker is not None and '"done": 20' in marker and '"clients": 40' in marker
    s.rollback()

    # the next run (even `make run`'s --if-empty) finishes it: 40 clients, no duplicates
    monkeypatch.setattr(DemoClients, "batch", real_batch)
    output = _seed(app, "--if-empty").output
    assert "Resuming an interrupted seed-demo run: 20 of 40" in output
    s.expire_all()
    assert s.execute(select(func.count()).select_from(Client)).scalar() == 40
    assert s.execute(select(func.count(func.distinct(Client.name_key)))).scalar() == 40
    assert s.execute(select(func.count(func.distinct(Client.uscc)))).scalar() == 40
    numbers = s.execute(select(Contract.number)).scalars().all()
    assert len(numbers) == len(set(numbers))
    assert s.execute(select(SystemConfig).where(SystemConfig.name == PROGRESS_SETTING)).scalar() is None
    s.rollback()
    assert _indexes(app) == _declared()

    # ids were given explicitly: new rows from the application still get free ones
    before = s.execute(select(func.max(Client.id))).scalar()
    new = make_client(s, "am1", name="扩容后新建客户有限公司")
    s.commit()
    assert new.id > before


def test_bulk_load_rebuilds_exactly_the_declared_indexes(app):
    from models import db

    with app.app_context():  # an index missing before the run (a crashed load) comes back too
        bulk.drop_indexes()
        db.session.commit()
        db.session.remove()
    assert _indexes(app) != _declared()
    assert all(_declared().values())  # every big table has indexes to lose
    output = _seed(app, "--clients", "12", "--seed", "2", "--bulk").output
    assert "12 clients" in output
    assert _indexes(app) == _declared()


def test_bulk_load_gives_the_same_data_as_a_plain_run(database_url, template_db, tmp_path):
    runs = []
    with fresh_database(template_db, tmp_path) as second:
        for url, mode in ((database_url, "--bulk"), (second, "--no-bulk")):
            app = make_app(url, tmp_path)
            _seed(app, "--clients", "25", "--seed", "9", mode)
            runs.append(_snapshot(app))
    clients, linkmans, contracts, orders = runs[0]
    assert len(clients) == 25 and linkmans and contracts and orders
    assert runs[0] == runs[1]


def test_the_bulk_writer_stores_what_a_core_insert_stores(app):
    """Money in fen, aware datetimes, dates and Python defaults exactly as a Core insert
    writes them; explicit ids continue the table's numbering."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from sqlalchemy import insert, text

    from models import db
    from models.auth import User
    from models.targets import SalesTarget

    with app.app_context():
        user_id = db.session.execute(select(User.id).order_by(User.id)).scalar()
        at = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)
        row = {"user_id": user_id, "amount": Decimal("1234.50"), "notes": "批量", "created_at": at, "updated_at": at}
        ids = bulk.insert(SalesTarget.__table__, [{**row, "month": "2031-01"}, {**row, "month": "2031-02"}], ids=True)
        db.session.execute(insert(SalesTarget.__table__), [{**row, "month": "2031-03"}])
        stored = (
            db.session.execute(text("SELECT * FROM sales_target WHERE month >= '2031-01' ORDER BY month"))
            .mappings()
            .all()
        )
        assert [r["id"] for r in stored[:2]] == ids and stored[2]["id"] == ids[-1] + 1
        for bulk_row in stored[:2]:
            assert {k: v for k, v in bulk_row.items() if k not in ("id", "month")} == {
                k: v for k, v in stored[2].items() if k not in ("id", "month")
            }
        assert stored[0]["amount"] == 123450
        assert db.session.get(SalesTarget, ids[0]).created_at == at
        db.session.rollback()
        db.session.remove()


def test_seeded_clients_are_found_by_the_search_index_in_both_modes(database_url, template_db, tmp_path):
    """Bulk-written rows get their pinyin and grams and are in the search index at the end
    (the triggers are suspended during a bulk load and the index rebuilt once)."""
    from models import db
    from models.search import indexed_ids, name_pinyin

    with fresh_database(template_db, tmp_path) as second:
        for url, mode in ((database_url, "--bulk"), (second, "--no-bulk")):
            app = make_app(url, tmp_path)
            _seed(app, "--clients", "15", "--seed", "4", mode)
            with app.app_context():
                dialect = db.engine.dialect.name
                client = db.session.execute(select(Client).order_by(Client.id.desc()).limit(1)).scalar_one()
                initials = name_pinyin(client.name)[1]
                assert client.search_pinyin and client.search_grams, mode
                for term in (client.name[:3], client.name[:2], initials):
                    found = set(db.session.execute(indexed_ids(Client, term, dialect)).scalars())
                    assert client.id in found, (mode, term)
                db.session.remove()


def test_seeded_orders_and_contracts_carry_their_kept_totals(app):
    """The bulk writer bypasses the session: seed-demo sets the kept totals once after the
    load, so they equal the aggregates of the seeded lines, receipts and invoices."""
    from models import db
    from models.finance import Contract

    _seed(app, "--clients", "30", "--seed", "5", "--bulk")
    with app.app_context():
        orders = db.session.execute(select(Order)).scalars().all()
        assert orders and any(order.lines for order in orders)
        for order in orders:
            assert order.total == sum((line.quantity * line.unit_price for line in order.lines), Decimal(0)), order.id
        assert db.session.execute(select(func.count()).where(Contract.received > 0)).scalar() > 0
        db.session.remove()


def _shape(app) -> dict:
    """Rows per big table, and per state of the tables with a workflow."""
    from models import db
    from models.finance import Invoice, Receipt
    from models.opportunities import Opportunity
    from models.orders import Quote

    with app.app_context():
        shape = {t.name: db.session.execute(select(func.count()).select_from(t)).scalar() for t in bulk.big_tables()}
        for model, column in (
            (Contract, Contract.status),
            (Order, Order.status),
            (Quote, Quote.status),
            (Receipt, Receipt.status),
            (Invoice, Invoice.status),
            (Opportunity, Opportunity.status),
        ):
            rows = db.session.execute(select(column, func.count()).group_by(column).order_by(column)).all()
            shape[f"{model.__tablename__} by status"] = tuple(map(tuple, rows))
        db.session.remove()
        db.engine.dispose()
    return shape


def test_the_same_seed_gives_the_same_data_and_shape_twice(database_url, template_db, tmp_path):
    """The generation draws everything from the seeded RNG (the Faker pools included): two
    fresh databases seeded alike hold the same rows, the same counts per table and the
    same states; every contract state appears."""
    runs = []
    with fresh_database(template_db, tmp_path) as second:
        for url in (database_url, second):
            app = make_app(url, tmp_path)
            _seed(app, "--clients", "40", "--seed", "13", "--bulk")
            runs.append((_shape(app), _snapshot(app)))
    (shape, data), (shape_again, data_again) = runs
    assert shape == shape_again and data == data_again
    assert shape["clients"] == 40 and shape["linkmans"] >= 40 and shape["orders"] > 40
    states = {state for state, _ in shape["contract by status"]}
    assert {"draft", "submitted", "approved", "rejected", "signed", "archived", "terminated"} <= states


def test_kept_figures_and_search_keys_are_written_with_the_rows(app):
    """No UPDATE pass after the load: the totals the generators write equal what
    refresh_totals computes from the lines, allocations and invoices, and the search keys
    equal what the ORM's hook computes (rebuild_search_keys finds nothing to change)."""
    from models import db
    from models.orders import Quote
    from models.search import rebuild_search_keys
    from models.totals import refresh_totals

    _seed(app, "--clients", "30", "--seed", "8", "--bulk")
    figures = (
        select(Contract.id, Contract.received, Contract.received_last_on, Contract.invoiced, Contract.invoiced_last_on),
        select(Quote.id, Quote.subtotal, Quote.total),
        select(Order.id, Order.total),
    )
    with app.app_context():
        written = [db.session.execute(q.order_by(q.selected_columns[0])).all() for q in figures]
        assert all(written) and any(row.invoiced > 0 for row in written[0])
        assert any(row.received_last_on is not None for row in written[0])
        assert any(row.subtotal != row.total for row in written[1])  # discounted quotes
        refresh_totals(db.session)
        assert [db.session.execute(q.order_by(q.selected_columns[0])).all() for q in figures] == written
        assert rebuild_search_keys(db.session) == 0
        db.session.rollback()
        db.session.remove()


def test_cached_pinyin_equals_lazy_pinyin():
    """The pinyin of names is cached per pypinyin segment: on company and person names,
    polyphonic characters in and out of phrases and random runs of characters it equals
    ``lazy_pinyin`` of the whole run; the keys of a name are unchanged."""
    import random
    import re

    from pypinyin import lazy_pinyin

    from models.search import _run_pinyin, name_pinyin

    texts = [
        "北京市华鑫科技有限公司\n北京市朝阳区人民路12号国际大厦12层03室\n13812345678\nbjshxkjyxgs",
        "重庆长安汽车股份有限公司",
        "长沙银行行长",
        "单于曾经",
        "瑞达数据科技（深圳）有限责任公司",
        "DD20261202-001 HT-2026-000042 x_y İstanbul ß ²³ Ⅻ ǅ",
        "",
    ]
    rng = random.Random(4)
    alphabet = "abAB09 _-\n\t北京长行重乐曾单于朝阳解都会藏（）"
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24))) for _ in range(3000)]
    compared = 0
    for text in texts:
        for run in re.findall(r"[\u4e00-\u9fff]+", text):
            assert list(_run_pinyin(run)) == lazy_pinyin(run), run
            compared += 1
    assert compared > 1000
    assert name_pinyin("北京科技") == ("beijingkeji", "bjkj")
    assert name_pinyin("重庆长安汽车股份有限公司")[1] == "cqcaqcgfyxgs"


def test_bulk_converters_give_the_bind_processors_values(app):
    """The bulk writer's shortcuts (SQLite datetime and date text, remembered money and
    flags) give what each column's own bind processor gives, other values included."""
    from datetime import UTC, date, datetime, timedelta, timezone

    from models import db
    from models.customers import Contract

    with app.app_context():
        dialect = db.session.get_bind().dialect
        table = Contract.__table__
        values = {
            "recorded_at": [
                datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC),
                datetime(2026, 3, 4, 5, 6, 7, 12, tzinfo=UTC),
                datetime(2026, 3, 4, 13, 6, 7, tzinfo=timezone(timedelta(hours=8))),
            ],
            "starts_on": [date(2026, 1, 2), date(999, 1, 2)],
            "amount": [Decimal("12.50"), Decimal("12.5"), 12, "12.50", Decimal("0.00")],
            "is_deleted": [True, False, 1, 0],
        }
        for name, samples in values.items():
            convert = bulk._converter(table.c[name].type, dialect)
            processor = table.c[name].type._cached_bind_processor(dialect)
            for value in samples * 2:
                expected = processor(value) if processor else value
                assert (convert(value) if convert else value) == expected, (name, value)
                assert type(convert(value) if convert else value) is type(expected), (name, value)


def test_weighted_draws_are_those_of_random_choices():
    """``bulk.weighted`` gives the draws ``random.choices`` gives for the same weights and
    seed (integer and float weights), so the seeded data did not change with it."""
    import random

    for population, weights in (((1, 2, 3, 4), (35, 35, 20, 10)), (("a", "b", "c"), (0.6, 1.4, 0.15))):
        plain, cached = random.Random(7), random.Random(7)
        expected = [plain.choices(population, weights)[0] for _ in range(5000)]
        assert [bulk.weighted(cached, population, weights) for _ in range(5000)] == expected
        assert set(expected) == set(population)
