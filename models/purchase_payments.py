"""Purchase payments (采购付款, SPEC §4.5): requested → approved (finance, four-eyes) → paid,
only against approved expense contracts and never more in total than the contract amount;
who recorded a request, from where and when."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, Date, ForeignKey, String, Text, func, inspect, select, type_coerce
from sqlalchemy.orm import Mapped, column_property, mapped_column, object_session, relationship

from . import clock, db
from .auth import User
from .base import FieldError, Money, Timestamps, UTCDateTime, Versioned, column_label, format_money, label, utcnow
from .purchasing import EXPENSE_CONTRACT, ExpenseContract, Supplier, expense_contract_of, take_contract_supplier
from .workflow import Transition, Workflow, approve, register

PAYMENT_STATUSES = [
    ("requested", _l("Requested")),
    ("approved", _l("Approved")),
    ("paid", _l("Paid")),
    ("rejected", _l("Rejected")),
]


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
        contract = expense_contract_of(self, session)
        if contract is None:
            raise FieldError(
                column_label(PurchasePayment, "expense_contract_id"), str(_l("choose an expense contract"))
            )
        take_contract_supplier(self, contract, PurchasePayment)
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
        total = payments_sum(contract, session)
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


# --------------------------------------------------------------------- computed columns
# Computed in SQL and deferred: lists undefer them (one query per page, no per-row sums).
_NOT_REJECTED = PurchasePayment.status != "rejected"


def _contract_payments_sum(condition, info: dict):
    """A deferred column of ExpenseContract: Σ amounts of its payments that meet ``condition``."""
    return column_property(
        select(type_coerce(func.coalesce(func.sum(type_coerce(PurchasePayment.amount, BigInteger)), 0), Money()))
        .where(PurchasePayment.expense_contract_id == ExpenseContract.id, condition)
        .correlate_except(PurchasePayment)
        .scalar_subquery(),
        deferred=True,
        info=info,
    )


ExpenseContract.payments_total = _contract_payments_sum(_NOT_REJECTED, label("Payments requested"))
ExpenseContract.paid_total = _contract_payments_sum(PurchasePayment.status == "paid", label("Paid"))


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


def payments_sum(contract: ExpenseContract, session) -> Decimal:
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


# ------------------------------------------------------------------------- workflow
def _paid(record, actor, **_) -> str:
    record.paid_on = record.paid_on or clock.today()  # the local day, not UTC's
    return "paid"


PAYMENT = Workflow(
    "payment",
    dict(PAYMENT_STATUSES),
    [
        Transition("approve", _l("Approve"), ("requested",), "approved", "approve", four_eyes=True, decide=approve),
        Transition(
            "reject", _l("Reject"), ("requested",), "rejected", "approve", comment_required=True, four_eyes=True
        ),
        Transition("pay", _l("Mark as paid"), ("approved",), "paid", "approve", decide=_paid),
    ],
    locked=("approved", "paid", "rejected"),
)

register(PurchasePayment, PAYMENT)
