"""Purchasing (SPEC §4.5): suppliers, purchase requests with items, expense contracts,
payments and purchase invoices. Approvals go through models/workflow.py."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import db, validators
from .auth import Department, User
from .base import Money, SoftDelete, Timestamps, UTCDateTime, Versioned, label
from .lookups import ContractType
from .workflow import EXPENSE_CONTRACT, PAYMENT, PURCHASE_REQUEST, Approval, register

PAYMENT_STATUSES = [("requested", _l("Requested")), ("approved", _l("Approved")), ("paid", _l("Paid")),
                    ("rejected", _l("Rejected"))]


class Supplier(Timestamps, SoftDelete, db.Model):
    """供应商."""

    __tablename__ = "supplier"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True, info=label("Supplier name"))
    uscc: Mapped[str | None] = mapped_column(String(18), info=label("Unified social credit code",
                                                                    check=validators.uscc))
    contact: Mapped[str | None] = mapped_column(String(60), info=label("Contact"))
    phone: Mapped[str | None] = mapped_column(String(40), info=label("Phone", check=validators.phone))
    email: Mapped[str | None] = mapped_column(String(120), info=label("E-mail", check=validators.email))
    address: Mapped[str | None] = mapped_column(String(300), info=label("Address"))
    bank: Mapped[str | None] = mapped_column(String(100), info=label("Bank"))
    bank_account: Mapped[str | None] = mapped_column(String(40), info=label("Bank account"))
    notes: Mapped[str | None] = mapped_column(Text, info=label("Notes"))


class PurchaseRequest(Timestamps, Versioned, Approval, db.Model):
    """采购申请单 (owned by its requester)."""

    __tablename__ = "purchase_request"
    __scope_owner__ = ("requester_id",)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True, info=label("Request number"))
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True,
                                              info=label("Requester"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id", ondelete="RESTRICT"),
                                                      index=True, info=label("Department"))
    name: Mapped[str] = mapped_column(String(200), info=label("Purchase name"))
    consignee: Mapped[str | None] = mapped_column(String(60), info=label("Consignee"))
    address: Mapped[str | None] = mapped_column(String(300), info=label("Delivery address"))
    phone: Mapped[str | None] = mapped_column(String(40), info=label("Phone", check=validators.phone))
    description: Mapped[str | None] = mapped_column(Text, info=label("Purchase description"))
    cost_type: Mapped[str | None] = mapped_column(String(60), info=label("Cost attribution"))

    requester = relationship(User, foreign_keys=[requester_id], info=label("Requester"))
    department = relationship(Department, info=label("Department"))
    items: Mapped[list[PurchaseItem]] = relationship(back_populates="request", cascade="all, delete-orphan",
                                                     info=label("Items"))


class PurchaseItem(db.Model):
    """采购明细."""

    __tablename__ = "purchase_item"
    __scope_parent__ = "request"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("purchase_request.id", ondelete="CASCADE"), index=True,
                                            info=label("Purchase request"))
    name: Mapped[str] = mapped_column(String(200), info=label("Item"))
    spec: Mapped[str | None] = mapped_column(String(200), info=label("Specification"))
    quantity: Mapped[int] = mapped_column(Integer, info=label("Quantity", minimum=1))
    unit_price: Mapped[Decimal] = mapped_column(Money(), info=label("Unit price"))
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("supplier.id", ondelete="RESTRICT"), index=True,
                                                    info=label("Supplier"))

    request: Mapped[PurchaseRequest] = relationship(back_populates="items", info=label("Purchase request"))
    supplier = relationship(Supplier, info=label("Supplier"))


class ExpenseContract(Timestamps, SoftDelete, Versioned, Approval, db.Model):
    """支出合同 (in scope for its handler)."""

    __tablename__ = "expense_contract"
    __scope_owner__ = ("handler_id",)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True, info=label("Contract number"))
    type_id: Mapped[int | None] = mapped_column(ForeignKey("system_contract.id", ondelete="RESTRICT"),
                                                index=True, info=label("Contract type"))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id", ondelete="RESTRICT"), index=True,
                                             info=label("Supplier"))
    purchase_request_id: Mapped[int | None] = mapped_column(
        ForeignKey("purchase_request.id", ondelete="RESTRICT"), index=True, info=label("Purchase request"))
    name: Mapped[str] = mapped_column(String(200), info=label("Contract name"))
    handler_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True,
                                            info=label("Handler"))
    contact: Mapped[str | None] = mapped_column(String(60), info=label("Contact"))
    phone: Mapped[str | None] = mapped_column(String(40), info=label("Phone", check=validators.phone))
    starts_on: Mapped[date | None] = mapped_column(Date, info=label("Start date"))
    ends_on: Mapped[date | None] = mapped_column(Date, info=label("End date"))
    amount: Mapped[Decimal] = mapped_column(Money(), info=label("Contract amount"))
    subject: Mapped[str | None] = mapped_column(Text, info=label("Subject matter"))

    type = relationship(ContractType, info=label("Contract type"))
    supplier = relationship(Supplier, info=label("Supplier"))
    purchase_request = relationship(PurchaseRequest, info=label("Purchase request"))
    handler = relationship(User, foreign_keys=[handler_id], info=label("Handler"))


class PurchasePayment(Timestamps, Versioned, db.Model):
    """采购付款: requested → approved (finance, four-eyes) → paid."""

    __tablename__ = "purchase_payment"
    __scope_parent__ = "expense_contract"

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id", ondelete="RESTRICT"), index=True,
                                             info=label("Supplier"))
    expense_contract_id: Mapped[int] = mapped_column(ForeignKey("expense_contract.id", ondelete="RESTRICT"),
                                                     index=True, info=label("Expense contract"))
    reason: Mapped[str] = mapped_column(Text, info=label("Reason"))
    amount: Mapped[Decimal] = mapped_column(Money(), info=label("Amount"))
    paid_on: Mapped[date | None] = mapped_column(Date, index=True, info=label("Paid on"))
    status: Mapped[str] = mapped_column(String(12), default="requested", index=True,
                                        info=label("Status", choices=PAYMENT_STATUSES))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True,
                                                       info=label("Recorded by"))
    recorded_ip: Mapped[str | None] = mapped_column(String(45), info=label("Recorded from IP"))
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Recorded at"))
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True,
                                                        info=label("Requested by"))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True,
                                                       info=label("Approved by"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Approved at"))

    supplier = relationship(Supplier, info=label("Supplier"))
    expense_contract = relationship(ExpenseContract, info=label("Expense contract"))
    recorded_by = relationship(User, foreign_keys=[recorded_by_id], info=label("Recorded by"))
    submitted_by = relationship(User, foreign_keys=[submitted_by_id], info=label("Requested by"))
    approved_by = relationship(User, foreign_keys=[approved_by_id], info=label("Approved by"))


class PurchaseInvoice(Timestamps, Versioned, db.Model):
    """采购发票."""

    __tablename__ = "purchase_invoice"
    __scope_parent__ = "expense_contract"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), info=label("Invoice number"))
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id", ondelete="RESTRICT"), index=True,
                                             info=label("Supplier"))
    expense_contract_id: Mapped[int | None] = mapped_column(
        ForeignKey("expense_contract.id", ondelete="RESTRICT"), index=True, info=label("Expense contract"))
    quantity: Mapped[int | None] = mapped_column(Integer, info=label("Quantity"))
    amount: Mapped[Decimal] = mapped_column(Money(), info=label("Amount before tax"))
    tax_rate: Mapped[int] = mapped_column(Integer, info=label("Tax rate (%)"))
    tax: Mapped[Decimal] = mapped_column(Money(), info=label("Tax"))
    total: Mapped[Decimal] = mapped_column(Money(), info=label("Total with tax"))
    issued_on: Mapped[date | None] = mapped_column(Date, index=True, info=label("Issued on"))
    handler: Mapped[str | None] = mapped_column(String(60), info=label("Handler"))
    receiver: Mapped[str | None] = mapped_column(String(60), info=label("Receiver"))
    notes: Mapped[str | None] = mapped_column(Text, info=label("Notes"))

    supplier = relationship(Supplier, info=label("Supplier"))
    expense_contract = relationship(ExpenseContract, info=label("Expense contract"))

    __table_args__ = (db.UniqueConstraint("supplier_id", "number", name="uq_purchase_invoice_supplier_number"),)


register(PurchaseRequest, PURCHASE_REQUEST)
register(ExpenseContract, EXPENSE_CONTRACT)
register(PurchasePayment, PAYMENT)
