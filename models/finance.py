"""Finance (财务管理, SPEC §4.5): receipts allocated to contracts, and sales invoices.
The rules (allocation sums, tax, invoice totals) live here so views, CLI and tests share them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, ForeignKey, Integer, String, Text, event, func, or_, select, type_coerce
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapped, Session, mapped_column, query_expression, relationship, with_expression

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
    format_money,
    label,
    round_money,
)
from .customers import Client, Contract
from .lookups import InvoiceType, PaymentMethod
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


def _positive(model, key: str, value) -> None:
    if value is not None and Decimal(value) <= 0:
        raise FieldError(column_label(model, key), str(_l("must be greater than 0")))


class Receipt(Timestamps, SoftDelete, Versioned, db.Model):
    """客户回款登记单."""

    __tablename__ = "receipt"
    __scope_parent__ = "client"

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
        back_populates="receipt", cascade="all, delete-orphan", info=label("Allocations")
    )

    def check_rules(self) -> None:
        """A positive amount. (The allocation sums are checked at commit: finance_problems.)"""
        _positive(Receipt, "amount", self.amount)


class ContractReceipt(db.Model):
    """合同回款: the part of a receipt allocated to one contract."""

    __tablename__ = "contract_receipt"
    __scope_parent__ = "receipt"

    id: Mapped[int] = mapped_column(primary_key=True)
    receipt_id: Mapped[int] = mapped_column(
        ForeignKey("receipt.id", ondelete="CASCADE"), index=True, info=label("Receipt")
    )
    contract_id: Mapped[int] = mapped_column(
        ForeignKey("contract.id", ondelete="RESTRICT"), index=True, info=label("Contract")
    )
    amount: Mapped[Decimal] = mapped_column(Money(), info=label("Allocated amount"))

    receipt: Mapped[Receipt] = relationship(back_populates="allocations", info=label("Receipt"))
    contract: Mapped[Contract] = relationship(info=label("Contract"))

    def check_rules(self) -> None:
        """A positive amount. (Client, contract state and sums: finance_problems at commit.)"""
        _positive(ContractReceipt, "amount", self.amount)

    def __str__(self) -> str:
        return f"{self.contract.number if self.contract else ''} {format_money(self.amount)}".strip()


class Invoice(Timestamps, Versioned, db.Model):
    """收入发票."""

    __tablename__ = "invoice"
    __scope_parent__ = "contract"

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(
        ForeignKey("contract.id", ondelete="RESTRICT"), index=True, info=label("Contract")
    )
    type_id: Mapped[int] = mapped_column(
        ForeignKey("system_invoice.id", ondelete="RESTRICT"), index=True, info=label("Invoice type")
    )
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
        naming the field. (Σ totals per contract: finance_problems at commit.)"""
        _positive(Invoice, "amount", self.amount)
        if self.tax_rate is not None and int(self.tax_rate) not in TAX_RATES:
            raise FieldError(
                column_label(Invoice, "tax_rate"),
                str(_l("must be one of %(rates)s", rates=", ".join(f"{r}%" for r in TAX_RATES))),
            )
        if self.amount is None or self.tax_rate is None:
            return
        tax, total = compute_tax(Decimal(self.amount), int(self.tax_rate))
        if self.tax is None:
            self.tax = tax
        elif Decimal(self.tax) != tax:
            raise FieldError(
                column_label(Invoice, "tax"),
                str(
                    _l(
                        "should be %(expected)s (%(amount)s × %(rate)s%%, rounded half-up to the fen), not %(given)s.",
                        expected=format_money(tax),
                        amount=format_money(self.amount),
                        rate=self.tax_rate,
                        given=format_money(self.tax),
                    )
                ),
            )
        total = Decimal(self.amount) + Decimal(self.tax)
        if self.total is None:
            self.total = total
        elif Decimal(self.total) != total:
            raise FieldError(
                column_label(Invoice, "total"),
                str(
                    _l(
                        "should be %(expected)s (amount before tax + tax), not %(given)s.",
                        expected=format_money(total),
                        given=format_money(self.total),
                    )
                ),
            )

    def __str__(self) -> str:
        return self.number or f"#{self.id}"


