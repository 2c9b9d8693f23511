"""Quotes (报价单) and orders (订单) with their lines: totals kept beside the lines
(models/totals.py) and computed in Python, the exact
split of a quote's discount over its lines, converting an accepted quote into an order, and
the quote and order workflows (SPEC §5.2), performed through :func:`models.workflow.perform`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    and_,
    func,
    select,
    text,
    true,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from . import clock, db, settings
from .auth import User
from .base import (
    LIVE_WHERE,
    FieldError,
    Money,
    Owned,
    Percent,
    SoftDelete,
    Timestamps,
    UTCDateTime,
    Versioned,
    column_label,
    filter_indexes,
    foreign_key,
    kept_total,
    label,
    list_indexes,
    not_negative,
    positive_quantity,
    round_money,
    user_fk,
    utcnow,
)
from .customers import Client, same_client
from .numbering import assign_number
from .opportunities import Opportunity
from .products import Product, product_of
from .search import Searchable
from .shipments import Shipment, left_to_ship, return_shipped, ship_from, ship_rest
from .workflow import APPROVAL_STATES, Approval, Transition, Workflow, WorkflowError, approval_steps, lock_row, register

QUOTE_STATUSES = [(k, v) for k, v in APPROVAL_STATES.items()] + [("accepted", _l("Accepted"))]
ORDER_STATUSES = [
    ("pending", _l("Not shipped")),
    ("partial", _l("Partly shipped")),
    ("shipped", _l("Shipped")),
    ("completed", _l("Completed")),
    ("cancelled", _l("Cancelled")),
]


class Quote(Timestamps, Versioned, Owned, Approval, Searchable, db.Model):
    """报价单: lines, a discount, and the approval of §5.2 above the discount threshold."""

    __tablename__ = "quote"
    __search__ = ("number", "notes")
    #: the sort columns of its list (views/…: column_default_sort, column_sortable_list)
    __table_args__ = list_indexes(
        "quote", "number", "discount_pct", "status", "valid_until", "created_at", "subtotal", "total", soft_delete=False
    ) + filter_indexes("quote", "id", "client_id", "owner_id")  # its list's filters (status: a sort index)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True, info=label("Quote number"))
    client_id: Mapped[int] = foreign_key("clients.id", "Client")
    opportunity_id: Mapped[int | None] = foreign_key("sal_chance.id", "Opportunity")
    valid_until: Mapped[date | None] = mapped_column(Date, info=label("Valid until"))
    discount_pct: Mapped[Decimal] = mapped_column(
        Percent(), default=Decimal("0.00"), info=label("Discount (%)", minimum=0, maximum=100)
    )
    notes: Mapped[str | None] = mapped_column(Text, info=label("Notes"))
    # kept by models/totals.py in the transaction that changes the lines or the discount
    subtotal: Mapped[Decimal] = kept_total("Subtotal")
    total: Mapped[Decimal] = kept_total("Total after discount")

    client = relationship(Client, info=label("Client"))
    opportunity = relationship(Opportunity, info=label("Opportunity"))
    lines: Mapped[list[QuoteLine]] = relationship(
        back_populates="quote", cascade="all, delete-orphan", order_by="QuoteLine.id", info=label("Quote lines")
    )

    def __str__(self) -> str:
        return self.number or f"#{self.id}"

    def check_rules(self) -> None:
        """A number when none was typed; a discount within 0–100 %."""
        assign_number(self)
        if self.discount_pct is None:
            self.discount_pct = Decimal("0.00")
        if not Decimal(0) <= Decimal(self.discount_pct) <= Decimal(100):
            raise FieldError(column_label(Quote, "discount_pct"), str(_l("must be between 0 and 100")))
        same_client(self, "opportunity", Quote)


class ProductLine:
    """The columns a quote line and an order line share: a product, a quantity, a unit price."""

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = foreign_key("product.id", "Product")
    quantity: Mapped[int] = mapped_column(Integer, info=label("Quantity", minimum=1))
    unit_price: Mapped[Decimal] = mapped_column(Money(), info=label("Unit price"))

    @declared_attr
    def product(cls):
        return relationship(Product, info=label("Product"))


class QuoteLine(ProductLine, db.Model):
    """报价明细 (inline under a quote)."""

    __tablename__ = "quote_line"
    __scope_parent__ = "quote"

    quote_id: Mapped[int] = foreign_key("quote.id", "Quote", ondelete="CASCADE")
    quote: Mapped[Quote] = relationship(back_populates="lines", info=label("Quote"))

    def __str__(self) -> str:
        return f"{self.product} × {self.quantity}"

    def check_rules(self) -> None:
        """Quantity above 0; the unit price defaults from the product and is not negative."""
        positive_quantity(QuoteLine, self.quantity)
        if self.unit_price is None:
            product = product_of(self)
            if product is not None:
                self.unit_price = product.price
        not_negative(QuoteLine, "unit_price", self.unit_price)


# ---------------------------------------------------------------------------- orders
class Order(Timestamps, SoftDelete, Versioned, Owned, Searchable, db.Model):
    """订单: pending → (partial →) shipped → completed, or cancelled; shipping takes the
    stock, in shipments (models/shipments.py)."""

    __tablename__ = "orders"
    __search__ = ("number", "delivery_address")

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True, info=label("Order number"))
    client_id: Mapped[int] = foreign_key("clients.id", "Client")
    ordered_on: Mapped[date] = mapped_column(Date, index=True, info=label("Order date"))
    delivery_address: Mapped[str | None] = mapped_column(String(300), info=label("Delivery address"))
    status: Mapped[str] = mapped_column(
        String(12), default="pending", index=True, info=label("Status", choices=ORDER_STATUSES)
    )
    quote_id: Mapped[int | None] = mapped_column(
        ForeignKey("quote.id", ondelete="SET NULL"), index=True, info=label("Quote")
    )
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Shipped at"))
    shipped_by_id: Mapped[int | None] = user_fk("Shipped by")
    notes: Mapped[str | None] = mapped_column(Text, info=label("Notes"))
    total: Mapped[Decimal] = kept_total("Order total")  # Σ lines, kept by models/totals.py

    client = relationship(Client, info=label("Client"))
    quote = relationship(Quote, info=label("Quote"))
    shipped_by = relationship(User, foreign_keys=[shipped_by_id], info=label("Shipped by"))
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.id", info=label("Order lines")
    )
    shipments: Mapped[list[Shipment]] = relationship(
        back_populates="order", order_by="Shipment.id", info=label("Shipments")
    )

    __table_args__ = (
        # the filters of the order list with its default sort (the client's last order and
        # the data scope read them too)
        *filter_indexes("orders", "ordered_on", "client_id", "owner_id", live=("status",)),
        # a quote becomes one live order (SPEC §4.4), whatever path creates it
        db.Index(
            "uq_orders_quote_id_live",
            "quote_id",
            unique=True,
            sqlite_where=text("is_deleted = 0"),
            postgresql_where=text("NOT is_deleted"),
        ),
        *list_indexes("orders", "ordered_on", "number", "status"),
        # the list sorts on the total: live rows, the id as tie-breaker (keyset pages)
        db.Index(
            "ix_orders_total_live",
            "total",
            "id",
            sqlite_where=text("is_deleted = 0"),
            postgresql_where=text("NOT is_deleted"),
        ),
        # the orders of a span of days summed by month (the dashboard chart) or per client (the
        # contribution report, both its periods in one range) read this index alone, in every
        # scope (the owner); SQLite covers only with the predicate column in it
        db.Index(
            "ix_orders_live_ordered_on_status_total",
            *("ordered_on", "status", "total", "owner_id", "client_id", "is_deleted"),
            **LIVE_WHERE,
        ),
    )

    def __str__(self) -> str:
        return self.number or f"#{self.id}"

    def check_rules(self) -> None:
        """A number when none was typed; the client's address when no delivery address was
        given; a quote that has not become another live order yet."""
        if self.ordered_on is None:
            self.ordered_on = clock.today()
        assign_number(self, day=self.ordered_on)
        if not self.delivery_address:
            client = self.client or (db.session.get(Client, self.client_id) if self.client_id else None)
            if client is not None:
                self.delivery_address = client.address
        same_client(self, "quote", Order)
        quote_id = self.quote.id if self.quote is not None else self.quote_id
        state = sa_inspect(self)
        relinked = state.pending or any(
            state.attrs[key].history.has_changes() for key in ("quote", "quote_id", "is_deleted")
        )
        if quote_id is not None and not self.is_deleted and relinked:
            with db.session.no_autoflush:
                other = db.session.execute(
                    select(Order.number).where(
                        Order.quote_id == quote_id,
                        Order.live(),
                        Order.id != self.id if self.id is not None else true(),
                    )
                ).scalar()
            if other is not None:
                raise FieldError(
                    column_label(Order, "quote_id"),
                    str(
                        _l(
                            "%(quote)s already became order %(order)s; choose another quote or none.",
                            quote=str(self.quote or db.session.get(Quote, quote_id)),
                            order=other,
                        )
                    ),
                )


class OrderLine(ProductLine, db.Model):
    """订单明细 (inline under an order)."""

    __tablename__ = "orders_line"
    __scope_parent__ = "order"

    order_id: Mapped[int] = foreign_key("orders.id", "Order", ondelete="CASCADE")
    unit: Mapped[str] = mapped_column(String(10), info=label("Unit"))
    order: Mapped[Order] = relationship(back_populates="lines", info=label("Order"))

    def __str__(self) -> str:
        return f"{self.product} × {self.quantity} {self.unit or ''}".strip()

    def check_rules(self) -> None:
        """Quantity above 0; unit and unit price default from the product; price not negative."""
        positive_quantity(OrderLine, self.quantity)
        if self.unit_price is None or not self.unit:
            product = product_of(self)
            if product is not None:
                self.unit_price = product.price if self.unit_price is None else self.unit_price
                self.unit = self.unit or product.unit
        not_negative(OrderLine, "unit_price", self.unit_price)


def quote_totals(quote: Quote) -> tuple[Decimal, Decimal, Decimal]:
    """(subtotal, discount, total) of a quote from its loaded lines, the same arithmetic
    as the SQL columns: discount rounded half-up to the fen."""
    subtotal = sum(
        (
            Decimal(line.unit_price) * line.quantity
            for line in quote.lines
            if line.unit_price is not None and line.quantity
        ),
        Decimal("0.00"),
    )
    discount = round_money(subtotal * Decimal(quote.discount_pct or 0) / 100)
    return subtotal, discount, subtotal - discount


# ----------------------------------------------------------------------- workflows
def discount_threshold() -> Decimal:
    return settings.discount_threshold()


def _quote_submit(record, actor, **_) -> str:
    """At or below the discount threshold submitting approves directly (§5.2); above it
    the quote waits for a sales director. A quote needs at least one line."""
    if not record.lines:
        raise WorkflowError(str(_l("%(record)s has no lines: add a product first.", record=str(record))))
    if Decimal(record.discount_pct or 0) > discount_threshold():
        return "submitted"
    record.approved_at = utcnow()
    return "approved"


QUOTE = Workflow(
    "quote",
    dict(QUOTE_STATUSES),
    [
        *approval_steps(_l("Submit"), submit_decide=_quote_submit),
        Transition("accept", _l("Accepted by the customer"), ("approved",), "accepted", "submit"),
    ],
    locked=("submitted", "approved", "accepted"),
)


def _ship(record, actor, warehouse=None, quantities=None, note=None, **_) -> str:
    """Ship from a chosen ``warehouse`` the ``quantities`` per line (models/shipments.py
    ``ship_from``), or without a warehouse everything left from the fullest warehouses
    (``ship_rest``); partly shipped until nothing is left."""
    if warehouse is None:
        ship_rest(record, actor)
    else:
        ship_from(record, actor, warehouse, quantities or {}, note)
    record.shipped_at, record.shipped_by_id = utcnow(), actor.id
    return "partial" if any(left_to_ship(record).values()) else "shipped"


def _cancel(record, actor, **_) -> str:
    """A partly shipped order's shipped quantities go back to their warehouses."""
    return_shipped(record)
    return "cancelled"


