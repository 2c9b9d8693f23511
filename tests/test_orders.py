"""Orders (SPEC §4.4): inline lines (quantity > 0, unit and unit price from the product),
totals computed in SQL for the list (equal to an independent Σ quantity × unit price, a
constant number of SQL statements per page), filters, pending → shipped (takes the stock
in the same transaction, refused — nothing changed — when the stock is short) →
completed, cancel with a reason, shipped orders read-only, soft delete and restore, data
scope (own / department / all). Also the builders the quote and stock tests share.

Organisation (tests/conftest.py): account_manager, am_team, sales_director in 销售一部,
am_other in 销售二部, director_top in 销售部 (their parent). HTTP clients speak English.
"""

from __future__ import annotations

import csv
import html
import io
import itertools
import random
import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, insert, select

from models.base import FieldError, utcnow
from models.orders import Order, OrderLine
from models.products import Stock, StockError
from models.workflow import WorkflowError, perform
from tests.conftest import cells, flashes, list_pages, money, transition
from tests.factories import make_client, make_order, make_product, user

_seq = itertools.count(1)


# ------------------------------------------------------------------------------ builders
def stock_of(session, product) -> int:
    session.expire_all()
    return session.execute(select(func.sum(Stock.quantity)).where(Stock.product_id == product.id)).scalar()


# ------------------------------------------------------------------------ totals in SQL
def test_list_totals_equal_an_independent_sum(en_client, db_session):
    rng = random.Random(5)
    products = [make_product(db_session, price=f"{rng.randint(1, 99999)}.{rng.randint(0, 99):02d}") for _ in range(6)]
    expected = {}
    for k in range(12):
        lines = [
            (rng.choice(products), rng.randint(1, 500), f"{rng.randint(0, 5000)}.{rng.randint(0, 99):02d}")
            for _ in range(rng.randint(1, 15))
        ]
        order = make_order(db_session, lines=lines, number=f"DD-SUM-{k:03d}")
        expected[order.number] = sum((Decimal(price) * quantity for _, quantity, price in lines), Decimal("0"))
    empty = make_order(db_session, number="DD-SUM-EMPTY")
    expected[empty.number] = Decimal("0")
    db_session.commit()
    page = en_client("admin").get("/admin/order/?page_size=50").get_data(as_text=True)
    listed = dict(
        zip(cells(page, "number"), (money(t) if t else Decimal("0") for t in cells(page, "total")), strict=False)
    )
    assert listed == expected
    export = en_client("admin").get("/admin/order/export/csv/").get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.DictReader(io.StringIO(export)))
    assert {r["Order number"]: Decimal(r["Order total"] or "0") for r in rows} == expected