# --------------------------------------------------------------------------- contract money
#: contract states that may receive money and be invoiced (SPEC §4.5: approved or later)
OFFERABLE_CONTRACT_STATES = ("approved", "signed", "archived")


def _received_sum():
    """Σ allocations of live (not deleted) receipts to the contract of the outer query."""
    return (
        select(func.coalesce(func.sum(ContractReceipt.amount), 0))
        .join(Receipt, Receipt.id == ContractReceipt.receipt_id)
        .where(ContractReceipt.contract_id == Contract.id, Receipt.is_deleted.is_(False))
        .correlate(Contract)
        .scalar_subquery()
    )


def _invoiced_sum():
    """Σ totals of the contract's invoices that are not voided."""
    return (
        select(func.coalesce(func.sum(Invoice.total), 0))
        .where(Invoice.contract_id == Contract.id, Invoice.status != "voided")
        .correlate(Contract)
        .scalar_subquery()
    )


def contract_money_subqueries() -> dict:
    """Labelled scalar subqueries correlated to ``Contract``: ``received`` (Σ allocations
    of live receipts), ``invoiced`` (Σ totals of non-voided invoices) and ``balance``
    (contract amount − received). Each is one indexed lookup per row of the outer query,
    so a list page stays one statement whatever its size."""
    received = _received_sum()
    expressions = {"received": received, "invoiced": _invoiced_sum(), "balance": Contract.amount - received}
    return {name: type_coerce(expression, Money()).label(name) for name, expression in expressions.items()}


def contract_money_options() -> list:
    """Loader options filling ``Contract.received/invoiced/balance`` in a query of contracts."""
    return [with_expression(getattr(Contract, name), expr) for name, expr in contract_money_subqueries().items()]


# computed money of a contract (SPEC §4.3 "Computed"): None unless the query asked for it
# with contract_money_options() — never a hidden per-row query
Contract.received = query_expression(info=label("Received"))
Contract.invoiced = query_expression(info=label("Invoiced"))
Contract.balance = query_expression(info=label("Receivable balance"))


def offerable_contracts(client_id: int | None):
    """select(Contract) of the contracts a receipt of ``client_id`` may be allocated to:
    live, approved or later, of that client (the caller adds the user's data scope)."""
    return (
        select(Contract)
        .where(
            Contract.client_id == client_id,
            Contract.is_deleted.is_(False),
            Contract.status.in_(OFFERABLE_CONTRACT_STATES),
        )
        .order_by(Contract.starts_on.desc(), Contract.id.desc())
    )


# --------------------------------------------------------------------------- the sum rules
def _state_label(contract) -> str:
    return contract.__workflow__.state_label(contract.status)


