"""Purchasing (SPEC §4.5): suppliers, purchase requests with items, expense contracts,
payments and purchase invoices. Approvals go through models/workflow.py.

The rules live here (``check_rules`` runs before every flush), so forms, the CLI, imports
and tests obey them alike: positive quantities and amounts, payments only against approved
expense contracts and never more in total than the contract amount, the supplier of a
payment or invoice matching its contract, and the invoice tax rules of the sales side.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, Text, func, inspect, select, type_coerce
from sqlalchemy.orm import Mapped, column_property, mapped_column, object_session, relationship

from . import clock, db, validators
from .auth import Department, User
from .base import (
    FieldError,
    Money,
    SoftDelete,
    Timestamps,
    UTCDateTime,
    Versioned,
    column_label,
    format_money,
    label,
    utcnow,
)
from .finance import TAX_RATES, compute_tax
from .lookups import ContractType
from .numbering import assign_number, next_number  # noqa: F401  (next_number: the documents' numbering)
from .workflow import EXPENSE_CONTRACT, PAYMENT, PURCHASE_REQUEST, Approval, register

PAYMENT_STATUSES = [
    ("requested", _l("Requested")),
    ("approved", _l("Approved")),
    ("paid", _l("Paid")),
    ("rejected", _l("Rejected")),
]


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
        assign_number(self, "CG")
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
        assign_number(self, "ZC")
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise FieldError(column_label(ExpenseContract, "ends_on"), str(_l("must not be before the start date")))
        if self.amount is not None and Decimal(self.amount) <= 0:
            raise FieldError(column_label(ExpenseContract, "amount"), str(_l("must be greater than 0")))
        if self.id is not None and self.amount is not None and inspect(self).attrs.amount.history.has_changes():
            claimed = _payments_total(self, object_session(self) or db.session)
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


class PurchasePayment(Timestamps, Versioned, db.Model):
    """采购付款: requested → approved (finance, four-eyes) → paid."""

    __tablename__ = "purchase_payment"
    __scope_parent__ = "expense_contract"

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(
        ForeignKey("supplier.id", ondelete="RESTRICT"), index=True, info=label("Supplier")
    )
    expense_contract_id: Mapped[int] = mapped_column(
        ForeignKey("expense_contract.id", ondelete="RESTRICT"), index=True, info=label("Expense contract")
    )
    reason: Mapped[str] = mapped_column(Text, info=label("Reason"))
    amount: Mapped[Decimal] = mapped_column(Money(), info=label("Amount"))
    paid_on: Mapped[date | None] = mapped_column(Date, index=True, info=label("Paid on"))
    status: Mapped[str] = mapped_column(
        String(12), default="requested", index=True, info=label("Status", choices=PAYMENT_STATUSES)
    )
    recorded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, info=label("Recorded by")
    )
    recorded_ip: Mapped[str | None] = mapped_column(String(45), info=label("Recorded from IP"))
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Recorded at"))
    submitted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, info=label("Requested by")
    )
    approved_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True, info=label("Approved by")
    )
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), info=label("Approved at"))

    supplier = relationship(Supplier, info=label("Supplier"))
    expense_contract = relationship(ExpenseContract, info=label("Expense contract"))
    recorded_by = relationship(User, foreign_keys=[recorded_by_id], info=label("Recorded by"))
    submitted_by = relationship(User, foreign_keys=[submitted_by_id], info=label("Requested by"))
    approved_by = relationship(User, foreign_keys=[approved_by_id], info=label("Approved by"))

    def __str__(self) -> str:
        contract = self.expense_contract.number if self.expense_contract is not None else "?"
        return f"{contract} {format_money(self.amount)} (#{self.id or '—'})"

    def check_rules(self) -> None:
        """Amount above 0; a contract that is approved; the supplier of the contract (taken
        from it when left empty); Σ non-rejected payments of the contract ≤ its amount; the
        person who recorded the request counts as its submitter (four-eyes)."""
        if self.amount is not None and Decimal(self.amount) <= 0:
            raise FieldError(column_label(PurchasePayment, "amount"), str(_l("must be greater than 0")))
        if self.submitted_by_id is None and self.recorded_by_id is not None:
            self.submitted_by_id = self.recorded_by_id
        session = object_session(self) or db.session
        contract = _contract_of(self, session)
        if contract is None:
            raise FieldError(
                column_label(PurchasePayment, "expense_contract_id"), str(_l("choose an expense contract"))
            )
        _take_supplier(self, contract, PurchasePayment)
        if self.status == "rejected":
            return
        if contract.status != "approved":
            raise FieldError(
                column_label(PurchasePayment, "expense_contract_id"),
                str(
                    _l(
                        "%(contract)s is %(state)s: only approved expense contracts can receive payments.",
                        contract=contract.number,
                        state=EXPENSE_CONTRACT.state_label(contract.status),
                    )
                ),
            )
        total = _payments_total(contract, session)
        if total > Decimal(contract.amount):
            raise FieldError(
                column_label(PurchasePayment, "amount"),
                str(
                    _l(
                        "payments of %(contract)s would total %(total)s, %(over)s more than its amount %(amount)s. "
                        "Lower the amount or reject another payment first.",
                        contract=contract.number,
                        total=format_money(total),
                        over=format_money(total - Decimal(contract.amount)),
                        amount=format_money(contract.amount),
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
            _take_supplier(self, _contract_of(self, object_session(self) or db.session), PurchaseInvoice)
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
        if self.tax is None:
            self.tax = tax
        elif Decimal(self.tax) != tax:
            raise FieldError(
                column_label(PurchaseInvoice, "tax"),
                str(
                    _l(
                        "should be %(tax)s (%(rate)s%% of %(amount)s, rounded to the fen); "
                        "correct it or leave it empty.",
                        tax=format_money(tax),
                        rate=rate,
                        amount=format_money(self.amount),
                    )
                ),
            )
        if self.total is None:
            self.total = Decimal(self.amount) + Decimal(self.tax)
        elif Decimal(self.total) != Decimal(self.amount) + Decimal(self.tax):
            raise FieldError(
                column_label(PurchaseInvoice, "total"),
                str(
                    _l(
                        "should be %(total)s (amount + tax); correct it or leave it empty.",
                        total=format_money(Decimal(self.amount) + Decimal(self.tax)),
                    )
                ),
            )


# --------------------------------------------------------------------- computed columns
# Computed in SQL and deferred: lists undefer them (one query per page, no per-row sums).
_NOT_REJECTED = PurchasePayment.status != "rejected"

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

ExpenseContract.payments_total = column_property(
    select(type_coerce(func.coalesce(func.sum(type_coerce(PurchasePayment.amount, BigInteger)), 0), Money()))
    .where(PurchasePayment.expense_contract_id == ExpenseContract.id, _NOT_REJECTED)
    .correlate_except(PurchasePayment)
    .scalar_subquery(),
    deferred=True,
    info=label("Payments requested"),
)

ExpenseContract.paid_total = column_property(
    select(type_coerce(func.coalesce(func.sum(type_coerce(PurchasePayment.amount, BigInteger)), 0), Money()))
    .where(PurchasePayment.expense_contract_id == ExpenseContract.id, PurchasePayment.status == "paid")
    .correlate_except(PurchasePayment)
    .scalar_subquery(),
    deferred=True,
    info=label("Paid"),
)


# --------------------------------------------------------------------------- domain rules
def request_payment(
    payment: PurchasePayment, actor: User, ip: str | None, at: datetime | None = None
) -> PurchasePayment:
    """Record a new payment request as the documents ask (系统用户, 系统IP, 系统时间): who
    recorded it, from which IP and when. The requester is its submitter, so the four-eyes
    rule keeps them from approving it. Returns the payment (status ``requested``)."""
    payment.recorded_by_id = actor.id
    payment.recorded_ip = ip
    payment.recorded_at = at or utcnow()
    payment.submitted_by_id = actor.id
    payment.status = "requested"
    return payment


def revise_payment(payment: PurchasePayment, actor: User) -> bool:
    """After an edit of a payment request: whoever changed its contract, supplier, amount or
    reason now stands behind it as its submitter, so they cannot approve it themselves
    (otherwise an approver could rewrite a request and approve it alone). Returns whether
    anything that counts changed."""
    state = inspect(payment)
    changed = any(
        state.attrs[key].history.has_changes()
        for key in ("expense_contract", "expense_contract_id", "supplier", "supplier_id", "amount", "reason")
    )
    if changed:
        payment.submitted_by_id = actor.id
    return changed


def _local_today() -> date:
    """Today in the configured time zone (kept for its importers: use ``clock.today()``)."""
    return clock.today()


def _contract_of(row, session) -> ExpenseContract | None:
    """The expense contract of a payment/invoice, also when only the id was set (CLI), locked
    for update so concurrent payment requests on one contract run one after the other."""
    contract_id = row.expense_contract.id if row.expense_contract is not None else row.expense_contract_id
    if contract_id is None:
        return row.expense_contract  # a new contract in the same flush
    locked = session.execute(
        select(ExpenseContract).where(ExpenseContract.id == contract_id).with_for_update()
    ).scalar()
    return locked or row.expense_contract


def _take_supplier(row, contract: ExpenseContract | None, model) -> None:
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


def _payments_total(contract: ExpenseContract, session) -> Decimal:
    """Σ amounts of the non-rejected payments of ``contract``: the stored ones, with the
    payments being written in this flush counted as they are about to be."""
    pending = [
        p for p in list(session.new) + list(session.dirty) + list(session.deleted) if isinstance(p, PurchasePayment)
    ]
    skip = [p.id for p in pending if p.id is not None]
    query = select(func.sum(PurchasePayment.amount)).where(
        PurchasePayment.expense_contract_id == contract.id, _NOT_REJECTED
    )
    if skip:
        query = query.where(PurchasePayment.id.not_in(skip))
    with session.no_autoflush:
        total = session.execute(query).scalar() or Decimal("0.00")
    deleted = set(map(id, session.deleted))
    for payment in pending:
        if id(payment) in deleted or payment.status == "rejected" or payment.amount is None:
            continue
        target = payment.expense_contract.id if payment.expense_contract is not None else payment.expense_contract_id
        if payment.expense_contract is contract or (target is not None and target == contract.id):
            total += Decimal(payment.amount)
    return total


register(PurchaseRequest, PURCHASE_REQUEST)
register(ExpenseContract, EXPENSE_CONTRACT)
register(PurchasePayment, PAYMENT)
