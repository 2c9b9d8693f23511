"""Sales (营销管理, SPEC §4.4) and churn (客户流失, §4.3): opportunities with development
plans, products and stock, quotes and orders with lines, sales targets, weekly reports
and churn warnings. Their workflows (§5.2, §5.3, §5.5, orders and weekly reports) are
declared in models/workflow.py style here and performed only through
:func:`models.workflow.perform`.

Rules live in ``check_rules`` (run before every flush) and in the domain functions at
the bottom (shipping, quote conversion, churn detection), so views, the CLI, seed-demo
and tests obey them alike.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    and_,
    cast,
    exists,
    func,
    or_,
    select,
    text,
    true,
    type_coerce,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapped, column_property, mapped_column, object_session, relationship
from sqlalchemy.orm.exc import StaleDataError

from . import clock, db, settings, validators
from .auth import Department, User, department_subtree_ids
from .base import (
    FieldError,
    Money,
    Owned,
    Percent,
    SoftDelete,
    Timestamps,
    UTCDateTime,
    Versioned,
    column_label,
    format_money,
    label,
    round_money,
    utcnow,
)
from .customers import Client
from .lookups import ClientSource, SalesStage, Trade
from .numbering import assign_number
from .purchasing import _local_today
from .workflow import APPROVAL_STATES, Approval, Transition, Workflow, WorkflowError, lock_row, register

OPPORTUNITY_STATUSES = [
    ("unassigned", _l("Unassigned")),
    ("assigned", _l("Assigned")),
    ("archived", _lp("opportunity", "Archived")),
]  # 已归档 (contracts: 已存档)
OUTCOMES = [("won", _l("Won")), ("lost", _l("Lost"))]
QUOTE_STATUSES = [(k, v) for k, v in APPROVAL_STATES.items()] + [("accepted", _l("Accepted"))]
ORDER_STATUSES = [
    ("pending", _l("Not shipped")),
    ("shipped", _l("Shipped")),
    ("completed", _l("Completed")),
    ("cancelled", _l("Cancelled")),
]
REPORT_STATUSES = [("draft", _l("Draft")), ("submitted", _l("Submitted")), ("reviewed", _l("Reviewed"))]
CHURN_STATUSES = [("warning", _l("Warning")), ("delayed", _l("Delayed")), ("confirmed", _l("Confirmed lost"))]
OPEN_CHURN = ("warning", "delayed")
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def _user_fk(text: str, required: bool = False):
    return mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT" if required else "SET NULL"),
        index=True,
        nullable=not required,
        info=label(text),
    )


def _not_negative(model, key: str, value) -> None:
    if value is not None and Decimal(value) < 0:
        raise FieldError(column_label(model, key), str(_l("must not be negative")))


def _positive_quantity(model, value) -> None:
    if value is not None and int(value) <= 0:
        raise FieldError(column_label(model, "quantity"), str(_l("must be greater than 0")))


def same_client(record, parent_key: str, model) -> None:
    """A document's opportunity or quote must be about the document's client."""
    parent = getattr(record, parent_key)
    if parent is None and getattr(record, f"{parent_key}_id", None) is not None:
        with db.session.no_autoflush:
            parent = db.session.get(
                getattr(type(record), parent_key).property.mapper.class_, getattr(record, f"{parent_key}_id")
            )
    client_id = record.client.id if record.client is not None else record.client_id
    if parent is None or parent.client_id is None or client_id is None:
        return
    if parent.client_id != client_id:
        raise FieldError(
            column_label(model, f"{parent_key}_id"),
            str(_l("%(document)s is about another client; choose one of this client's.", document=str(parent))),
        )


def _product_of(line) -> Product | None:
    if line.product is not None:
        return line.product
    if line.product_id is not None:
        with db.session.no_autoflush:
            return db.session.get(Product, line.product_id)
    return None


# ------------------------------------------------------------------------ opportunities
class Opportunity(Timestamps, Versioned, db.Model):
    """销售机会: in scope for the person it is assigned to and the person who created it."""

    __tablename__ = "sal_chance"
    __scope_owner__ = ("assigned_to_id", "created_by_id")

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("system_source.id", ondelete="RESTRICT"), index=True, info=label("Opportunity source")
    )
    client_id: Mapped[int | None] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True, info=label("Client")
    )
    customer_name: Mapped[str] = mapped_column(String(200), index=True, info=label("Customer name"))
    title: Mapped[str] = mapped_column(String(200), index=True, info=label("Summary"))
    success_rate: Mapped[int] = mapped_column(Integer, info=label("Success rate (%)", minimum=0, maximum=100))
    stage_id: Mapped[int] = mapped_column(
        ForeignKey("system_stage.id", ondelete="RESTRICT"), index=True, info=label("Sales stage")
    )
    expected_amount: Mapped[Decimal | None] = mapped_column(Money(), info=label("Expected amount"))
    expected_close_on: Mapped[date | None] = mapped_column(Date, index=True, info=label("Expected close date"))
    linkman: Mapped[str | None] = mapped_column(String(60), index=True, info=label("Contact"))
    tel: Mapped[str | None] = mapped_column(String(40), info=label("Contact phone", check=validators.phone))
    description: Mapped[str] = mapped_column(Text, info=label("Opportunity description"))
    competitor: Mapped[str | None] = mapped_column(String(200), info=label("Competitor"))
    created_by_id: Mapped[int] = _user_fk("Created by", required=True)
    assigned_to_id: Mapped[int | None] = _user_fk("Assigned to")
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Assigned at"))
    status: Mapped[str] = mapped_column(
        String(12), default="unassigned", index=True, info=label("Status", choices=OPPORTUNITY_STATUSES)
    )
    outcome: Mapped[str | None] = mapped_column(String(8), index=True, info=label("Outcome", choices=OUTCOMES))
    lost_reason: Mapped[str | None] = mapped_column(Text, info=label("Reason lost"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Closed at"))

    source = relationship(ClientSource, info=label("Opportunity source"))
    client = relationship(Client, info=label("Client"))
    stage = relationship(SalesStage, info=label("Sales stage"))
    created_by = relationship(User, foreign_keys=[created_by_id], info=label("Created by"))
    assigned_to = relationship(User, foreign_keys=[assigned_to_id], info=label("Assigned to"))
    plans: Mapped[list[DevelopmentPlan]] = relationship(
        back_populates="opportunity",
        cascade="all, delete-orphan",
        order_by="DevelopmentPlan.planned_on",
        info=label("Development plans"),
    )

    def __str__(self) -> str:
        return f"{self.title} ({self.customer_name})" if self.customer_name else (self.title or f"#{self.id}")

    def check_rules(self) -> None:
        """The success rate defaults from the stage's probability and stays within 0–100;
        the expected amount is not negative; the customer name comes from the client when
        left empty; choosing an assignee on the form assigns the opportunity."""
        if self.success_rate in (None, "") and (self.stage is not None or self.stage_id is not None):
            stage = self.stage or db.session.get(SalesStage, self.stage_id)
            self.success_rate = stage.probability if stage is not None else None
        if self.success_rate is not None and not 0 <= int(self.success_rate) <= 100:
            raise FieldError(column_label(Opportunity, "success_rate"), str(_l("must be between 0 and 100")))
        _not_negative(Opportunity, "expected_amount", self.expected_amount)
        if not self.customer_name:
            client = self.client or (db.session.get(Client, self.client_id) if self.client_id else None)
            if client is not None:
                self.customer_name = client.name
        if self.status in (None, "unassigned") and (self.assigned_to_id is not None or self.assigned_to is not None):
            self.status = "assigned"
            self.assigned_at = self.assigned_at or utcnow()


class DevelopmentPlan(Timestamps, db.Model):
    """客户开发计划 (inline under an opportunity; in scope through it)."""

    __tablename__ = "sal_plan"
    __scope_parent__ = "opportunity"

    id: Mapped[int] = mapped_column(primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(
        ForeignKey("sal_chance.id", ondelete="CASCADE"), index=True, info=label("Opportunity")
    )
    planned_on: Mapped[date] = mapped_column(Date, index=True, info=label("Plan date"))
    todo: Mapped[str] = mapped_column(Text, info=label("Plan content"))
    result: Mapped[str | None] = mapped_column(Text, info=label("Result"))
    executed_on: Mapped[date | None] = mapped_column(Date, info=label("Executed on"))

    opportunity: Mapped[Opportunity] = relationship(back_populates="plans", info=label("Opportunity"))

    def __str__(self) -> str:
        return f"{self.planned_on or ''} {(self.todo or '')[:30]}".strip()

    def check_rules(self) -> None:
        """A result is dated: executed today when no date was given."""
        if self.result and self.executed_on is None:
            self.executed_on = _local_today()


# ------------------------------------------------------------------ products and stock
class Product(Timestamps, SoftDelete, db.Model):
    """产品信息."""

    __tablename__ = "product"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True, info=label("Product name"))
    model: Mapped[str | None] = mapped_column(String(60), index=True, info=label("Model"))
    grade: Mapped[str | None] = mapped_column(String(60), info=label("Grade / batch"))
    unit: Mapped[str] = mapped_column(String(10), info=label("Unit"))
    price: Mapped[Decimal] = mapped_column(Money(), info=label("Unit price"))
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("system_trade.id", ondelete="RESTRICT"), index=True, info=label("Product category")
    )
    notes: Mapped[str | None] = mapped_column(Text, info=label("Notes"))
    is_active: Mapped[bool] = mapped_column(default=True, index=True, info=label("Active"))

    category = relationship(Trade, info=label("Product category"))
    stock: Mapped[list[Stock]] = relationship(back_populates="product", order_by="Stock.warehouse", info=label("Stock"))

    def __str__(self) -> str:
        return " ".join(part for part in (self.name, self.model) if part) or f"#{self.id}"

    def check_rules(self) -> None:
        _not_negative(Product, "price", self.price)


class Stock(Timestamps, Versioned, db.Model):
    """库存: quantity of a product in a warehouse (never below zero)."""

    __tablename__ = "storage"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("product.id", ondelete="RESTRICT"), index=True, info=label("Product")
    )
    warehouse: Mapped[str] = mapped_column(String(60), index=True, info=label("Warehouse"))
    location: Mapped[str | None] = mapped_column(String(60), info=label("Location"))
    quantity: Mapped[int] = mapped_column(Integer, info=label("Quantity in stock", minimum=0))
    notes: Mapped[str | None] = mapped_column(Text, info=label("Notes"))

    product: Mapped[Product] = relationship(back_populates="stock", info=label("Product"))

    __table_args__ = (
        db.UniqueConstraint("product_id", "warehouse", name="uq_storage_product_warehouse"),
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
    )

    def __str__(self) -> str:
        return f"{self.product} @ {self.warehouse}: {self.quantity}"

    def check_rules(self) -> None:
        if self.quantity is not None and int(self.quantity) < 0:
            raise FieldError(column_label(Stock, "quantity"), str(_l("must not be negative")))


# ---------------------------------------------------------------------------- quotes
class Quote(Timestamps, Versioned, Owned, Approval, db.Model):
    """报价单: lines, a discount, and the approval of §5.2 above the discount threshold."""

    __tablename__ = "quote"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True, info=label("Quote number"))
    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True, info=label("Client")
    )
    opportunity_id: Mapped[int | None] = mapped_column(
        ForeignKey("sal_chance.id", ondelete="RESTRICT"), index=True, info=label("Opportunity")
    )
    valid_until: Mapped[date | None] = mapped_column(Date, info=label("Valid until"))
    discount_pct: Mapped[Decimal] = mapped_column(
        Percent(), default=Decimal("0.00"), info=label("Discount (%)", minimum=0, maximum=100)
    )
    notes: Mapped[str | None] = mapped_column(Text, info=label("Notes"))

    client = relationship(Client, info=label("Client"))
    opportunity = relationship(Opportunity, info=label("Opportunity"))
    lines: Mapped[list[QuoteLine]] = relationship(
        back_populates="quote", cascade="all, delete-orphan", order_by="QuoteLine.id", info=label("Quote lines")
    )

    def __str__(self) -> str:
        return self.number or f"#{self.id}"

    def check_rules(self) -> None:
        """A number when none was typed; a discount within 0–100 %."""
        assign_number(self, "BJ")
        if self.discount_pct is None:
            self.discount_pct = Decimal("0.00")
        if not Decimal(0) <= Decimal(self.discount_pct) <= Decimal(100):
            raise FieldError(column_label(Quote, "discount_pct"), str(_l("must be between 0 and 100")))
        same_client(self, "opportunity", Quote)


class QuoteLine(db.Model):
    """报价明细 (inline under a quote)."""

    __tablename__ = "quote_line"
    __scope_parent__ = "quote"

    id: Mapped[int] = mapped_column(primary_key=True)
    quote_id: Mapped[int] = mapped_column(ForeignKey("quote.id", ondelete="CASCADE"), index=True, info=label("Quote"))
    product_id: Mapped[int] = mapped_column(
        ForeignKey("product.id", ondelete="RESTRICT"), index=True, info=label("Product")
    )
    quantity: Mapped[int] = mapped_column(Integer, info=label("Quantity", minimum=1))
    unit_price: Mapped[Decimal] = mapped_column(Money(), info=label("Unit price"))

    quote: Mapped[Quote] = relationship(back_populates="lines", info=label("Quote"))
    product = relationship(Product, info=label("Product"))

    def __str__(self) -> str:
        return f"{self.product} × {self.quantity}"

    def check_rules(self) -> None:
        """Quantity above 0; the unit price defaults from the product and is not negative."""
        _positive_quantity(QuoteLine, self.quantity)
        if self.unit_price is None:
            product = _product_of(self)
            if product is not None:
                self.unit_price = product.price
        _not_negative(QuoteLine, "unit_price", self.unit_price)


# ---------------------------------------------------------------------------- orders
class Order(Timestamps, SoftDelete, Versioned, Owned, db.Model):
    """订单: pending → shipped → completed, or cancelled; shipping takes the stock."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True, info=label("Order number"))
    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True, info=label("Client")
    )
    ordered_on: Mapped[date] = mapped_column(Date, index=True, info=label("Order date"))
    delivery_address: Mapped[str | None] = mapped_column(String(300), info=label("Delivery address"))
    status: Mapped[str] = mapped_column(
        String(12), default="pending", index=True, info=label("Status", choices=ORDER_STATUSES)
    )
    quote_id: Mapped[int | None] = mapped_column(
        ForeignKey("quote.id", ondelete="SET NULL"), index=True, info=label("Quote")
    )
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Shipped at"))
    shipped_by_id: Mapped[int | None] = _user_fk("Shipped by")
    notes: Mapped[str | None] = mapped_column(Text, info=label("Notes"))

    client = relationship(Client, info=label("Client"))
    quote = relationship(Quote, info=label("Quote"))
    shipped_by = relationship(User, foreign_keys=[shipped_by_id], info=label("Shipped by"))
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.id", info=label("Order lines")
    )

    __table_args__ = (
        db.Index("ix_orders_client_ordered", "client_id", "ordered_on"),
        db.Index("ix_orders_owner_ordered", "owner_id", "ordered_on"),
        # a quote becomes one live order (SPEC §4.4), whatever path creates it
        db.Index(
            "uq_orders_quote_id_live",
            "quote_id",
            unique=True,
            sqlite_where=text("is_deleted = 0"),
            postgresql_where=text("NOT is_deleted"),
        ),
    )

    def __str__(self) -> str:
        return self.number or f"#{self.id}"

    def check_rules(self) -> None:
        """A number when none was typed; the client's address when no delivery address was
        given; a quote that has not become another live order yet."""
        if self.ordered_on is None:
            self.ordered_on = _local_today()
        assign_number(self, "DD", self.ordered_on)
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
                        Order.is_deleted.is_(False),
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