ORDER = Workflow(
    "order",
    dict(ORDER_STATUSES),
    [
        Transition("ship", _l("Ship"), ("pending", "partial"), "shipped", "ship", decide=_ship),
        Transition("complete", _l("Complete"), ("shipped",), "completed", "ship"),
        Transition(
            "cancel", _l("Cancel"), ("pending", "partial"), "cancelled", "edit", comment_required=True, decide=_cancel
        ),
    ],
    locked=("partial", "shipped", "completed", "cancelled"),
)


register(Quote, QUOTE)
register(Order, ORDER)


# -------------------------------------------------------------------------- domain rules
def open_order_for_quote(quote: Quote) -> Order | None:
    return db.session.execute(select(Order).where(Order.quote_id == quote.id, Order.live())).scalars().first()


def _fen(amount) -> int:
    return int(Decimal(amount) * 100)


def split_discount(lines, discount_hundredths: int) -> list[tuple[int, int, int]]:
    """The discounted lines of a quote as integers: ``lines`` are (unit price in fen,
    quantity), the discount is in hundredths of a percent; returns (index of the line,
    quantity, discounted unit price in fen), totalling exactly the quote's total (the
    discount rounded half-up on the subtotal, as ``Quote.total``).

    Each discounted unit price is first rounded down to the fen; the fen still missing
    to the quote's total (never more than there are units) go one per unit to the units
    whose price was cut the most (largest-remainder rule; ties: the earlier line). When
    only some units of a line get one, the line is split into two — e.g. 7 × ¥99.99 at
    12.5 % (¥612.44) become 6 × ¥87.49 + 1 × ¥87.50, where one price for all seven units
    could only make ¥612.43 or ¥612.50."""
    keep = 10000 - discount_hundredths  # hundredths of a percent kept
    subtotal = sum(fen * quantity for fen, quantity in lines)
    total = subtotal - (subtotal * discount_hundredths + 5000) // 10000
    floors = [divmod(fen * keep, 10000) for fen, _ in lines]
    missing = total - sum(floor * quantity for (floor, _), (_, quantity) in zip(floors, lines, strict=False))
    bumped = [0] * len(lines)  # units of each line that get one fen more
    for index in sorted(range(len(lines)), key=lambda i: (-floors[i][1], i)):
        bumped[index] = min(missing, lines[index][1])
        missing -= bumped[index]
    result = []
    for index, ((floor, _), (_, line_quantity), extra) in enumerate(zip(floors, lines, bumped, strict=False)):
        for quantity, fen in ((line_quantity - extra, floor), (extra, floor + 1)):
            if quantity:
                result.append((index, quantity, fen))
    return result


