"""Finance (财务管理, SPEC §4.5): receipts allocated to contracts, and sales invoices.
The rules of one record (tax, invoice totals) live here and the sum rules across records in
models/finance_rules.py, so views, CLI and tests share them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, ForeignKey, Integer, String, Text, select, type_coerce
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from . import db
from .auth import Department, User
from .base import (
    FieldError,
    Money,
    SoftDelete,
    Timestamps,
    UTCDateTime,
    Versioned,
    column_label,
    filter_indexes,
    foreign_key,
    format_money,
    kept_total,
    label,
    list_indexes,
    round_money,
)
from .customers import Client, Contract
from .lookups import InvoiceType, PaymentMethod
from .numbering import assign_number
from .search import Searchable
from .workflow import Transition, Workflow, register

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


def fill_or_refuse(row, key: str, expected: Decimal, refusal) -> None:
    """A computed amount (an invoice's tax or total): filled in when left empty; a given
    value that differs is refused on its field with the message ``refusal()``."""
    given = getattr(row, key)
    if given is None:
        setattr(row, key, expected)
    elif Decimal(given) != expected:
        raise FieldError(column_label(type(row), key), str(refusal()))


def _positive(model, key: str, value) -> None:
    if value is not None and Decimal(value) <= 0:
        raise FieldError(column_label(model, key), str(_l("must be greater than 0")))


class Receipt(Timestamps, SoftDelete, Versioned, Searchable, db.Model):
    """客户回款登记单."""

    __tablename__ = "receipt"
    __search__ = ("number", "bank_ref", "payer")
    __scope_parent__ = "client"
    #: the sort columns of its list (views/…: column_default_sort, column_sortable_list)
    __table_args__ = (
        *list_indexes("receipt", "received_on", "number", "amount", "status"),
        # the filters of its list with the default sort
        *filter_indexes(
            "receipt", "received_on", "client_id", "method_id", "department_id", "recorded_by_id", live=("status",)
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True, info=label("Receipt number"))
    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), index=True, info=label("Client")
    )
    amount: Mapped[Decimal] = mapped_column(Money(), info=label("Amount received"))
    received_on: Mapped[date] = mapped_column(Date, index=True, info=label("Received on"))
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="RESTRICT"), index=True, info=label("Receiving department")
    )
    payer: Mapped[str | None] = mapped_column(String(100), info=label("Payer"))
    method_id: Mapped[int] = mapped_column(
        ForeignKey("system_payment.id", ondelete="RESTRICT"), index=True, info=label("Payment method")
    )
    bank_ref: Mapped[str | None] = mapped_column(String(60), index=True, info=label("Bank reference"))
    recorded_by_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True, info=label("Recorded by")
    )
    notes: Mapped[str | None] = mapped_column(Text, info=label("Notes"))
    status: Mapped[str] = mapped_column(
        String(12), default="recorded", index=True, info=label("Status", choices=RECEIPT_STATUSES)
    )
    confirmed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, info=label("Confirmed by")
    )
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Confirmed at"))

    client: Mapped[Client] = relationship(info=label("Client"))
    department = relationship(Department, info=label("Receiving department"))
    method = relationship(PaymentMethod, info=label("Payment method"))
    recorded_by = relationship(User, foreign_keys=[recorded_by_id], info=label("Recorded by"))
    confirmed_by = relationship(User, foreign_keys=[confirmed_by_id], info=label("Confirmed by"))
    allocations: Mapped[list[ContractReceipt]] = relationship(
        back_populates="receipt", cascade="all, delete-orphan", order_by="ContractReceipt.id", info=label("Allocations")
    )

    def check_rules(self) -> None:
        """A number when none was typed; a positive amount. (The allocation sums are
        checked at commit: finance_problems.)"""
        assign_number(self, day=self.received_on)
        _positive(Receipt, "amount", self.amount)


class ContractReceipt(db.Model):
    """合同回款: the part of a receipt allocated to one contract."""

    __tablename__ = "contract_receipt"
    __scope_parent__ = "receipt"

    id: Mapped[int] = mapped_column(primary_key=True)
    receipt_id: Mapped[int] = foreign_key("receipt.id", "Receipt", ondelete="CASCADE")
    contract_id: Mapped[int] = foreign_key("contract.id", "Contract")
    amount: Mapped[Decimal] = mapped_column(Money(), info=label("Allocated amount"))

    receipt: Mapped[Receipt] = relationship(back_populates="allocations", info=label("Receipt"))
    contract: Mapped[Contract] = relationship(info=label("Contract"))

    def check_rules(self) -> None:
        """A positive amount. (Client, contract state and sums: finance_problems at commit.)"""
        _positive(ContractReceipt, "amount", self.amount)

    def __str__(self) -> str:
        return f"{self.contract.number if self.contract else ''} {format_money(self.amount)}".strip()


class Invoice(Timestamps, Versioned, Searchable, db.Model):
    """收入发票."""

    __tablename__ = "invoice"
    __search__ = ("number",)
    __scope_parent__ = "contract"
    #: the sort columns of its list (views/…: column_default_sort, column_sortable_list)
    __table_args__ = (
        *list_indexes("invoice", "issued_on", "number", "amount", "total", "status", soft_delete=False),
        *filter_indexes("invoice", "issued_on", "status", "type_id", "tax_rate"),  # its list's filters
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = foreign_key("contract.id", "Contract")
    type_id: Mapped[int] = foreign_key("system_invoice.id", "Invoice type")
    number: Mapped[str] = mapped_column(String(40), unique=True, info=label("Invoice number"))
    amount: Mapped[Decimal] = mapped_column(Money(), info=label("Amount before tax"))
    tax_rate: Mapped[int] = mapped_column(
        Integer, info=label("Tax rate (%)", choices=[(r, f"{r}%") for r in TAX_RATES])
    )
    tax: Mapped[Decimal] = mapped_column(Money(), info=label("Tax"))
    total: Mapped[Decimal] = mapped_column(Money(), info=label("Total with tax"))
    issued_on: Mapped[date] = mapped_column(Date, index=True, info=label("Issued on"))
    issuer: Mapped[str | None] = mapped_column(String(60), info=label("Issuer"))
    receiver: Mapped[str | None] = mapped_column(String(60), info=label("Receiver"))
    notes: Mapped[str | None] = mapped_column(Text, info=label("Notes"))
    status: Mapped[str] = mapped_column(
        String(10), default="issued", index=True, info=label("Status", choices=INVOICE_STATUSES)
    )
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Voided at"))
    voided_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, info=label("Voided by")
    )
    void_reason: Mapped[str | None] = mapped_column(Text, info=label("Void reason"))

    contract: Mapped[Contract] = relationship(info=label("Contract"))
    type = relationship(InvoiceType, info=label("Invoice type"))
    voided_by = relationship(User, foreign_keys=[voided_by_id], info=label("Voided by"))

    def check_rules(self) -> None:
        """A rate of TAX_RATES; tax = amount × rate rounded half-up to the fen and total =
        amount + tax. Left empty they are filled in; given values that disagree are refused,
        naming the field. A number when none was typed. (Σ totals per contract:
        finance_problems at commit.)"""
        assign_number(self, day=self.issued_on)
        _positive(Invoice, "amount", self.amount)
        if self.tax_rate is not None and int(self.tax_rate) not in TAX_RATES:
            raise FieldError(
                column_label(Invoice, "tax_rate"),
                str(_l("must be one of %(rates)s", rates=", ".join(f"{r}%" for r in TAX_RATES))),
            )
        if self.amount is None or self.tax_rate is None:
            return
        tax, total = compute_tax(Decimal(self.amount), int(self.tax_rate))
        fill_or_refuse(
            self,
            "tax",
            tax,
            lambda: _l(
                "should be %(expected)s (%(amount)s × %(rate)s%%, rounded half-up to the fen), not %(given)s.",
                expected=format_money(tax),
                amount=format_money(self.amount),
                rate=self.tax_rate,
                given=format_money(self.tax),
            ),
        )
        total = Decimal(self.amount) + Decimal(self.tax)
        fill_or_refuse(
            self,
            "total",
            total,
            lambda: _l(
                "should be %(expected)s (amount before tax + tax), not %(given)s.",
                expected=format_money(total),
                given=format_money(self.total),
            ),
        )

    def __str__(self) -> str:
        return self.number or f"#{self.id}"


# --------------------------------------------------------------------------- contract money
#: contract states that may receive money and be invoiced (SPEC §4.5: approved or later)
OFFERABLE_CONTRACT_STATES = ("approved", "signed", "archived")


# kept beside the contract by models/totals.py in the transaction that changes an
# allocation, a receipt or an invoice; the dates say up to when the sums reach, so a report
# as of an earlier day knows which contracts it must sum again (reports/receivables.py)
Contract.received = kept_total("Received")  # Σ allocations of live receipts
Contract.invoiced = kept_total("Invoiced")  # Σ totals of the invoices that are not voided
Contract.received_last_on = mapped_column(Date, info=label("Last received on"))
Contract.invoiced_last_on = mapped_column(Date, info=label("Last invoiced on"))
Contract.balance = column_property(
    type_coerce(Contract.__table__.c.amount - Contract.__table__.c.received, Money()), info=label("Receivable balance")
)


def offerable_contracts(client_id: int | None):
    """select(Contract) of the contracts a receipt of ``client_id`` may be allocated to:
    live, approved or later, of that client (the caller adds the user's data scope)."""
    return (
        select(Contract)
        .where(
            Contract.client_id == client_id,
            Contract.live(),
            Contract.status.in_(OFFERABLE_CONTRACT_STATES),
        )
        .order_by(Contract.starts_on.desc(), Contract.id.desc())
    )


# ------------------------------------------------------------------------- workflows
RECEIPT = Workflow(
    "receipt",
    dict(RECEIPT_STATUSES),
    [
        Transition("confirm", _l("Confirm"), ("recorded",), "confirmed", "confirm", stamp="confirmed"),
    ],
    locked=("confirmed",),
)


INVOICE = Workflow(
    "invoice",
    dict(INVOICE_STATUSES),
    [
        Transition("void", _l("Void"), ("issued",), "voided", "void", comment_required=True, stamp="voided"),
    ],
    locked=("voided",),
)

register(Receipt, RECEIPT)
register(Invoice, INVOICE)
