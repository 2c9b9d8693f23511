"""The sum rules of finance (SPEC §4.5), checked at commit like deferred constraints:
allocations within the receipt and the contract amounts, invoices within the contract
amount, money only on live contracts approved or later of the receipt's client."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import event, func, or_, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from . import db
from .base import FieldError, column_label, format_money
from .customers import Contract
from .finance import OFFERABLE_CONTRACT_STATES, ContractReceipt, Invoice, Receipt
from .validators import N_


def _state_label(contract) -> str:
    return contract.__workflow__.state_label(contract.status)


def _over_amount(record, summed, live, *joins):
    """select(number, amount, Σ) of the ``record`` rows (receipts or contracts) whose sum
    ``summed`` over the ``joins``, counting the ``live`` rows only, exceeds their amount."""
    query = select(record.number, record.amount, summed)
    for target, on in joins:
        query = query.join(target, on)
    return query.where(live).group_by(record.id, record.number, record.amount).having(summed > record.amount)


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
    totals = func.sum(Invoice.total)
    live_receipt = Receipt.live()
    # the records whose sum exceeds their amount: (records, id column, ids, field, message)
    over = (
        (
            _over_amount(Receipt, allocated, live_receipt, (ContractReceipt, ContractReceipt.receipt_id == Receipt.id)),
            Receipt.id,
            receipts,
            _l("Allocations"),
            N_(
                "receipt %(receipt)s: the allocations total %(total)s, %(over)s more than the amount "
                "received %(amount)s."
            ),
        ),
        (
            _over_amount(
                Contract,
                allocated,
                live_receipt,
                (ContractReceipt, ContractReceipt.contract_id == Contract.id),
                (Receipt, Receipt.id == ContractReceipt.receipt_id),
            ),
            Contract.id,
            received,
            _l("Allocated amount"),
            N_(
                "contract %(contract)s: the receipts allocated to it would total %(total)s, %(over)s more "
                "than the contract amount %(amount)s."
            ),
        ),
        (
            _over_amount(Contract, totals, Invoice.status != "voided", (Invoice, Invoice.contract_id == Contract.id)),
            Contract.id,
            invoiced,
            column_label(Invoice, "total"),
            N_(
                "contract %(contract)s: the invoices issued on it would total %(total)s, %(over)s more "
                "than the contract amount %(amount)s."
            ),
        ),
    )
    for query, column, ids, field, message in over:
        for number, amount, total in rows(query, column, ids):
            money = {"total": format_money(total), "over": format_money(total - amount), "amount": format_money(amount)}
            problems.append(FieldError(str(field), str(_l(message, receipt=number, contract=number, **money))))

    bad_client = Contract.client_id != Receipt.client_id
    bad_state = or_(Contract.live(deleted=True), Contract.status.not_in(OFFERABLE_CONTRACT_STATES))
    link = (
        select(ContractReceipt, Receipt, Contract)
        .join(Receipt, Receipt.id == ContractReceipt.receipt_id)
        .join(Contract, Contract.id == ContractReceipt.contract_id)
        .where(Receipt.live())
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
