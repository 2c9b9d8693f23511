"""Shipments (发货) of an order, each with its delivery note (发货单): what left which
warehouse when, line by line. An order ships in one or more shipments:

* **from a chosen warehouse** (:func:`ship_from`, the order's *Ship* page): a quantity per
  order line, each more than 0 only where wanted, at most what is left to ship and at most
  that warehouse's stock; the rest stays pending — the order is *partly shipped*
  (``partial``) until every line is fully shipped, then *shipped*;
* **everything left** (:func:`ship_rest`, the one-click *Ship* list action): from the
  warehouses holding the most first — one shipment per warehouse it takes from.

Stock rows are locked (FOR UPDATE on PostgreSQL; SQLite writes one request at a time) and
versioned, and the order row is locked by the workflow step, so of two shipments of the
last units exactly one succeeds and the other is refused naming the line.

**Cancel after a partial shipment** returns every shipped quantity to the warehouse it came
from (:func:`return_shipped`); the shipments stay as the record of what happened, marked
*returned* with the time. A fully shipped order is not cancelled (it is completed, and goods
coming back are a return, not a cancellation).
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import CheckConstraint, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.orm.exc import StaleDataError

from . import db
from .auth import User
from .base import Timestamps, UTCDateTime, foreign_key, label, user_fk, utcnow
from .numbering import assign_number
from .products import Product, Stock, StockError


class Shipment(Timestamps, db.Model):
    """发货: one warehouse's goods leaving for an order (its delivery note)."""

    __tablename__ = "shipment"
    __scope_parent__ = "order"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True, info=label("Delivery note number"))
    order_id: Mapped[int] = foreign_key("orders.id", "Order")
    warehouse: Mapped[str] = mapped_column(String(60), info=label("Warehouse"))
    shipped_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, info=label("Shipped at"))
    shipped_by_id: Mapped[int | None] = user_fk("Shipped by")
    note: Mapped[str | None] = mapped_column(Text, info=label("Notes"))
    #: set when the order was cancelled and this shipment's quantities went back to stock
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Returned to stock at"))

    order = relationship("Order", back_populates="shipments", info=label("Order"))
    shipped_by = relationship(User, foreign_keys=[shipped_by_id], info=label("Shipped by"))
    lines: Mapped[list[ShipmentLine]] = relationship(
        back_populates="shipment", cascade="all, delete-orphan", order_by="ShipmentLine.id", info=label("Lines")
    )

    def __str__(self) -> str:
        return self.number or f"#{self.id}"

    def check_rules(self) -> None:
        assign_number(self, "FH")


class ShipmentLine(db.Model):
    """发货明细: how many of one order line left in this shipment."""

    __tablename__ = "shipment_line"
    __scope_parent__ = "shipment"

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = foreign_key("shipment.id", "Shipment", ondelete="CASCADE")
    order_line_id: Mapped[int] = foreign_key("orders_line.id", "Order line")
    quantity: Mapped[int] = mapped_column(Integer, info=label("Quantity shipped", minimum=1))

    shipment: Mapped[Shipment] = relationship(back_populates="lines", info=label("Shipment"))
    order_line = relationship("OrderLine", info=label("Order line"))

    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    def __str__(self) -> str:
        return f"{self.order_line} → {self.quantity}"


# ---------------------------------------------------------------------------- reading
def shipped_quantities(order, *, before: Shipment | None = None) -> dict[int, int]:
    """order line id → quantity shipped (not returned); ``before``: by the shipments
    before that one only (what a delivery note shows as shipped earlier)."""
    query = (
        select(ShipmentLine.order_line_id, func.sum(ShipmentLine.quantity))
        .join(Shipment)
        .where(Shipment.order_id == order.id, Shipment.returned_at.is_(None))
        .group_by(ShipmentLine.order_line_id)
    )
    if before is not None:
        query = query.where(Shipment.id < before.id)
    with db.session.no_autoflush:
        return {line_id: int(total) for line_id, total in db.session.execute(query)}


def left_to_ship(order) -> dict[int, int]:
    """order line id → quantity still to ship (0 when fully shipped)."""
    shipped = shipped_quantities(order) if order.id is not None else {}
    return {line.id: max(int(line.quantity) - shipped.get(line.id, 0), 0) for line in order.lines}


