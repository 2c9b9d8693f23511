"""Shipments (issue 14 item 4): an order ships from a chosen warehouse in partial
quantities — the rest left pending, the order "partly shipped" until every line is shipped;
the ship page asks which warehouse; refused quantities name the line; cancelling after a
partial shipment returns the shipped quantities to their warehouses; of two parallel
shipments of the last units exactly one succeeds (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.orders import Order
from models.products import Stock, StockError
from models.shipments import Shipment, left_to_ship, warehouse_choices
from models.workflow import perform
from tests.conftest import flashes, run_parallel, transition
from tests.factories import make_order, make_product, user
from tests.test_races import messages, no_server_error


def _stock(s, product, warehouse) -> int | None:
    s.expire_all()
    return s.execute(
        select(Stock.quantity).where(Stock.product_id == product.id, Stock.warehouse == warehouse)
    ).scalar()


def _two_warehouses(s, main=6, east=4):
    """A product with ``main`` in 主仓 and ``east`` in 华东仓."""
    product = make_product(s, stock=main, warehouse="主仓")
    s.add(Stock(product=product, warehouse="华东仓", quantity=east))
    s.flush()
    return product


def _ship(s, order, warehouse, quantities, username="account_manager"):
    return perform(
        order,
        "ship",
        user(s, username),
        warehouse=warehouse,
        quantities={line.id: q for line, q in zip(order.lines, quantities, strict=True)},
    )


# ----------------------------------------------------------------------- the domain
def test_partial_shipments_take_the_stock_and_leave_the_rest_pending(db_session):
    s = db_session
    a = _two_warehouses(s, main=6, east=4)
    b = make_product(s, stock=3, warehouse="华东仓")
    order = make_order(s, lines=[(a, 8), (b, 2)])
    s.commit()
    assert _ship(s, order, "主仓", [5, 0]) == "partial"
    s.commit()
    assert _stock(s, a, "主仓") == 1 and _stock(s, a, "华东仓") == 4 and _stock(s, b, "华东仓") == 3
    assert order.status == "partial" and list(left_to_ship(order).values()) == [3, 2]
    first = order.shipments[0]
    assert first.number.startswith("FH") and first.warehouse == "主仓"
    assert [(line.order_line_id, line.quantity) for line in first.lines] == [(order.lines[0].id, 5)]
    # the rest from the other warehouse: the order is shipped
    assert _ship(s, order, "华东仓", [3, 2]) == "shipped"
    s.commit()
    assert _stock(s, a, "华东仓") == 1 and _stock(s, b, "华东仓") == 1 and _stock(s, a, "主仓") == 1
    assert order.status == "shipped" and set(left_to_ship(order).values()) == {0}
    assert len(order.shipments) == 2 and order.shipments[0].number != order.shipments[1].number
    assert order.shipped_by.username == "account_manager" and order.shipped_at is not None


def test_ship_everything_left_makes_one_shipment_per_warehouse(db_session):
    s = db_session
    a = _two_warehouses(s, main=6, east=4)
    order = make_order(s, lines=[(a, 9)])
    s.commit()
    _ship(s, order, "华东仓", [2])
    s.commit()
    assert perform(order, "ship", user(s, "account_manager")) == "shipped"  # the list's one-click ship
    s.commit()
    assert _stock(s, a, "主仓") == 0 and _stock(s, a, "华东仓") == 1
    assert [(sh.warehouse, [line.quantity for line in sh.lines]) for sh in order.shipments] == [
        ("华东仓", [2]),
        ("主仓", [6]),
        ("华东仓", [1]),
    ]


@pytest.mark.parametrize(
    ("quantities", "message"),
    [
        ([7, 0], "line 1 (%s): 7 is more than the 6 in stock in 主仓."),
        ([9, 0], "line 1 (%s): 9 is more than the 8 left to ship."),
        ([-1, 0], "line 1 (%s): the quantity must be a whole number, 0 or more."),
        (["2.5", 0], "line 1 (%s): the quantity must be a whole number, 0 or more."),
        ([0, 0], "enter a quantity above 0 for at least one line to ship."),
        ([3, 3], "line 2 (%s): 3 is more than the 1 in stock in 主仓."),  # both lines share the 4 left
    ],
)
def test_refused_quantities_name_the_line_and_take_nothing(db_session, quantities, message):
    s = db_session
    a = _two_warehouses(s, main=6, east=4)
    order = make_order(s, lines=[(a, 8), (a, 5)])
    s.commit()
    if quantities == [3, 3]:
        _ship(s, order, "主仓", [2, 0])
        s.commit()
        quantities = [3, 3]
    version = order.version
    with pytest.raises(StockError) as refused:
        _ship(s, order, "主仓", quantities)
    s.rollback()
    expected = message % a if "%s" in message else message
    assert str(refused.value) == f"{order.number}, {expected}" or str(refused.value) == f"{order.number}: {expected}"
    assert _stock(s, a, "华东仓") == 4 and order.version == version
    assert _stock(s, a, "主仓") == (4 if message.startswith("line 2") else 6)


def test_cancel_after_a_partial_shipment_returns_the_stock(db_session):
    s = db_session
    a = _two_warehouses(s, main=6, east=4)
    b = make_product(s, stock=2, warehouse="主仓")
    order = make_order(s, lines=[(a, 9), (b, 2)])
    s.commit()
    _ship(s, order, "主仓", [5, 2])
    s.commit()
    _ship(s, order, "华东仓", [3, 0])
    s.commit()
    s.delete(s.execute(select(Stock).where(Stock.product_id == b.id)).scalar_one())  # emptied row removed
    s.commit()
    assert (_stock(s, a, "主仓"), _stock(s, a, "华东仓"), _stock(s, b, "主仓")) == (1, 1, None)
    with pytest.raises(ValueError, match="needs a comment"):
        perform(order, "cancel", user(s, "account_manager"))
    s.rollback()
    assert perform(order, "cancel", user(s, "account_manager"), "客户取消") == "cancelled"
    s.commit()
    assert (_stock(s, a, "主仓"), _stock(s, a, "华东仓"), _stock(s, b, "主仓")) == (6, 4, 2)
    assert all(shipment.returned_at is not None for shipment in order.shipments)
    # nothing returns twice, a cancelled order ships no more
    with pytest.raises(ValueError, match="Cancelled: cannot"):
        perform(order, "ship", user(s, "account_manager"))
    s.rollback()


def test_a_fully_shipped_order_is_not_cancelled(db_session):
    s = db_session
    a = make_product(s, stock=3)
    order = make_order(s, lines=[(a, 3)])
    s.commit()
    perform(order, "ship", user(s, "account_manager"))
    s.commit()
    with pytest.raises(ValueError, match="Shipped: cannot Cancel"):
        perform(order, "cancel", user(s, "account_manager"), "太晚")
    s.rollback()
    assert _stock(s, a, "主仓") == 0


def test_warehouse_choices_list_those_holding_all_first(db_session):
    s = db_session
    a = _two_warehouses(s, main=2, east=9)
    b = make_product(s, stock=5, warehouse="主仓")
    order = make_order(s, lines=[(a, 3)])
    other = make_order(s, lines=[(a, 3), (b, 1)])
    s.commit()
    assert warehouse_choices(order) == [("华东仓", True), ("主仓", False)]
    assert warehouse_choices(other) == [("华东仓", False), ("主仓", False)]  # the one holding more first


# ----------------------------------------------------------------------- the ship page
def test_the_ship_page_asks_the_warehouse_and_ships_a_partial_quantity(en_client, db_session):
    s = db_session
    a = _two_warehouses(s, main=6, east=4)
    order = make_order(s, lines=[(a, 8)])
    s.commit()
    am = en_client("account_manager")
    details = am.get(f"/admin/order/details/?id={order.id}").get_data(as_text=True)
    assert f'id="wf-ship" href="/admin/order/ship/?id={order.id}"' in details and "Nothing shipped yet." in details
    page = am.get(f"/admin/order/ship/?id={order.id}").get_data(as_text=True)
    assert '<option value="主仓" selected>主仓 — part of what is left</option>' in page
    assert '<option value="华东仓">华东仓 — part of what is left</option>' in page
    assert f'name="quantity-{order.lines[0].id}" id="quantity-{order.lines[0].id}" value="6"' in page
    east = am.get(f"/admin/order/ship/?id={order.id}&warehouse=华东仓").get_data(as_text=True)
    assert f'id="quantity-{order.lines[0].id}" value="4"' in east and "In stock in 华东仓" in east
    # too many: refused naming the line, the typed value kept, nothing taken
    refused = am.post(
        "/admin/order/ship/",
        data={"id": order.id, "warehouse": "华东仓", f"quantity-{order.lines[0].id}": "5", "version": order.version},
    )
    assert refused.status_code == 200
    assert f"{order.number}, line 1 ({a}): 5 is more than the 4 in stock in 华东仓." in flashes(refused)
    assert f'id="quantity-{order.lines[0].id}" value="5"' in refused.get_data(as_text=True)
    assert _stock(s, a, "华东仓") == 4
    done = am.post(
        "/admin/order/ship/",
        data={"id": order.id, "warehouse": "华东仓", f"quantity-{order.lines[0].id}": "3", "note": "先发三台"},
        follow_redirects=True,
    )
    s.expire_all()
    shipment = s.execute(select(Shipment).where(Shipment.order_id == order.id)).scalar_one()
    assert f"Shipment {shipment.number} recorded; the order is now Partly shipped." in flashes(done)
    assert shipment.note == "先发三台" and _stock(s, a, "华东仓") == 1
    body = done.get_data(as_text=True)
    assert f'href="/admin/shipment/print/?ids={shipment.id}"' in body and 'id="workflow-state">Partly shipped' in body
    # the list shows the state
    listed = am.get("/admin/order/?flt0_status_equals=partial").get_data(as_text=True)
    assert order.number in listed and "Partly shipped" in listed
    # the shipment list and details, read-only
    assert shipment.number in am.get("/admin/shipment/").get_data(as_text=True)
    assert am.get(f"/admin/shipment/details/?id={shipment.id}").status_code == 200
    assert am.get("/admin/shipment/new/").status_code in (302, 403)  # no form: shipments come from shipping
    assert am.get(f"/admin/shipment/edit/?id={shipment.id}").status_code in (302, 403)
    assert am.post("/admin/shipment/delete/", data={"id": shipment.id}).status_code in (302, 403)
    assert s.get(Shipment, shipment.id) is not None


def test_the_ship_page_needs_the_ship_right_and_the_scope(en_client, db_session):
    s = db_session
    a = make_product(s, stock=5)
    order = make_order(s, lines=[(a, 2)])
    mine = make_order(s, "am_team", lines=[(a, 1)])
    s.commit()
    assert en_client("clerk").get(f"/admin/order/ship/?id={order.id}").status_code == 403
    assert en_client("clerk").post("/admin/order/ship/", data={"id": order.id, "warehouse": "主仓"}).status_code == 403
    assert en_client("am_team").get(f"/admin/order/ship/?id={order.id}").status_code == 404
    assert en_client("am_team").get(f"/admin/order/ship/?id={mine.id}").status_code == 200
    assert _stock(s, a, "主仓") == 5


def test_cancel_through_the_transition_page_returns_the_stock(en_client, db_session):
    s = db_session
    a = make_product(s, stock=5)
    order = make_order(s, lines=[(a, 4)])
    s.commit()
    _ship(s, order, "主仓", [3])
    s.commit()
    am = en_client("account_manager")
    assert "Cancel: 1 done." in flashes(transition(am, "order", "cancel", order, comment="客户取消"))
    assert _stock(s, a, "主仓") == 5
    assert s.get(Order, order.id).status == "cancelled"


# ------------------------------------------------------------------- the race (both DBs)
def test_two_parallel_shipments_of_the_last_units_one_succeeds(http_user, db_session):
    s = db_session
    people = [http_user("account_manager"), http_user("account_manager")]
    for _ in range(3):
        product = _two_warehouses(s, main=3, east=0)
        orders = [make_order(s, lines=[(product, 3)]) for _ in people]
        s.commit()
        forms = [{"id": str(o.id), "warehouse": "主仓", f"quantity-{o.lines[0].id}": "3"} for o in orders]
        results = run_parallel(
            [lambda u=u, f=f: u.post("/admin/order/ship/", f, follow=True) for u, f in zip(people, forms, strict=True)]
        )
        no_server_error(results)
        s.expire_all()
        assert _stock(s, product, "主仓") == 0
        statuses = sorted(s.get(Order, o.id).status for o in orders)
        assert statuses == ["pending", "shipped"]
        shipments = s.execute(select(Shipment).where(Shipment.order_id.in_([o.id for o in orders]))).scalars().all()
        assert len(shipments) == 1
        texts = [messages(body) for _, body, _ in results]
        assert sum("recorded; the order is now Shipped." in t for t in texts) == 1, texts
        loser = next(o for o in orders if s.get(Order, o.id).status == "pending")
        assert any(
            f"{loser.number}, line 1 ({product}): 3 is more than the 0 in stock in 主仓." in t
            or "the stock changed while shipping" in t
            for t in texts
        ), texts


def test_two_parallel_shipments_of_one_order_ship_it_once(http_user, db_session):
    s = db_session
    people = [http_user("account_manager"), http_user("sales_director")]
    product = make_product(s, stock=10)
    order = make_order(s, lines=[(product, 4)])
    s.commit()
    form = {"id": str(order.id), "warehouse": "主仓", f"quantity-{order.lines[0].id}": "4"}
    results = run_parallel([lambda u=u: u.post("/admin/order/ship/", form, follow=True) for u in people])
    no_server_error(results)
    s.expire_all()
    assert _stock(s, product, "主仓") == 6
    assert len(s.execute(select(Shipment).where(Shipment.order_id == order.id)).scalars().all()) == 1
    assert s.get(Order, order.id).status == "shipped"
