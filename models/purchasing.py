"""Purchasing (SPEC §4.5): suppliers, purchase requests with items, expense contracts
and purchase invoices; the payments are in models/purchase_payments.py. Approvals go
through models/workflow.py.

The rules live here (``check_rules`` runs before every flush), so forms, the CLI, imports
and tests obey them alike: positive quantities and amounts, payments only against approved
expense contracts and never more in total than the contract amount, the supplier of a
payment or invoice matching its contract, and the invoice tax rules of the sales side.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, Text, func, inspect, select, type_coerce
from sqlalchemy.orm import Mapped, column_property, mapped_column, object_session, relationship

from . import db, validators
from .auth import Department, User
from .base import (
    FieldError,
    Money,
    SoftDelete,
    Timestamps,
    Versioned,
    column_label,
    format_money,
    label,
)
from .finance import TAX_RATES, compute_tax, fill_or_refuse
from .lookups import ContractType
from .numbering import assign_number
from .workflow import APPROVAL_STATES, Approval, Workflow, approval_steps, register


class Supplier(Timestamps, SoftDelete, db.Model):
    """供应商."""

    __tablename__ = "supplier"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True, info=label("Supplier name"))
    uscc: Mapped[str | None] = mapped_column(
        String(18), info=label("Unified social credit code", check=validators.uscc)
    )
    contact: Mapped[str | None] = mapped_column(String(60), info=label("Contact"))
    phone: Mapped[str | None] = mapped_column(String(40), info=label("Phone", check=validators.phone))
    email: Mapped[str | None] = mapped_column(String(120), info=label("E-mail", check=validators.email))
    address: Mapped[str | None] = mapped_column(String(300), info=label("Address"))
    bank: Mapped[str | None] = mapped_column(String(100), info=label("Bank"))
    bank_account: Mapped[str | None] = mapped_column(String(40), info=label("Bank account"))
    notes: Mapped[str | None] = mapped_column(Text, info=label("Notes"))

    def check_rules(self) -> None:
        """A bank account is 8–34 letters or digits (mainland accounts are digits, IBANs
        are not); the spaces and dashes people type for readability are dropped."""
        if self.bank_account:
            compact = "".join(ch for ch in self.bank_account if ch not in " -").upper()
            if not (compact.isascii() and compact.isalnum() and 8 <= len(compact) <= 34):
                raise FieldError(column_label(Supplier, "bank_account"), str(_l("must be 8 to 34 letters or digits")))
            self.bank_account = compact


class PurchaseRequest(Timestamps, Versioned, Approval, db.Model):
    """采购申请单 (owned by its requester)."""

    __tablename__ = "purchase_request"
    __scope_owner__ = ("requester_id",)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True, info=label("Request number"))
    requester_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True, info=label("Requester")
    )
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="RESTRICT"), index=True, info=label("Department")
    )
    opportunity_id: Mapped[int | None] = mapped_column(
        ForeignKey("sal_chance.id", ondelete="SET NULL"), index=True, info=label("Opportunity")
    )
    name: Mapped[str] = mapped_column(String(200), info=label("Purchase name"))
    consignee: Mapped[str | None] = mapped_column(String(60), info=label("Consignee"))
    address: Mapped[str | None] = mapped_column(String(300), info=label("Delivery address"))
    phone: Mapped[str | None] = mapped_column(String(40), info=label("Phone", check=validators.phone))
    description: Mapped[str | None] = mapped_column(Text, info=label("Purchase description"))
    cost_type: Mapped[str | None] = mapped_column(String(60), info=label("Cost attribution"))

    requester = relationship(User, foreign_keys=[requester_id], info=label("Requester"))
    department = relationship(Department, info=label("Department"))
    opportunity = relationship("Opportunity", info=label("Opportunity"))
    items: Mapped[list[PurchaseItem]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="PurchaseItem.id", info=label("Items")
    )

    def check_rules(self) -> None:
        """A number when none was typed; the requester's department when none was chosen."""
        assign_number(self)
        if self.department is None and self.department_id is None:
            requester = self.requester or (db.session.get(User, self.requester_id) if self.requester_id else None)
            if requester is not None and requester.department_id is not None:
                self.department = db.session.get(Department, requester.department_id)