def test_list_sql_statements_constant_as_page_size_grows(app, en_client, db_session):
    products = [make_product(db_session, price="12.34") for _ in range(3)]
    clients = [make_client(db_session, name) for name in ("account_manager", "am_team", "am_other")]
    owners = [c.owner_id for c in clients]
    now = utcnow()
    ids = (
        db_session.execute(
            insert(Order).returning(Order.id),
            [
                {
                    "number": f"DD-BULK-{i:04d}",
                    "client_id": clients[i % 3].id,
                    "owner_id": owners[i % 3],
                    "ordered_on": date(2026, 1 + i % 12, 1 + i % 28),
                    "status": "pending",
                    "is_deleted": False,
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(130)
            ],
        )
        .scalars()
        .all()
    )
    db_session.execute(
        insert(OrderLine),
        [
            {
                "order_id": oid,
                "product_id": products[k].id,
                "quantity": k + 1,
                "unit": "个",
                "unit_price": Decimal("12.34"),
            }
            for oid in ids
            for k in range(3)
        ],
    )
    db_session.commit()
    for username in ("admin", "sales_director", "account_manager"):
        client = en_client(username)
        counts, pages = list_pages(app, client, "/admin/order/")
        for size, page in pages.items():
            assert page.status_code == 200
            assert len(cells(page.get_data(as_text=True), "total")) == min(
                size, {"admin": 130, "sales_director": 87, "account_manager": 44}[username]
            )
        assert counts[20] == counts[100], (username, counts)
    assert "¥74.04" in page.get_data(as_text=True)  # (1 + 2 + 3) × 12.34


# ------------------------------------------------------------------------------- lines
@pytest.mark.parametrize("quantity", ["0", "-3"])
def test_quantity_not_above_zero_is_refused_naming_the_field(en_client, db_session, quantity):
    product = make_product(db_session)
    client = make_client(db_session, "account_manager")
    db_session.commit()
    response = en_client("account_manager").post(
        "/admin/order/new/",
        data={"client": str(client.id), "lines-0-product": str(product.id), "lines-0-quantity": quantity},
    )
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    field = re.search(
        r'<label for="lines-0-quantity"[^>]*>\s*(\w+).*?<input class="form-control is-invalid" '
        r'id="lines-0-quantity".*?<li>(.*?)</li>',
        page,
        re.S,
    )
    assert field and field.groups() == ("Quantity", "Number must be at least 1.")
    assert db_session.execute(select(func.count()).select_from(Order)).scalar() == 0
    assert db_session.execute(select(func.count()).select_from(OrderLine)).scalar() == 0
    # the same rule outside forms (CLI, imports …): a FieldError naming the field
    with pytest.raises(FieldError, match="Quantity"):
        make_order(db_session, lines=[(product, int(quantity))])


def test_unit_and_unit_price_default_from_the_product(en_client, db_session):
    product = make_product(db_session, price="88.80", unit="箱")
    other = make_product(db_session, price="5.00", unit="袋")
    client = make_client(db_session, "account_manager")
    db_session.commit()
    form = en_client("account_manager").get("/admin/order/new/").get_data(as_text=True)
    inputs = re.findall(r'<input[^>]*name="(?:unit|unit_price)"[^>]*>', html.unescape(form))  # the new-line template
    assert len(inputs) == 2 and not any(" required" in tag for tag in inputs), inputs  # the browser lets it go
    response = en_client("account_manager").post(
        "/admin/order/new/",
        data={
            "client": str(client.id),
            "number": "",
            "ordered_on": "",
            "lines-0-product": str(product.id),
            "lines-0-quantity": "3",
            "lines-0-unit": "",
            "lines-0-unit_price": "",
            "lines-1-product": str(other.id),
            "lines-1-quantity": "2",
            "lines-1-unit": "吨",
            "lines-1-unit_price": "4.50",
        },
    )
    assert response.status_code == 302, flashes(response)
    order = db_session.execute(select(Order)).scalar_one()
    assert order.owner.username == "account_manager" and order.status == "pending"
    assert re.fullmatch(r"DD\d{8}-\d{3}", order.number) and order.ordered_on is not None
    assert order.delivery_address == client.address  # the client's address when left empty
    assert sorted((line.product_id, line.quantity, line.unit, line.unit_price) for line in order.lines) == sorted(
        [(product.id, 3, "箱", Decimal("88.80")), (other.id, 2, "吨", Decimal("4.50"))]
    )
    assert order.total == Decimal("275.40")
    details = en_client("account_manager").get(f"/admin/order/details/?id={order.id}").get_data(as_text=True)
    assert "¥266.40" in details and "¥275.40" in details and 'id="wf-ship"' in details


def test_deleted_or_inactive_products_are_not_offered(en_client, db_session):
    live = make_product(db_session, name="在售产品")
    inactive = make_product(db_session, name="停售产品", is_active=False)
    gone = make_product(db_session, name="已删产品")
    gone.soft_delete(user(db_session, "admin").id)
    db_session.commit()
    form = en_client("account_manager").get("/admin/order/new/").get_data(as_text=True)
    assert live.name in form and inactive.name not in form and gone.name not in form


# ----------------------------------------------------------------------------- filters
def test_filters_status_total_and_date_range(en_client, db_session):
    product = make_product(db_session, price="100.00", stock=100)
    small = make_order(db_session, lines=[(product, 1)], ordered_on=date(2026, 3, 5))
    big = make_order(db_session, lines=[(product, 50)], ordered_on=date(2026, 6, 15))
    old = make_order(db_session, lines=[(product, 10)], ordered_on=date(2025, 12, 31))
    perform(big, "ship", user(db_session, "account_manager"))
    db_session.commit()
    admin = en_client("admin")
    page = admin.get("/admin/order/").get_data(as_text=True)
    groups = re.search(r'id="filter-groups-data"[^>]*>(.*?)</', page, re.S).group(1)
    for name in ("status_equals", "order_total_greater_than", "order_total_smaller_than", "order_date_between"):
        assert f'"{name}"' in groups, name

    def listed(query):
        return set(cells(admin.get(f"/admin/order/?{query}").get_data(as_text=True), "number"))

    assert listed("flt0_status_equals=shipped") == {big.number}
    assert listed("flt0_status_equals=pending") == {small.number, old.number}
    assert listed("flt0_order_total_greater_than=999.99") == {big.number, old.number}
    assert listed("flt0_order_total_greater_than=100&flt1_order_total_smaller_than=5000.00") == {old.number}
    assert listed("flt0_order_total_smaller_than=100.01") == {small.number}
    assert listed("flt0_order_date_between=2026-01-01+to+2026-12-31") == {small.number, big.number}
    assert listed("flt0_order_date_between=2026-01-01+to+2026-12-31&flt1_status_equals=pending") == {small.number}
    bad = admin.get("/admin/order/?flt0_order_total_greater_than=1.001")
    assert bad.status_code == 200  # an amount with three decimals is ignored, not a crash


# ------------------------------------------------------------------------- the workflow
def test_ship_takes_the_stock_in_the_same_transaction(en_client, db_session):
    a = make_product(db_session, stock=5, warehouse="北仓")
    db_session.add(Stock(product=a, warehouse="南仓", quantity=7))
    b = make_product(db_session, stock=3)
    order = make_order(db_session, lines=[(a, 9), (b, 3), (a, 1)])
    db_session.commit()
    response = transition(en_client("account_manager"), "order", "ship", order)
    assert "Ship: 1 done" in flashes(response)
    db_session.expire_all()
    assert order.status == "shipped" and order.shipped_by.username == "account_manager" and order.shipped_at
    assert stock_of(db_session, a) == 2 and stock_of(db_session, b) == 0
    # from the warehouse holding the most first
    assert {s.warehouse: s.quantity for s in a.stock} == {"北仓": 2, "南仓": 0}


def test_ship_more_than_the_stock_is_refused_and_nothing_changes(en_client, db_session):
    a = make_product(db_session, name="充足产品", stock=10)
    b = make_product(db_session, name="紧缺产品", model="K-1", stock=2)
    db_session.add(Stock(product=b, warehouse="备用仓", quantity=1))
    order = make_order(db_session, lines=[(a, 4), (b, 4)])
    db_session.commit()
    version = order.version
    response = transition(en_client("account_manager"), "order", "ship", order)
    text = flashes(response)
    assert f"{order.number}: 紧缺产品 K-1 needs 4, only 3 in stock." in text and "1 refused" in text
    db_session.expire_all()
    assert order.status == "pending" and order.shipped_at is None and order.version == version
    assert stock_of(db_session, a) == 10 and stock_of(db_session, b) == 3
    with pytest.raises(StockError, match="needs 4, only 3"):
        perform(order, "ship", user(db_session, "admin"))
    db_session.rollback()
    empty = make_order(db_session)
    with pytest.raises(StockError, match="no lines"):
        perform(empty, "ship", user(db_session, "admin"))


def test_complete_cancel_and_read_only_after_shipping(en_client, db_session):
    product = make_product(db_session, stock=10)
    shipped = make_order(db_session, lines=[(product, 1)])
    pending = make_order(db_session, lines=[(product, 1)])
    db_session.commit()
    am = en_client("account_manager")
    transition(am, "order", "ship", shipped)
    assert "Complete: 1 done" in flashes(transition(am, "order", "complete", shipped))
    refused = transition(am, "order", "cancel", pending)
    assert "needs a comment" in flashes(refused)
    transition(am, "order", "cancel", pending, comment="客户取消")
    db_session.expire_all()
    assert (shipped.status, pending.status) == ("completed", "cancelled")
    with pytest.raises(WorkflowError, match="cannot"):
        perform(pending, "ship", user(db_session, "admin"))  # a cancelled order does not ship
    db_session.rollback()
    assert stock_of(db_session, product) == 9
    # shipped and later: read-only, not deletable
    edit = am.get(f"/admin/order/edit/?id={shipped.id}")
    assert edit.status_code == 302 and "details" in edit.headers["Location"]
    posted = am.post(
        f"/admin/order/edit/?id={shipped.id}",
        data={"notes": "改", "client": str(shipped.client_id)},
        follow_redirects=True,
    )
    assert "can no longer be changed" in flashes(posted)
    deleted = en_client("sales_director").post(
        "/admin/order/delete/", data={"id": str(shipped.id)}, follow_redirects=True
    )
    assert "can no longer be changed" in flashes(deleted)
    db_session.expire_all()
    assert shipped.notes != "改" and not shipped.is_deleted
    # rights: clerks view orders but neither ship nor edit them
    clerk = en_client("clerk")
    assert clerk.get("/admin/order/").status_code == 200
    assert clerk.get(f"/admin/order/edit/?id={pending.id}").status_code == 403
    with pytest.raises(WorkflowError, match="right"):
        perform(make_order(db_session, lines=[(product, 1)]), "ship", user(db_session, "clerk"))


def test_soft_delete_and_restore(en_client, db_session):
    order = make_order(db_session, lines=[(make_product(db_session), 2)])
    db_session.commit()
    director = en_client("sales_director")
    response = director.post("/admin/order/delete/", data={"id": str(order.id)}, follow_redirects=True)
    assert response.status_code == 200
    db_session.expire_all()
    assert order.is_deleted and db_session.get(Order, order.id) is not None
    assert order.number not in cells(director.get("/admin/order/").get_data(as_text=True), "number")
    assert order.number in cells(director.get("/admin/order/?bin=1").get_data(as_text=True), "number")
    assert en_client("account_manager").get(f"/admin/order/edit/?id={order.id}").status_code == 404
    director.post("/admin/order/action/", data={"action": "restore", "rowid": [str(order.id)]})
    db_session.expire_all()
    assert not order.is_deleted and len(order.lines) == 1
    assert order.number in cells(director.get("/admin/order/").get_data(as_text=True), "number")
    # account managers may not delete orders (no order.delete right)
    assert en_client("account_manager").post("/admin/order/delete/", data={"id": str(order.id)}).status_code == 403


# -------------------------------------------------------------------------------- scope
@pytest.mark.parametrize(
    "viewer, expected",
    [
        ("account_manager", {"account_manager"}),
        ("am_other", {"am_other"}),
        ("sales_director", {"account_manager", "am_team", "sales_director"}),
        ("director_top", {"account_manager", "am_team", "am_other", "sales_director"}),
        ("admin", {"account_manager", "am_team", "am_other", "sales_director"}),
    ],
)
def test_scope_own_department_all(en_client, db_session, viewer, expected):
    product = make_product(db_session)
    orders = {
        name: make_order(db_session, name, lines=[(product, 1)], number=f"DD-SCOPE-{name}")
        for name in ("account_manager", "am_team", "am_other", "sales_director")
    }
    db_session.commit()
    client = en_client(viewer)
    listed = set(cells(client.get("/admin/order/?page_size=100").get_data(as_text=True), "number"))
    assert listed == {f"DD-SCOPE-{name}" for name in expected}
    for name, order in orders.items():
        status = client.get(f"/admin/order/details/?id={order.id}").status_code
        assert status == (200 if name in expected else 404), (name, status)
    outsider = next((o for n, o in orders.items() if n not in expected), None)
    if outsider is not None:  # nor can a transition reach it
        response = transition(client, "order", "cancel", outsider, comment="越权")
        assert "Choose at least one record" in flashes(response)
        db_session.expire_all()
        assert outsider.status == "pending"