def finance_problems(
    *,
    receipts=(),
    received=(),
    invoiced=(),
    links=(),
    invoice_links=(),
    moved_receipts=(),
    moved_contracts=(),
    session=None,
) -> list[FieldError]:
    """Check the rules of SPEC §4.5 against the database (ids limit the work; pass ``None``
    to check every row, e.g. after a bulk import or the demo seed — then money allocated
    to a contract that was terminated later is reported too):

    * ``receipts`` — Σ allocations of a live receipt ≤ its amount;
    * ``received`` — Σ allocations (live receipts) to a contract ≤ the contract amount;
    * ``invoiced`` — Σ totals of non-voided invoices of a contract ≤ the contract amount;
    * ``links`` — allocations (ids) go to live contracts, approved or later, of the
      receipt's client; ``moved_receipts``/``moved_contracts`` — after a client change
      the allocations of those receipts/contracts still join the same client;
    * ``invoice_links`` — invoices (ids) belong to live contracts approved or later.

    Returns FieldErrors naming the record and the amount over (empty: all well)."""
    problems: list[FieldError] = []
    session = session or db.session

    def rows(query, column, ids):
        """The rows of ``query`` for ``ids`` of ``column`` (all rows for None), in chunks
        so that a bulk change does not overflow the database's parameter limit."""
        if ids is None:
            return session.execute(query).all()
        ids = sorted(ids)
        return [
            row
            for start in range(0, len(ids), 500)
            for row in session.execute(query.where(column.in_(ids[start : start + 500]))).all()
        ]

    allocated = func.sum(ContractReceipt.amount)
    query = (
        select(Receipt.number, Receipt.amount, allocated)
        .join(ContractReceipt, ContractReceipt.receipt_id == Receipt.id)
        .where(Receipt.is_deleted.is_(False))
        .group_by(Receipt.id, Receipt.number, Receipt.amount)
        .having(allocated > Receipt.amount)
    )
    for number, amount, total in rows(query, Receipt.id, receipts):
        problems.append(
            FieldError(
                str(_l("Allocations")),
                str(
                    _l(
                        "receipt %(receipt)s: the allocations total %(total)s, %(over)s more than the amount "
                        "received %(amount)s.",
                        receipt=number,
                        total=format_money(total),
                        over=format_money(total - amount),
                        amount=format_money(amount),
                    )
                ),
            )
        )

    query = (
        select(Contract.number, Contract.amount, allocated)
        .join(ContractReceipt, ContractReceipt.contract_id == Contract.id)
        .join(Receipt, Receipt.id == ContractReceipt.receipt_id)
        .where(Receipt.is_deleted.is_(False))
        .group_by(Contract.id, Contract.number, Contract.amount)
        .having(allocated > Contract.amount)
    )
    for number, amount, total in rows(query, Contract.id, received):
        problems.append(
            FieldError(
                str(_l("Allocated amount")),
                str(
                    _l(
                        "contract %(contract)s: the receipts allocated to it would total %(total)s, %(over)s more "
                        "than the contract amount %(amount)s.",
                        contract=number,
                        total=format_money(total),
                        over=format_money(total - amount),
                        amount=format_money(amount),
                    )
                ),
            )
        )

    totals = func.sum(Invoice.total)
    query = (
        select(Contract.number, Contract.amount, totals)
        .join(Invoice, Invoice.contract_id == Contract.id)
        .where(Invoice.status != "voided")
        .group_by(Contract.id, Contract.number, Contract.amount)
        .having(totals > Contract.amount)
    )
    for number, amount, total in rows(query, Contract.id, invoiced):
        problems.append(
            FieldError(
                column_label(Invoice, "total"),
                str(
                    _l(
                        "contract %(contract)s: the invoices issued on it would total %(total)s, %(over)s more "
                        "than the contract amount %(amount)s.",
                        contract=number,
                        total=format_money(total),
                        over=format_money(total - amount),
                        amount=format_money(amount),
                    )
                ),
            )
        )

    bad_client = Contract.client_id != Receipt.client_id
    bad_state = or_(Contract.is_deleted.is_(True), Contract.status.not_in(OFFERABLE_CONTRACT_STATES))
    link = (
        select(ContractReceipt, Receipt, Contract)
        .join(Receipt, Receipt.id == ContractReceipt.receipt_id)
        .join(Contract, Contract.id == ContractReceipt.contract_id)
        .where(Receipt.is_deleted.is_(False))
    )
    seen = set()
    for column, ids, wrong in (
        (ContractReceipt.id, links, or_(bad_client, bad_state)),
        (Receipt.id, moved_receipts, bad_client),
        (Contract.id, moved_contracts, bad_client),
    ):
        for allocation, receipt, contract in rows(link.where(wrong).order_by(ContractReceipt.id), column, ids):
            if allocation.id in seen:
                continue
            seen.add(allocation.id)
            if contract.client_id != receipt.client_id:
                problems.append(
                    FieldError(
                        column_label(ContractReceipt, "contract_id"),
                        str(
                            _l(
                                "contract %(contract)s belongs to %(owner)s, not to %(client)s, the client of "
                                "receipt %(receipt)s.",
                                contract=contract.number,
                                owner=str(contract.client),
                                client=str(receipt.client),
                                receipt=receipt.number,
                            )
                        ),
                    )
                )
            else:
                problems.append(
                    FieldError(
                        column_label(ContractReceipt, "contract_id"),
                        str(
                            _l(
                                "contract %(contract)s is %(state)s: only approved, signed or archived contracts "
                                "receive money.",
                                contract=contract.number,
                                state=str(_l("Deleted")) if contract.is_deleted else _state_label(contract),
                            )
                        ),
                    )
                )

    query = (
        select(Invoice, Contract)
        .join(Contract, Contract.id == Invoice.contract_id)
        .where(Invoice.status != "voided", bad_state)
    )
    for _invoice, contract in rows(query, Invoice.id, invoice_links):
        problems.append(
            FieldError(
                column_label(Invoice, "contract_id"),
                str(
                    _l(
                        "contract %(contract)s is %(state)s: only approved, signed or archived contracts are invoiced.",
                        contract=contract.number,
                        state=str(_l("Deleted")) if contract.is_deleted else _state_label(contract),
                    )
                ),
            )
        )
    return problems


