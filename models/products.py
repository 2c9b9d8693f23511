"""Products (产品信息) and their stock (库存) per warehouse, never below zero; shipping takes
from it in models/shipments.py.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from flask_babel import lazy_gettext as _l
from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .base import FieldError, Money, SoftDelete, Timestamps, Versioned, column_label, label, not_negative
from .lookups import Trade
from .workflow import WorkflowError

if TYPE_CHECKING:
    pass


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
        not_negative(Product, "price", self.price)


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


def stock_on_hand(product_id: int) -> int:
    return db.session.execute(
        select(func.coalesce(func.sum(Stock.quantity), 0)).where(Stock.product_id == product_id)
    ).scalar()


def product_of(line) -> Product | None:
    if line.product is not None:
        return line.product
    if line.product_id is not None:
        with db.session.no_autoflush:
            return db.session.get(Product, line.product_id)
    return None


class StockError(WorkflowError):
    """A shipment refused: not enough stock, or a quantity that cannot ship (the message
    names the line or product, what is needed and what is there)."""