class OrderLine(db.Model):
    """订单明细 (inline under an order)."""

    __tablename__ = "orders_line"
    __scope_parent__ = "order"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True, info=label("Order"))
    product_id: Mapped[int] = mapped_column(
        ForeignKey("product.id", ondelete="RESTRICT"), index=True, info=label("Product")
    )
    quantity: Mapped[int] = mapped_column(Integer, info=label("Quantity", minimum=1))
    unit: Mapped[str] = mapped_column(String(10), info=label("Unit"))
    unit_price: Mapped[Decimal] = mapped_column(Money(), info=label("Unit price"))

    order: Mapped[Order] = relationship(back_populates="lines", info=label("Order"))
    product = relationship(Product, info=label("Product"))

    def __str__(self) -> str:
        return f"{self.product} × {self.quantity} {self.unit or ''}".strip()

    def check_rules(self) -> None:
        """Quantity above 0; unit and unit price default from the product; price not negative."""
        _positive_quantity(OrderLine, self.quantity)
        if self.unit_price is None or not self.unit:
            product = _product_of(self)
            if product is not None:
                self.unit_price = product.price if self.unit_price is None else self.unit_price
                self.unit = self.unit or product.unit
        _not_negative(OrderLine, "unit_price", self.unit_price)


# ------------------------------------------------------------------- targets, reports
class SalesTarget(Timestamps, db.Model):
    """销售计划: a monthly amount for one user or one department."""

    __tablename__ = "sales_target"
    __scope_owner__ = ("user_id",)
    __scope_department__ = "department_id"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True, info=label("Salesperson")
    )
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="RESTRICT"), index=True, info=label("Department")
    )
    month: Mapped[str] = mapped_column(String(7), index=True, info=label("Month (YYYY-MM)"))
    amount: Mapped[Decimal] = mapped_column(Money(), info=label("Target amount"))
    notes: Mapped[str | None] = mapped_column(Text, info=label("Notes"))

    user = relationship(User, info=label("Salesperson"))
    department = relationship(Department, info=label("Department"))

    __table_args__ = (
        db.UniqueConstraint("user_id", "month", name="uq_sales_target_user_month"),
        db.UniqueConstraint("department_id", "month", name="uq_sales_target_department_month"),
    )

    def __str__(self) -> str:
        return f"{self.month} {self.user or self.department or ''} {format_money(self.amount)}".strip()

    def check_rules(self) -> None:
        """Exactly one of salesperson and department; a month written YYYY-MM; an amount above 0."""
        has_user = self.user is not None or self.user_id is not None
        has_department = self.department is not None or self.department_id is not None
        if has_user == has_department:
            raise FieldError(
                column_label(SalesTarget, "user_id"), str(_l("choose either a salesperson or a department, not both"))
            )
        month = (self.month or "").strip()
        if not MONTH.match(month):
            raise FieldError(column_label(SalesTarget, "month"), str(_l("write the month as YYYY-MM, e.g. 2026-03")))
        self.month = month
        if self.amount is not None and Decimal(self.amount) <= 0:
            raise FieldError(column_label(SalesTarget, "amount"), str(_l("must be greater than 0")))