class PurchaseItem(db.Model):
    """采购明细."""

    __tablename__ = "purchase_item"
    __scope_parent__ = "request"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("purchase_request.id", ondelete="CASCADE"), index=True, info=label("Purchase request")
    )
    name: Mapped[str] = mapped_column(String(200), info=label("Item"))
    spec: Mapped[str | None] = mapped_column(String(200), info=label("Specification"))
    quantity: Mapped[int] = mapped_column(Integer, info=label("Quantity", minimum=1))
    unit_price: Mapped[Decimal] = mapped_column(Money(), info=label("Unit price"))
    supplier_id: Mapped[int | None] = mapped_column(
        ForeignKey("supplier.id", ondelete="RESTRICT"), index=True, info=label("Supplier")
    )

    request: Mapped[PurchaseRequest] = relationship(back_populates="items", info=label("Purchase request"))
    supplier = relationship(Supplier, info=label("Supplier"))

    def check_rules(self) -> None:
        """Quantity above 0, unit price not negative."""
        if self.quantity is not None and int(self.quantity) <= 0:
            raise FieldError(column_label(PurchaseItem, "quantity"), str(_l("must be greater than 0")))
        if self.unit_price is not None and Decimal(self.unit_price) < 0:
            raise FieldError(column_label(PurchaseItem, "unit_price"), str(_l("must not be negative")))

    def __str__(self) -> str:
        return f"{self.name} × {self.quantity}"


class ExpenseContract(Timestamps, SoftDelete, Versioned, Approval, db.Model):
    """支出合同 (in scope for its handler)."""

    __tablename__ = "expense_contract"
    __scope_owner__ = ("handler_id",)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True, info=label("Contract number"))
    type_id: Mapped[int | None] = mapped_column(
        ForeignKey("system_contract.id", ondelete="RESTRICT"), index=True, info=label("Contract type")
    )
    supplier_id: Mapped[int] = mapped_column(
        ForeignKey("supplier.id", ondelete="RESTRICT"), index=True, info=label("Supplier")
    )
    purchase_request_id: Mapped[int | None] = mapped_column(
        ForeignKey("purchase_request.id", ondelete="RESTRICT"), index=True, info=label("Purchase request")
    )
    name: Mapped[str] = mapped_column(String(200), info=label("Contract name"))
    handler_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), index=True, info=label("Handler")
    )
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
    payments = relationship("PurchasePayment", viewonly=True, order_by="PurchasePayment.id", info=label("Payments"))

    def check_rules(self) -> None:
        """A number when none was typed; end on or after the start; a positive amount that
        stays at or above what its payments already claim."""
        assign_number(self)
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise FieldError(column_label(ExpenseContract, "ends_on"), str(_l("must not be before the start date")))
        if self.amount is not None and Decimal(self.amount) <= 0:
            raise FieldError(column_label(ExpenseContract, "amount"), str(_l("must be greater than 0")))
        if self.id is not None and self.amount is not None and inspect(self).attrs.amount.history.has_changes():
            from .purchase_payments import payments_sum  # that module imports this one

            claimed = payments_sum(self, object_session(self) or db.session)
            if claimed > Decimal(self.amount):
                raise FieldError(
                    column_label(ExpenseContract, "amount"),
                    str(
                        _l(
                            "payments of %(contract)s already total %(claimed)s; the amount cannot be lower.",
                            contract=self.number,
                            claimed=format_money(claimed),
                        )
                    ),
                )