def discounted_lines(quote: Quote) -> list[tuple[QuoteLine, int, Decimal]]:
    """The order lines an accepted quote becomes, as (quote line, quantity, unit price):
    :func:`split_discount` over the quote's lines."""
    lines = list(quote.lines)
    split = split_discount([(_fen(line.unit_price), line.quantity) for line in lines], _fen(quote.discount_pct or 0))
    return [(lines[index], quantity, Decimal(fen) / 100) for index, quantity, fen in split]


def convert_quote(quote: Quote, actor: User) -> Order:
    """An order from an accepted quote, in the caller's transaction: same client, the
    quote's owner, the lines of :func:`discounted_lines` (the order totals exactly what
    the customer accepted) with the product's unit. A quote converts once: the quote row
    is locked (PostgreSQL; SQLite requests write one at a time) so a parallel conversion
    waits and then finds the order, and a unique index on the live orders' quote makes
    the database refuse a second one whatever path it takes."""
    lock_row(quote)
    if quote.status != "accepted":
        raise WorkflowError(
            str(
                _l(
                    "%(record)s is %(state)s: only accepted quotes become orders.",
                    record=str(quote),
                    state=QUOTE.state_label(quote.status),
                )
            )
        )
    existing = open_order_for_quote(quote)
    if existing is not None:
        raise WorkflowError(
            str(_l("%(record)s already became order %(order)s.", record=str(quote), order=existing.number))
        )
    order = Order(
        client_id=quote.client_id,
        owner_id=quote.owner_id,
        quote=quote,
        ordered_on=clock.today(),
        status="pending",
        notes=str(_l("From quote %(number)s", number=quote.number)),
    )
    for line, quantity, unit_price in discounted_lines(quote):
        product = product_of(line)
        order.lines.append(OrderLine(product=product, quantity=quantity, unit=product.unit, unit_price=unit_price))
    db.session.add(order)
    from .audit import audit_note

    audit_note(db.session, "convert", quote.number)
    db.session.flush()
    return order


_LIVE_ORDER = and_(Order.live(), Order.status != "cancelled")


def last_order_subquery(until: date | None = None):
    """client_id → date of its last live, not cancelled order (placed on or before ``until``)."""
    name = "last_on"  # not a literal .label("…"): `make messages` extracts those
    query = select(Order.client_id, func.max(Order.ordered_on).label(name)).where(_LIVE_ORDER)
    if until is not None:
        query = query.where(Order.ordered_on <= until)
    return query.group_by(Order.client_id).subquery()