class WeeklyReport(Timestamps, db.Model):
    """销售周报: written by a salesperson, submitted, reviewed by their sales director."""

    __tablename__ = "weekly_report"
    __scope_owner__ = ("user_id",)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = _user_fk("Salesperson", required=True)
    week_start: Mapped[date] = mapped_column(Date, index=True, info=label("Week starting (Monday)"))
    summary: Mapped[str | None] = mapped_column(Text, info=label("Summary"))
    status: Mapped[str] = mapped_column(
        String(12), default="draft", index=True, info=label("Status", choices=REPORT_STATUSES)
    )
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Submitted at"))
    reviewed_by_id: Mapped[int | None] = _user_fk("Reviewed by")
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Reviewed at"))
    review_comment: Mapped[str | None] = mapped_column(Text, info=label("Review comment"))

    user = relationship(User, foreign_keys=[user_id], info=label("Salesperson"))
    reviewed_by = relationship(User, foreign_keys=[reviewed_by_id], info=label("Reviewed by"))
    items: Mapped[list[WeeklyReportItem]] = relationship(
        back_populates="report",
        cascade="all, delete-orphan",
        order_by="WeeklyReportItem.id",
        info=label("Report items"),
    )

    __table_args__ = (db.UniqueConstraint("user_id", "week_start", name="uq_weekly_report_user_week"),)

    def __str__(self) -> str:
        return f"{self.user} {self.week_start}" if self.week_start else f"#{self.id}"

    def check_rules(self) -> None:
        """The week starts on a Monday."""
        if self.week_start is not None and self.week_start.weekday() != 0:
            monday = self.week_start - timedelta(days=self.week_start.weekday())
            raise FieldError(
                column_label(WeeklyReport, "week_start"),
                str(_l("must be a Monday (that week's Monday is %(monday)s)", monday=monday)),
            )