# The sum rules span rows and tables, so they are checked like deferred constraints: every
# flush notes what it touched, and the commit checks those rows in SQL (also for the CLI,
# imports and tests). A multi-step change — a client merge that moves receipts and
# contracts in separate flushes — is judged on its end state, not halfway.
_PENDING = "finance_pending"
_KINDS = ("receipts", "received", "invoiced", "links", "invoice_links", "moved_receipts", "moved_contracts")


def _changed(obj, *keys) -> bool:
    state = sa_inspect(obj)
    return any(state.attrs[key].history.has_changes() for key in keys)


@event.listens_for(Session, "after_flush")
def _note_finance_changes(session, flush_context) -> None:
    pending = None

    def note(kind, *ids):
        nonlocal pending
        if pending is None:
            pending = session.info.setdefault(_PENDING, {k: set() for k in _KINDS})
        pending[kind].update(i for i in ids if i is not None)

    for obj in list(session.new) + list(session.dirty):
        is_new = obj in session.new
        if isinstance(obj, ContractReceipt):
            if is_new or _changed(obj, "contract_id", "receipt_id", "amount"):
                note("receipts", obj.receipt_id)
                note("received", obj.contract_id)
            if is_new or _changed(obj, "contract_id", "receipt_id"):
                note("links", obj.id)
        elif isinstance(obj, Receipt):
            if is_new or _changed(obj, "amount", "is_deleted"):
                note("receipts", obj.id)
            if not is_new and _changed(obj, "is_deleted"):  # restored: its allocations count again
                note(
                    "received",
                    *session.execute(
                        select(ContractReceipt.contract_id).where(ContractReceipt.receipt_id == obj.id)
                    ).scalars(),
                )
            if not is_new and _changed(obj, "client_id"):
                note("moved_receipts", obj.id)
        elif isinstance(obj, Invoice):
            if is_new or _changed(obj, "contract_id", "total", "status"):
                note("invoiced", obj.contract_id)
            if is_new or _changed(obj, "contract_id"):
                note("invoice_links", obj.id)
        elif isinstance(obj, Contract) and not is_new:
            if _changed(obj, "amount"):
                note("received", obj.id)
                note("invoiced", obj.id)
            if _changed(obj, "client_id"):
                note("moved_contracts", obj.id)


def _lock_for_sums(session, pending) -> None:
    """Lock the contracts and receipts whose sums are about to be checked, so that two
    transactions allocating to one contract are checked one after the other: the second
    waits for the first to commit and then counts its allocations (PostgreSQL has no
    database-wide write lock; on SQLite, writing requests begin IMMEDIATE). FOR NO KEY
    UPDATE, in id order: the allocation rows inserted with a foreign key to them hold a
    key-share lock, which this one does not wait for — no deadlock."""
    if session.get_bind().dialect.name == "sqlite":
        return
    for model, ids in ((Contract, pending["received"] | pending["invoiced"]), (Receipt, pending["receipts"])):
        ids = sorted(ids)
        for start in range(0, len(ids), 500):
            session.execute(
                select(model.id)
                .where(model.id.in_(ids[start : start + 500]))
                .order_by(model.id)
                .with_for_update(key_share=True)
            )


@event.listens_for(Session, "before_commit")
def _check_finance_rules(session) -> None:
    if session.new or session.dirty or session.deleted:
        session.flush()  # the last changes are noted too
    pending = session.info.get(_PENDING)
    if not pending:
        return
    _lock_for_sums(session, pending)
    problems = finance_problems(session=session, **pending)
    if problems:
        raise problems[0]


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_finance_changes(session) -> None:
    session.info.pop(_PENDING, None)


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
