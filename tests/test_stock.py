"""Products and stock (SPEC §4.4 基本数据): the stock race — two concurrent shipments of
the last unit, each in its own thread, app context and session on the same database:
exactly one ships, the stock ends at 0 and never below (SQLite: WAL + busy_timeout and
the versioned stock row; PostgreSQL: SELECT … FOR UPDATE). Sales roles only read stock
("查询库存"); the product list shows the stock on hand from SQL; stock filters.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm.exc import StaleDataError

from models.lookups import Trade
from models.orders import Order
from models.products import Stock, StockError
from models.workflow import perform
from tests.conftest import cells, list_pages, make_app
from tests.factories import lookup, make_order, make_product, user


# --------------------------------------------------------------------------- the race
def _ship_in_thread(app, order_id, username, barrier, results):
    """Load the order and read the stock, wait until the other thread has read too, then
    ship and commit — in this thread's own app (built beforehand), context and session."""
    from models import db

    try:
        with app.app_context(), force_locale("en"):
            try:
                order = db.session.get(Order, order_id)
                actor = user(db.session, username)
                product_ids = [line.product_id for line in order.lines]
                seen = db.session.execute(
                    select(func.sum(Stock.quantity)).where(Stock.product_id.in_(product_ids))
                ).scalar()
                db.session.commit()  # the read is over (no snapshot held)
                barrier.wait()  # both read "1 in stock" before either writes
                perform(order, "ship", actor)
                db.session.commit()
                results[order_id] = ("shipped", seen)
            except (StockError, StaleDataError, DBAPIError) as exc:  # the loser
                db.session.rollback()
                results[order_id] = ("refused", exc)
            finally:
                db.session.remove()
                db.engine.dispose()
    except BaseException as exc:  # anything else fails the test below, with the reason
        import traceback

        results[order_id] = ("crashed", exc, traceback.format_exc())