class WeeklyReportItem(db.Model):
    """销售周报内容: one line per opportunity."""

    __tablename__ = "weekly_report_item"
    __scope_parent__ = "report"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("weekly_report.id", ondelete="CASCADE"), index=True, info=label("Weekly report")
    )
    opportunity_id: Mapped[int | None] = mapped_column(
        ForeignKey("sal_chance.id", ondelete="SET NULL"), index=True, info=label("Opportunity")
    )
    progress: Mapped[str] = mapped_column(Text, info=label("Progress this week"))
    next_plan: Mapped[str | None] = mapped_column(Text, info=label("Plan for next week"))
    issues: Mapped[str | None] = mapped_column(Text, info=label("Issues to resolve"))
    support_needed: Mapped[str | None] = mapped_column(Text, info=label("Technical support needed"))
    notes: Mapped[str | None] = mapped_column(Text, info=label("Notes"))

    report: Mapped[WeeklyReport] = relationship(back_populates="items", info=label("Weekly report"))
    opportunity = relationship(Opportunity, info=label("Opportunity"))

    def __str__(self) -> str:
        return (self.progress or "")[:40]


# ------------------------------------------------------------------------------ churn
class ClientLoss(Timestamps, Versioned, db.Model):
    """客户流失: a warning for a client without orders, with measures and a verdict."""

    __tablename__ = "client_loss"
    __scope_parent__ = "client"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True, info=label("Client")
    )
    owner_id: Mapped[int | None] = _user_fk("Account manager")
    last_order_on: Mapped[date | None] = mapped_column(Date, info=label("Last order"))
    detected_on: Mapped[date] = mapped_column(Date, index=True, info=label("Warning date"))
    measures: Mapped[str | None] = mapped_column(Text, info=label("Retention measures"))
    reason: Mapped[str | None] = mapped_column(Text, info=label("Reason for loss"))
    status: Mapped[str] = mapped_column(
        String(10), default="warning", index=True, info=label("Status", choices=CHURN_STATUSES)
    )
    confirmed_by_id: Mapped[int | None] = _user_fk("Confirmed by")
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Confirmed at"))

    client = relationship(Client, info=label("Client"))
    owner = relationship(User, foreign_keys=[owner_id], info=label("Account manager"))
    confirmed_by = relationship(User, foreign_keys=[confirmed_by_id], info=label("Confirmed by"))

    __table_args__ = (db.Index("ix_client_loss_client_status", "client_id", "status"),)

    def __str__(self) -> str:
        return f"{self.client} {self.detected_on}" if self.client_id else f"#{self.id}"