class PurchaseInvoice(Timestamps, Versioned, db.Model):
    """采购发票."""

    __tablename__ = "purchase_invoice"
    __scope_parent__ = "expense_contract"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), info=label("Invoice number"))
    supplier_id: Mapped[int] = mapped_column(
        ForeignKey("supplier.id", ondelete="RESTRICT"), index=True, info=label("Supplier")
    )
    expense_contract_id: Mapped[int | None] = mapped_column(
        ForeignKey("expense_contract.id", ondelete="RESTRICT"), index=True, info=label("Expense contract")
    )
    quantity: Mapped[int | None] = mapped_column(Integer, info=label("Quantity"))
    amount: Mapped[Decimal] = mapped_column(Money(), info=label("Amount before tax"))
    tax_rate: Mapped[int] = mapped_column(
        Integer, info=label("Tax rate (%)", choices=[(r, f"{r}%") for r in TAX_RATES])
    )
    tax: Mapped[Decimal] = mapped_column(Money(), info=label("Tax"))
    total: Mapped[Decimal] = mapped_column(Money(), info=label("Total with tax"))
    issued_on: Mapped[date | None] = mapped_column(Date, index=True, info=label("Issued on"))
    handler: Mapped[str | None] = mapped_column(String(60), info=label("Handler"))
    receiver: Mapped[str | None] = mapped_column(String(60), info=label("Receiver"))
    notes: Mapped[str | None] = mapped_column(Text, info=label("Notes"))

    supplier = relationship(Supplier, info=label("Supplier"))
    expense_contract = relationship(ExpenseContract, info=label("Expense contract"))

    __table_args__ = (db.UniqueConstraint("supplier_id", "number", name="uq_purchase_invoice_supplier_number"),)

    def check_rules(self) -> None:
        """The tax rules of sales invoices: rate one of TAX_RATES, tax = round(amount × rate)
        and total = amount + tax (filled in when empty, refused when they disagree); the
        supplier of the expense contract (taken from it when left empty)."""
        if self.quantity is not None and int(self.quantity) <= 0:
            raise FieldError(column_label(PurchaseInvoice, "quantity"), str(_l("must be greater than 0")))
        if self.expense_contract is not None or self.expense_contract_id is not None:
            take_contract_supplier(self, expense_contract_of(self, object_session(self) or db.session), PurchaseInvoice)
        elif self.supplier is None and self.supplier_id is None:
            raise FieldError(
                column_label(PurchaseInvoice, "supplier_id"), str(_l("choose the supplier or an expense contract"))
            )
        if self.amount is None:
            return  # NOT NULL: the database names it
        if Decimal(self.amount) <= 0:
            raise FieldError(column_label(PurchaseInvoice, "amount"), str(_l("must be greater than 0")))
        try:
            rate = int(self.tax_rate)
        except (TypeError, ValueError):
            rate = None
        if rate not in TAX_RATES:
            raise FieldError(
                column_label(PurchaseInvoice, "tax_rate"),
                str(_l("must be one of %(rates)s", rates=", ".join(f"{r}%" for r in TAX_RATES))),
            )
        self.tax_rate = rate
        tax, _ = compute_tax(Decimal(self.amount), rate)
        fill_or_refuse(
            self,
            "tax",
            tax,
            lambda: _l(
                "should be %(tax)s (%(rate)s%% of %(amount)s, rounded to the fen); correct it or leave it empty.",
                tax=format_money(tax),
                rate=rate,
                amount=format_money(self.amount),
            ),
        )
        total = Decimal(self.amount) + Decimal(self.tax)
        fill_or_refuse(
            self,
            "total",
            total,
            lambda: _l("should be %(total)s (amount + tax); correct it or leave it empty.", total=format_money(total)),
        )


# --------------------------------------------------------------------- computed columns
# Computed in SQL and deferred: lists undefer them (one query per page, no per-row sums).
PurchaseRequest.total = column_property(
    select(
        type_coerce(
            func.coalesce(func.sum(PurchaseItem.quantity * type_coerce(PurchaseItem.unit_price, BigInteger)), 0),
            Money(),
        )
    )
    .where(PurchaseItem.request_id == PurchaseRequest.id)
    .correlate_except(PurchaseItem)
    .scalar_subquery(),
    deferred=True,
    info=label("Total amount"),
)


# --------------------------------------------------------------------------- domain rules
def expense_contract_of(row, session) -> ExpenseContract | None:
    """The expense contract of a payment/invoice, also when only the id was set (CLI), locked
    for update so concurrent payment requests on one contract run one after the other."""
    contract_id = row.expense_contract.id if row.expense_contract is not None else row.expense_contract_id
    if contract_id is None:
        return row.expense_contract  # a new contract in the same flush
    locked = session.execute(
        select(ExpenseContract).where(ExpenseContract.id == contract_id).with_for_update()
    ).scalar()
    return locked or row.expense_contract


def take_contract_supplier(row, contract: ExpenseContract | None, model) -> None:
    """Left empty, the supplier is the contract's; a different one is refused."""
    if contract is None:
        return
    theirs = (
        contract.supplier
        if contract.supplier is not None
        else (db.session.get(Supplier, contract.supplier_id) if contract.supplier_id is not None else None)
    )
    mine = row.supplier if row.supplier is not None else row.supplier_id
    if mine is None:
        row.supplier = theirs
    elif theirs is not None and _identity(mine) != _identity(theirs):
        raise FieldError(
            column_label(model, "supplier_id"),
            str(
                _l(
                    "must be the supplier of %(contract)s (%(supplier)s).",
                    contract=contract.number,
                    supplier=str(theirs),
                )
            ),
        )


def _identity(row_or_id):
    """Compare rows by primary key, or as objects while they have none yet."""
    if isinstance(row_or_id, int):
        return row_or_id
    return row_or_id.id if row_or_id.id is not None else id(row_or_id)


# ------------------------------------------------------------------------- workflows
PURCHASE_REQUEST = Workflow("purchase_request", APPROVAL_STATES, approval_steps(), locked=("submitted", "approved"))
EXPENSE_CONTRACT = Workflow("expense_contract", APPROVAL_STATES, approval_steps(), locked=("submitted", "approved"))

register(PurchaseRequest, PURCHASE_REQUEST)
register(ExpenseContract, EXPENSE_CONTRACT)