@pytest.mark.parametrize("round_", range(3))
def test_two_concurrent_shipments_of_the_last_unit(database_url, tmp_path, db_session, round_):
    product = make_product(db_session, stock=1)
    first = make_order(db_session, "account_manager", lines=[(product, 1)])
    second = make_order(db_session, "am_team", lines=[(product, 1)])
    db_session.commit()
    barrier = threading.Barrier(2, timeout=30)
    results: dict = {}
    threads = [
        threading.Thread(
            target=_ship_in_thread, args=(make_app(database_url, tmp_path), order.id, name, barrier, results)
        )
        for order, name in ((first, "account_manager"), (second, "am_team"))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    outcomes = sorted(outcome for outcome, *_ in results.values())
    assert outcomes == ["refused", "shipped"], results
    assert all(seen == 1 for outcome, seen in results.values() if outcome == "shipped")  # both had read 1
    loser = next(value for outcome, value in results.values() if outcome == "refused")
    if isinstance(loser, StockError):
        assert "needs 1, only 0" in str(loser) or "stock changed" in str(loser)
    db_session.expire_all()
    statuses = sorted(db_session.execute(select(Order.status).where(Order.id.in_([first.id, second.id]))).scalars())
    assert statuses == ["pending", "shipped"]
    quantities = db_session.execute(select(Stock.quantity).where(Stock.product_id == product.id)).scalars().all()
    assert quantities == [0]
    shipped = db_session.execute(select(Order).where(Order.status == "shipped")).scalar_one()
    assert shipped.shipped_at is not None and results[shipped.id][0] == "shipped"


def test_stock_never_goes_below_zero(db_session):
    product = make_product(db_session, stock=2)
    db_session.commit()
    row = product.stock[0]
    row.quantity = -1
    with pytest.raises(ValueError, match="must not be negative"):
        db_session.flush()
    db_session.rollback()
    order = make_order(db_session, lines=[(product, 3)])
    with pytest.raises(StockError, match="needs 3, only 2"):
        perform(order, "ship", user(db_session, "account_manager"))
    db_session.rollback()
    assert db_session.execute(select(Stock.quantity).where(Stock.product_id == product.id)).scalar() == 2


# ------------------------------------------------------------------------------ rights
@pytest.mark.parametrize("username", ["account_manager", "sales_director", "clerk", "finance", "service"])
def test_sales_roles_only_read_stock(en_client, db_session, username):
    product = make_product(db_session, stock=5)
    row = product.stock[0]
    db_session.commit()
    client = en_client(username)
    assert client.get("/admin/stock/").status_code == 200  # 查询库存
    assert client.get(f"/admin/stock/details/?id={row.id}").status_code == 200
    assert client.get("/admin/product/").status_code == 200
    assert client.get("/admin/stock/new/").status_code == 403
    assert client.get(f"/admin/stock/edit/?id={row.id}").status_code == 403
    assert (
        client.post(
            f"/admin/stock/edit/?id={row.id}", data={"product": str(product.id), "warehouse": "主仓", "quantity": "999"}
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/admin/stock/new/", data={"product": str(product.id), "warehouse": "新仓", "quantity": "999"}
        ).status_code
        == 403
    )
    assert client.post("/admin/stock/delete/", data={"id": str(row.id)}).status_code == 403
    assert client.get(f"/admin/product/edit/?id={product.id}").status_code == 403
    db_session.expire_all()
    assert db_session.execute(select(Stock.warehouse, Stock.quantity)).all() == [("主仓", 5)]
    page = client.get("/admin/stock/").get_data(as_text=True)
    assert "/admin/stock/new/" not in page and "/admin/stock/edit/" not in page


def test_admin_keeps_stock(en_client, db_session):
    product = make_product(db_session)
    db_session.commit()
    admin = en_client("admin")
    response = admin.post(
        "/admin/stock/new/",
        data={"product": str(product.id), "warehouse": "东仓", "location": "A-01", "quantity": "12"},
    )
    assert response.status_code == 302
    row = db_session.execute(select(Stock)).scalar_one()
    assert (row.warehouse, row.location, row.quantity) == ("东仓", "A-01", 12)
    refused = admin.post(
        f"/admin/stock/edit/?id={row.id}",
        data={"product": str(product.id), "warehouse": "东仓", "quantity": "-1", "loaded_version": str(row.version)},
    )
    assert refused.status_code == 200
    db_session.expire_all()
    assert row.quantity == 12


# --------------------------------------------------------------------- products, stock
def test_product_list_shows_stock_on_hand_in_constant_sql(app, en_client, db_session):
    products = []
    for k in range(30):
        product = make_product(db_session, name=f"批量产品{k:02d}", stock=k, warehouse="甲仓")
        if k % 3 == 0:
            db_session.add(Stock(product=product, warehouse="乙仓", quantity=100))
        products.append(product)
    db_session.commit()
    client = en_client("account_manager")
    counts, pages = list_pages(app, client, "/admin/product/", sizes=(20, 50))
    assert counts[20] == counts[50], counts
    page = pages[50].get_data(as_text=True)
    listed = dict(zip(cells(page, "name"), (int(v) for v in cells(page, "on_hand")), strict=False))
    assert listed == {f"批量产品{k:02d}": k + (100 if k % 3 == 0 else 0) for k in range(30)}
    export = client.get("/admin/product/export/csv/")
    assert export.status_code == 403  # account managers do not export products


def test_product_filters_and_search(en_client, db_session):
    software = lookup(db_session, Trade, "软件")
    cheap = make_product(db_session, name="入门版", model="S-1", price="99.00", category=software)
    dear = make_product(db_session, name="旗舰版", model="S-9", price="9999.00", category=software)
    other = make_product(db_session, name="机床", model="M-1", price="500.00", is_active=False)
    db_session.commit()
    client = en_client("admin")

    def listed(query):
        return set(cells(client.get(f"/admin/product/?{query}").get_data(as_text=True), "name"))

    assert listed(f"flt0_product_category_equals={software.id}") == {cheap.name, dear.name}
    assert listed("flt0_unit_price_greater_than=100&flt1_unit_price_smaller_than=9999") == {other.name}
    assert listed("flt0_active_equals=0") == {other.name}
    assert listed("search=S-9") == {dear.name}


def test_stock_filters_and_search(en_client, db_session):
    software = lookup(db_session, Trade, "软件")
    a = make_product(db_session, name="软件甲", category=software, stock=3, warehouse="北京仓")
    b = make_product(db_session, name="硬件乙", stock=40, warehouse="上海仓")
    db_session.commit()
    client = en_client("sales_director")

    def listed(query):
        return set(cells(client.get(f"/admin/stock/?{query}").get_data(as_text=True), "warehouse"))

    assert listed("") == {"北京仓", "上海仓"}
    assert listed(f"flt0_product_category_equals={software.id}") == {"北京仓"}
    assert listed("flt0_quantity_in_stock_greater_than=10") == {"上海仓"}
    assert listed(f"flt0_product_equals={b.id}") == {"上海仓"}
    assert listed("search=软件甲") == {"北京仓"} and listed("search=上海") == {"上海仓"}
    assert a.name in client.get("/admin/stock/").get_data(as_text=True)
    assert str(Decimal("0")) == "0"