# --------------------------------------------------------------------- computed columns
# Computed in SQL and deferred: lists undefer them (one query per page, no per-row sums).
def _lines_total(line_model, fk):
    return (
        select(
            type_coerce(
                func.coalesce(func.sum(line_model.quantity * type_coerce(line_model.unit_price, BigInteger)), 0),
                Money(),
            )
        )
        .where(fk)
        .correlate_except(line_model)
        .scalar_subquery()
    )


Order.total = column_property(
    _lines_total(OrderLine, OrderLine.order_id == Order.id), deferred=True, info=label("Order total")
)
_QUOTE_SUBTOTAL = _lines_total(QuoteLine, QuoteLine.quote_id == Quote.id)
Quote.subtotal = column_property(_QUOTE_SUBTOTAL, deferred=True, info=label("Subtotal"))
# total = subtotal − round_half_up(subtotal × discount), in integers: fen × hundredths of a
# percent, so the discount in fen is (fen × hundredths + 5000) // 10000
# a real CAST: PostgreSQL sums bigints as NUMERIC, and "/" on NUMERIC is no integer division
_SUBTOTAL_FEN = cast(_QUOTE_SUBTOTAL, BigInteger)
Quote.total = column_property(
    type_coerce(
        _SUBTOTAL_FEN - (_SUBTOTAL_FEN * type_coerce(Quote.__table__.c.discount_pct, BigInteger) + 5000) // 10000,
        Money(),
    ),
    deferred=True,
    info=label("Total after discount"),
)


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


