"""Finance (财务管理, SPEC §4.5): receipts allocated to contracts, and sales invoices.
The rules (allocation sums, tax, invoice totals) live here so views, CLI and tests share them."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db
from .auth import Department, User
from .base import FieldError, Money, SoftDelete, Timestamps, UTCDateTime, Versioned, column_label, label, round_money
from .customers import Client, Contract
from .lookups import InvoiceType, PaymentMethod
from .workflow import INVOICE, RECEIPT, register

TAX_RATES = (13, 9, 6, 3, 1, 0)
RECEIPT_STATUSES = [("recorded", _l("Recorded")), ("confirmed", _l("Confirmed"))]
INVOICE_STATUSES = [("issued", _l("Issued")), ("voided", _l("Voided"))]


def compute_tax(amount: Decimal, rate: int) -> tuple[Decimal, Decimal]:
    """(tax, total) for an amount before tax and a rate in percent: tax rounded half-up
    to the fen, total = amount + tax."""
    if rate not in TAX_RATES:
        raise ValueError(f"tax rate must be one of {', '.join(map(str, TAX_RATES))} %")
    tax = round_money(Decimal(amount) * Decimal(rate) / Decimal(100))
    return tax, Decimal(amount) + tax


class Receipt(Timestamps, SoftDelete, Versioned, db.Model):
    """客户回款登记单."""

    __tablename__ = "receipt"
    __scope_parent__ = "client"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True, info=label("Receipt number"))
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="RESTRICT"), index=True,
                                           info=label("Client"))
    amount: Mapped[Decimal] = mapped_column(Money(), info=label("Amount received"))
    received_on: Mapped[date] = mapped_column(Date, index=True, info=label("Received on"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id", ondelete="RESTRICT"),
                                                      index=True, info=label("Receiving department"))
    payer: Mapped[str | None] = mapped_column(String(100), info=label("Payer"))
    method_id: Mapped[int] = mapped_column(ForeignKey("system_payment.id", ondelete="RESTRICT"), index=True,
                                           info=label("Payment method"))
    bank_ref: Mapped[str | None] = mapped_column(String(60), index=True, info=label("Bank reference"))
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True,
                                                info=label("Recorded by"))
    notes: Mapped[str | None] = mapped_column(Text, info=label("Notes"))
    status: Mapped[str] = mapped_column(String(12), default="recorded", index=True,
                                        info=label("Status", choices=RECEIPT_STATUSES))
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True,
                                                        info=label("Confirmed by"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Confirmed at"))

    client: Mapped[Client] = relationship(info=label("Client"))
    department = relationship(Department, info=label("Receiving department"))
    method = relationship(PaymentMethod, info=label("Payment method"))
    recorded_by = relationship(User, foreign_keys=[recorded_by_id], info=label("Recorded by"))
    confirmed_by = relationship(User, foreign_keys=[confirmed_by_id], info=label("Confirmed by"))
    allocations: Mapped[list[ContractReceipt]] = relationship(back_populates="receipt",
                                                              cascade="all, delete-orphan",
                                                              info=label("Allocations"))

    def check_rules(self) -> None:
        if self.amount is not None and Decimal(self.amount) <= 0:
            raise FieldError(column_label(Receipt, "amount"), str(_l("must be greater than 0")))


class ContractReceipt(db.Model):
    """合同回款: the part of a receipt allocated to one contract."""

    __tablename__ = "contract_receipt"
    __scope_parent__ = "receipt"

    id: Mapped[int] = mapped_column(primary_key=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipt.id", ondelete="CASCADE"), index=True,
                                            info=label("Receipt"))
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id", ondelete="RESTRICT"), index=True,
                                             info=label("Contract"))
    amount: Mapped[Decimal] = mapped_column(Money(), info=label("Allocated amount"))

    receipt: Mapped[Receipt] = relationship(back_populates="allocations", info=label("Receipt"))
    contract: Mapped[Contract] = relationship(info=label("Contract"))

    def __str__(self) -> str:
        return f"{self.contract} {self.amount}"


class Invoice(Timestamps, Versioned, db.Model):
    """收入发票."""

    __tablename__ = "invoice"
    __scope_parent__ = "contract"

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id", ondelete="RESTRICT"), index=True,
                                             info=label("Contract"))
    type_id: Mapped[int] = mapped_column(ForeignKey("system_invoice.id", ondelete="RESTRICT"), index=True,
                                         info=label("Invoice type"))
    number: Mapped[str] = mapped_column(String(40), unique=True, info=label("Invoice number"))
    amount: Mapped[Decimal] = mapped_column(Money(), info=label("Amount before tax"))
    tax_rate: Mapped[int] = mapped_column(Integer, info=label("Tax rate (%)", choices=[
        (r, f"{r}%") for r in TAX_RATES]))
    tax: Mapped[Decimal] = mapped_column(Money(), info=label("Tax"))
    total: Mapped[Decimal] = mapped_column(Money(), info=label("Total with tax"))
    issued_on: Mapped[date] = mapped_column(Date, index=True, info=label("Issued on"))
    issuer: Mapped[str | None] = mapped_column(String(60), info=label("Issuer"))
    receiver: Mapped[str | None] = mapped_column(String(60), info=label("Receiver"))
    notes: Mapped[str | None] = mapped_column(Text, info=label("Notes"))
    status: Mapped[str] = mapped_column(String(10), default="issued", index=True,
                                        info=label("Status", choices=INVOICE_STATUSES))
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Voided at"))
    voided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True,
                                                     info=label("Voided by"))
    void_reason: Mapped[str | None] = mapped_column(Text, info=label("Void reason"))

    contract: Mapped[Contract] = relationship(info=label("Contract"))
    type = relationship(InvoiceType, info=label("Invoice type"))
    voided_by = relationship(User, foreign_keys=[voided_by_id], info=label("Voided by"))


register(Receipt, RECEIPT)
register(Invoice, INVOICE)