def warehouse_stock(order) -> dict[str, dict[int, int]]:
    """warehouse → product id → quantity in stock, for the products of the order's lines
    (the warehouses holding any of them, most first)."""
    product_ids = {line.product_id for line in order.lines}
    rows = db.session.execute(
        select(Stock.warehouse, Stock.product_id, Stock.quantity).where(
            Stock.product_id.in_(product_ids), Stock.quantity > 0
        )
    ).all()
    stock: dict[str, dict[int, int]] = {}
    for warehouse, product_id, quantity in rows:
        stock.setdefault(warehouse, {})[product_id] = quantity
    return dict(sorted(stock.items(), key=lambda item: (-sum(item[1].values()), item[0])))


def warehouse_choices(order) -> list[tuple[str, bool]]:
    """(warehouse, holds everything left) for the ship page: those holding any product
    still to ship, the ones that can ship all of it first."""
    left = left_to_ship(order)
    needed: dict[int, int] = {}
    for line in order.lines:
        if left.get(line.id):
            needed[line.product_id] = needed.get(line.product_id, 0) + left[line.id]
    choices = []
    for warehouse, products in warehouse_stock(order).items():
        if any(products.get(p) for p in needed):
            choices.append((warehouse, all(products.get(p, 0) >= q for p, q in needed.items())))
    return sorted(choices, key=lambda c: not c[1])


def default_quantities(order, warehouse: str) -> dict[int, int]:
    """line id → what this warehouse can ship of what is left (lines of one product share it)."""
    stock = dict(warehouse_stock(order).get(warehouse, {}))
    result = {}
    for line_id, left in left_to_ship(order).items():
        line = next(line for line in order.lines if line.id == line_id)
        take = min(left, stock.get(line.product_id, 0))
        stock[line.product_id] = stock.get(line.product_id, 0) - take
        result[line_id] = take
    return result


# ---------------------------------------------------------------------------- shipping
def _locked_stock(session, product_ids, warehouse: str | None = None) -> list[Stock]:
    """Fresh stock rows of ``product_ids`` (of one ``warehouse``), locked until the end of
    the transaction; another transaction may have shipped since they were loaded."""
    query = select(Stock).where(Stock.product_id.in_(list(product_ids)))
    if warehouse is not None:
        query = query.where(Stock.warehouse == warehouse)
    query = query.order_by(Stock.product_id, Stock.quantity.desc(), Stock.id)
    with session.no_autoflush:
        return session.execute(query.with_for_update().execution_options(populate_existing=True)).scalars().all()


def _flush(session, name: str) -> None:
    try:
        session.flush()
    except StaleDataError:
        raise StockError(
            str(_l("%(record)s: the stock changed while shipping; nothing was taken — try again.", record=name))
        ) from None


def _line_name(order, line) -> str:
    number = next(n for n, other in enumerate(order.lines, 1) if other is line)
    return str(_l("%(record)s, line %(line)s (%(product)s)", record=str(order), line=number, product=str(line.product)))


def _quantity(raw) -> int | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return 0
    try:
        return int(str(raw).strip())
    except ValueError:
        return None