def stock_on_hand(product_id: int) -> int:
    return db.session.execute(
        select(func.coalesce(func.sum(Stock.quantity), 0)).where(Stock.product_id == product_id)
    ).scalar()


# ----------------------------------------------------------------------- workflows
def discount_threshold() -> Decimal:
    return settings.discount_threshold()


def _assign(record, actor, assignee=None, **_) -> str:
    if assignee is None:
        raise WorkflowError(str(_l("%(record)s: choose the person to assign it to.", record=str(record))))
    if not assignee.is_active:
        raise WorkflowError(
            str(_l("%(record)s: %(user)s is disabled and cannot take it.", record=str(record), user=str(assignee)))
        )
    record.assigned_to_id, record.assigned_at = assignee.id, utcnow()
    return "assigned"


def _win(record, actor, **_) -> str:
    record.outcome, record.lost_reason, record.closed_at = "won", None, utcnow()
    record.success_rate = 100
    return "archived"


def _lose(record, actor, comment=None, **_) -> str:
    record.outcome, record.lost_reason, record.closed_at = "lost", comment, utcnow()
    record.success_rate = 0
    return "archived"


def _reopen(record, actor, **_) -> str:
    stage = record.stage or (db.session.get(SalesStage, record.stage_id) if record.stage_id else None)
    record.outcome = record.lost_reason = record.closed_at = None
    record.success_rate = stage.probability if stage is not None else record.success_rate
    return "assigned" if record.assigned_to_id is not None else "unassigned"


OPPORTUNITY = Workflow(
    "opportunity",
    dict(OPPORTUNITY_STATUSES),
    [
        Transition(
            "assign",
            _l("Assign to…"),
            ("unassigned", "assigned"),
            "assigned",
            "assign",
            decide=_assign,
            pick_user="assignee",
        ),
        Transition("win", _l("Close as won"), ("unassigned", "assigned"), "archived", "edit", decide=_win),
        Transition(
            "lose",
            _l("Close as lost"),
            ("unassigned", "assigned"),
            "archived",
            "edit",
            comment_required=True,
            decide=_lose,
        ),
        Transition("reopen", _l("Reopen"), ("archived",), "assigned", "reopen", decide=_reopen),
    ],
    locked=("archived",),
)


def _quote_submit(record, actor, **_) -> str:
    """At or below the discount threshold submitting approves directly (§5.2); above it
    the quote waits for a sales director. A quote needs at least one line."""
    if not record.lines:
        raise WorkflowError(str(_l("%(record)s has no lines: add a product first.", record=str(record))))
    if Decimal(record.discount_pct or 0) > discount_threshold():
        return "submitted"
    record.approved_at = utcnow()
    return "approved"


def _quote_approve(record, actor, **_) -> str:
    record.approved_by_id, record.approved_at = actor.id, utcnow()
    return "approved"


def _quote_redraft(record, actor, **_) -> str:
    record.approved_by_id = record.approved_at = None
    return "draft"


QUOTE = Workflow(
    "quote",
    dict(QUOTE_STATUSES),
    [
        Transition("submit", _l("Submit"), ("draft",), "submitted", "submit", stamp="submitted", decide=_quote_submit),
        Transition(
            "approve", _l("Approve"), ("submitted",), "approved", "approve", four_eyes=True, decide=_quote_approve
        ),
        Transition(
            "reject", _l("Reject"), ("submitted",), "rejected", "approve", comment_required=True, four_eyes=True
        ),
        Transition("redraft", _l("Back to draft"), ("rejected",), "draft", "submit", decide=_quote_redraft),
        Transition("accept", _l("Accepted by the customer"), ("approved",), "accepted", "submit"),
    ],
    locked=("submitted", "approved", "accepted"),
)


def _ship(record, actor, **_) -> str:
    ship_order(record)
    record.shipped_at, record.shipped_by_id = utcnow(), actor.id
    return "shipped"


ORDER = Workflow(
    "order",
    dict(ORDER_STATUSES),
    [
        Transition("ship", _l("Ship"), ("pending",), "shipped", "ship", decide=_ship),
        Transition("complete", _l("Complete"), ("shipped",), "completed", "ship"),
        Transition("cancel", _l("Cancel"), ("pending",), "cancelled", "edit", comment_required=True),
    ],
    locked=("shipped", "completed", "cancelled"),
)


def _report_submit(record, actor, **_) -> str:
    if actor.id != record.user_id:
        raise WorkflowError(str(_l("%(record)s: only its author submits a weekly report.", record=str(record))))
    record.submitted_at = utcnow()
    return "submitted"


def _report_review(record, actor, comment=None, **_) -> str:
    """The reviewer is a sales director whose department (or a sub-department) is the
    author's; nobody reviews their own report."""
    author = record.user or db.session.get(User, record.user_id)
    is_director = actor.role is not None and actor.role.code in ("sales_director", "admin")
    if (
        actor.id == record.user_id
        or not is_director
        or (
            actor.role.code != "admin"
            and (author is None or author.department_id not in department_subtree_ids(actor.department_id))
        )
    ):
        raise WorkflowError(
            str(_l("%(record)s: only the sales director of the author's department reviews it.", record=str(record)))
        )
    record.reviewed_by_id, record.reviewed_at, record.review_comment = actor.id, utcnow(), comment
    return "reviewed"


def _report_return(record, actor, comment=None, **_) -> str:
    _report_review(record, actor, comment)
    record.reviewed_by_id = record.reviewed_at = None
    return "draft"


WEEKLY_REPORT = Workflow(
    "weekly_report",
    dict(REPORT_STATUSES),
    [
        Transition("submit", _l("Submit"), ("draft",), "submitted", "edit", decide=_report_submit),
        Transition(
            "review", _l("Review"), ("submitted",), "reviewed", "review", comment_required=True, decide=_report_review
        ),
        Transition(
            "send_back",
            _l("Send back"),
            ("submitted",),
            "draft",
            "review",
            comment_required=True,
            decide=_report_return,
        ),
    ],
    locked=("submitted", "reviewed"),
)


def _signed_entry(actor, comment) -> str:
    return f"[{_local_today():%Y-%m-%d} {actor.name or actor.username}] {comment}"


def _add_measure(record, actor, comment=None, **_) -> str:
    entry = _signed_entry(actor, comment)
    record.measures = f"{record.measures}\n{entry}" if record.measures else entry
    return "delayed"


def _confirm_loss(record, actor, comment=None, **_) -> str:
    record.reason = comment
    record.confirmed_by_id, record.confirmed_at = actor.id, utcnow()
    return "confirmed"


CHURN = Workflow(
    "churn",
    dict(CHURN_STATUSES),
    [
        Transition(
            "add_measure", _l("Add measure"), OPEN_CHURN, "delayed", "edit", comment_required=True, decide=_add_measure
        ),
        Transition(
            "confirm",
            _l("Confirm loss"),
            OPEN_CHURN,
            "confirmed",
            "confirm",
            comment_required=True,
            decide=_confirm_loss,
        ),
    ],
    locked=("confirmed",),
)

register(Opportunity, OPPORTUNITY)
register(Quote, QUOTE)
register(Order, ORDER)
register(WeeklyReport, WEEKLY_REPORT)
register(ClientLoss, CHURN)


# -------------------------------------------------------------------------- domain rules
class StockError(WorkflowError):
    """Not enough stock to ship (names the product, what is needed and what is there)."""