def ship_from(order, actor, warehouse: str, quantities: dict, note: str | None = None) -> Shipment:
    """One shipment of ``quantities`` (order line id → quantity; missing or 0: not in this
    shipment) from ``warehouse``, in the caller's transaction. Refused — nothing taken —
    naming the line when a quantity is not a whole number, below 0, more than is left to
    ship or more than the warehouse holds (lines of one product share its stock), or when
    no line has a quantity above 0."""
    session = db.session
    warehouse = (warehouse or "").strip()
    if not warehouse:
        raise StockError(str(_l("%(record)s: choose the warehouse to ship from.", record=str(order))))
    name = str(order)
    left = left_to_ship(order)
    rows = {row.product_id: row for row in _locked_stock(session, {line.product_id for line in order.lines}, warehouse)}
    taken: dict[int, int] = {}
    wanted = []
    for line in order.lines:
        quantity = _quantity(quantities.get(line.id, quantities.get(str(line.id))))
        if quantity is None or quantity < 0:
            raise StockError(
                str(_l("%(line)s: the quantity must be a whole number, 0 or more.", line=_line_name(order, line)))
            )
        if not quantity:
            continue
        if quantity > left.get(line.id, 0):
            raise StockError(
                str(
                    _l(
                        "%(line)s: %(quantity)s is more than the %(left)s left to ship.",
                        line=_line_name(order, line),
                        quantity=quantity,
                        left=left.get(line.id, 0),
                    )
                )
            )
        row = rows.get(line.product_id)
        available = (row.quantity if row is not None else 0) - taken.get(line.product_id, 0)
        if quantity > available:
            raise StockError(
                str(
                    _l(
                        "%(line)s: %(quantity)s is more than the %(available)s in stock in %(warehouse)s.",
                        line=_line_name(order, line),
                        quantity=quantity,
                        available=available,
                        warehouse=warehouse,
                    )
                )
            )
        taken[line.product_id] = taken.get(line.product_id, 0) + quantity
        wanted.append((line, quantity))
    if not wanted:
        raise StockError(str(_l("%(record)s: enter a quantity above 0 for at least one line to ship.", record=name)))
    shipment = Shipment(order=order, warehouse=warehouse, shipped_by_id=actor.id, note=(note or "").strip() or None)
    for line, quantity in wanted:
        shipment.lines.append(ShipmentLine(order_line=line, quantity=quantity))
    for product_id, quantity in taken.items():
        rows[product_id].quantity -= quantity
    session.add(shipment)
    _flush(session, name)
    return shipment


def ship_rest(order, actor) -> list[Shipment]:
    """Everything left to ship, from the warehouses holding the most first, in the caller's
    transaction: one shipment per warehouse taken from. Refused — nothing taken — when any
    product has less in stock than is left (the message names it, what is needed and what
    is there)."""
    session = db.session
    name = str(order)
    if not order.lines:
        raise StockError(str(_l("%(record)s has no lines: nothing to ship.", record=name)))
    left = left_to_ship(order)
    needed: dict[int, int] = {}
    for line in order.lines:
        needed[line.product_id] = needed.get(line.product_id, 0) + left[line.id]
    by_product: dict[int, list[Stock]] = {}
    for row in _locked_stock(session, needed):
        by_product.setdefault(row.product_id, []).append(row)
    for product_id, quantity in needed.items():
        available = sum(row.quantity for row in by_product.get(product_id, []))
        if available < quantity:
            raise StockError(
                str(
                    _l(
                        "%(record)s: %(product)s needs %(needed)s, only %(available)s in stock.",
                        record=name,
                        product=str(session.get(Product, product_id)),
                        needed=quantity,
                        available=available,
                    )
                )
            )
    shipments: dict[str, Shipment] = {}
    for line in order.lines:
        quantity = left[line.id]
        for row in by_product.get(line.product_id, []):
            if not quantity:
                break
            take = min(row.quantity, quantity)
            if not take:
                continue
            row.quantity -= take
            quantity -= take
            shipment = shipments.get(row.warehouse)
            if shipment is None:
                shipment = shipments[row.warehouse] = Shipment(
                    order=order, warehouse=row.warehouse, shipped_by_id=actor.id
                )
                session.add(shipment)
            shipment.lines.append(ShipmentLine(order_line=line, quantity=take))
    _flush(session, name)
    return list(shipments.values())


def return_shipped(order) -> None:
    """Put the quantities of the order's shipments back into the warehouses they came from
    (a stock row deleted meanwhile is made again), and mark the shipments returned — in the
    caller's transaction (cancelling a partly shipped order)."""
    session = db.session
    shipments = [s for s in order.shipments if s.returned_at is None]
    if not shipments:
        return
    back: dict[tuple[int, str], int] = {}
    for shipment in shipments:
        for line in shipment.lines:
            key = (line.order_line.product_id, shipment.warehouse)
            back[key] = back.get(key, 0) + line.quantity
    rows = {(row.product_id, row.warehouse): row for row in _locked_stock(session, {p for p, _ in back})}
    for (product_id, warehouse), quantity in back.items():
        row = rows.get((product_id, warehouse))
        if row is None:
            session.add(Stock(product_id=product_id, warehouse=warehouse, quantity=quantity))
        else:
            row.quantity += quantity
    now = utcnow()
    for shipment in shipments:
        shipment.returned_at = now
    _flush(session, str(order))