def ship_order(order: Order) -> None:
    """Take the order's quantities from stock, in the caller's transaction: per product,
    from the warehouses holding the most first. Refused — nothing taken — when any
    product has less in stock than ordered. Stock rows are locked (FOR UPDATE on
    PostgreSQL) and versioned, so of two concurrent shipments of the last unit exactly
    one succeeds; the other fails with StockError or a version conflict."""
    session = object_session(order) or db.session
    if not order.lines:
        raise StockError(str(_l("%(record)s has no lines: nothing to ship.", record=str(order))))
    needed: dict[int, int] = {}
    for line in order.lines:
        product_id = line.product.id if line.product is not None else line.product_id
        needed[product_id] = needed.get(product_id, 0) + int(line.quantity)
    with session.no_autoflush:
        # fresh values, locked: another transaction may have shipped since they were loaded
        rows = (
            session.execute(
                select(Stock)
                .where(Stock.product_id.in_(list(needed)))
                .order_by(Stock.product_id, Stock.quantity.desc(), Stock.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            .scalars()
            .all()
        )
    by_product: dict[int, list[Stock]] = {}
    for row in rows:
        by_product.setdefault(row.product_id, []).append(row)
    for product_id, quantity in needed.items():
        available = sum(row.quantity for row in by_product.get(product_id, []))
        if available < quantity:
            product = session.get(Product, product_id)
            raise StockError(
                str(
                    _l(
                        "%(record)s: %(product)s needs %(needed)s, only %(available)s in stock.",
                        record=str(order),
                        product=str(product),
                        needed=quantity,
                        available=available,
                    )
                )
            )
    for product_id, quantity in needed.items():
        for row in by_product[product_id]:
            take = min(row.quantity, quantity)
            row.quantity -= take
            quantity -= take
            if quantity == 0:
                break
    name = str(order)  # read now: a failed flush leaves the session unusable until rollback
    try:
        session.flush()
    except StaleDataError:
        raise StockError(
            str(_l("%(record)s: the stock changed while shipping; nothing was taken — try again.", record=name))
        ) from None


def open_order_for_quote(quote: Quote) -> Order | None:
    return (
        db.session.execute(select(Order).where(Order.quote_id == quote.id, Order.is_deleted.is_(False)))
        .scalars()
        .first()
    )


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
        ordered_on=_local_today(),
        status="pending",
        notes=str(_l("From quote %(number)s", number=quote.number)),
    )
    for line, quantity, unit_price in discounted_lines(quote):
        product = _product_of(line)
        order.lines.append(OrderLine(product=product, quantity=quantity, unit=product.unit, unit_price=unit_price))
    db.session.add(order)
    from .audit import audit_note

    audit_note(db.session, "convert", quote.number)
    db.session.flush()
    return order


def churn_days() -> int:
    return settings.churn_days()


_LIVE_ORDER = and_(Order.is_deleted.is_(False), Order.status != "cancelled")


def last_order_subquery(until: date | None = None):
    """client_id → date of its last live, not cancelled order (placed on or before ``until``)."""
    name = "last_on"  # not a literal .label("…"): `make messages` extracts those
    query = select(Order.client_id, func.max(Order.ordered_on).label(name)).where(_LIVE_ORDER)
    if until is not None:
        query = query.where(Order.ordered_on <= until)
    return query.group_by(Order.client_id).subquery()


def detect_churn(today: date | None = None, days: int | None = None, client_ids=None) -> int:
    """Create a churn warning for every live client whose last order (or, without orders,
    its creation) lies ``days`` (config ``churn_days``) or more days back, unless it has an
    open warning already or a confirmed loss without a newer order. Idempotent: a second
    run creates nothing. Returns how many warnings were created (one transaction, the
    caller commits). ``client_ids`` limits the run (scoped CLI or tests). ``today`` makes it
    a run as of that day: orders placed later do not count."""
    today = today or _local_today()
    days = days or churn_days()
    cutoff = today - timedelta(days=days)
    last = last_order_subquery(until=today)
    open_or_settled = exists().where(
        ClientLoss.client_id == Client.id,
        or_(
            ClientLoss.status.in_(OPEN_CHURN),
            and_(
                ClientLoss.status == "confirmed",
                or_(last.c.last_on.is_(None), ClientLoss.detected_on >= last.c.last_on),
            ),
        ),
    )
    query = (
        select(Client.id, Client.owner_id, last.c.last_on)
        .outerjoin(last, last.c.client_id == Client.id)
        .where(
            Client.is_deleted.is_(False),
            ~open_or_settled,
            or_(
                last.c.last_on <= cutoff,
                and_(last.c.last_on.is_(None), Client.created_at < _day_start(cutoff + timedelta(days=1))),
            ),
        )
        .order_by(Client.id)
    )
    if client_ids is not None:
        query = query.where(Client.id.in_(client_ids))
    created = 0
    batch = []
    for client_id, owner_id, last_on in db.session.execute(query):
        batch.append(
            {
                "client_id": client_id,
                "owner_id": owner_id,
                "last_order_on": last_on,
                "detected_on": today,
                "status": "warning",
            }
        )
        if len(batch) >= 1000:
            created += _insert_warnings(batch)
            batch = []
    created += _insert_warnings(batch)
    return created


def _day_start(day: date) -> datetime:
    """Midnight at the start of ``day`` in the display time zone, as an aware datetime."""
    return clock.day_start(day)


def _insert_warnings(rows: list[dict]) -> int:
    """Insert warnings through the ORM (so each is audited) in bulk-sized steps."""
    for row in rows:
        db.session.add(ClientLoss(**row))
    db.session.flush()
    return len(rows)


def churn_status_clause(status: str):
    """Clients with a churn record in ``status`` ("none": clients without an open or confirmed one)."""
    if status == "none":
        return ~exists().where(ClientLoss.client_id == Client.id, ClientLoss.status.in_((*OPEN_CHURN, "confirmed")))
    return exists().where(ClientLoss.client_id == Client.id, ClientLoss.status == status)


def opportunity_defaults(opportunity: Opportunity) -> dict:
    """What a quote or contract created from a won opportunity starts with."""
    return {
        "client_id": opportunity.client_id,
        "opportunity_id": opportunity.id,
        "amount": opportunity.expected_amount,
        "name": opportunity.title,
    }
