"""Totals kept beside the rows they sum (issue 10): ``orders.total`` (Σ order lines),
``quote.subtotal``/``quote.total`` (Σ quote lines, then the discount rounded half-up to
the fen), ``contract.received``/``invoiced`` (Σ allocations of live receipts, Σ totals of
the invoices that are not voided) with the last day each sum reaches.

One mechanism, the session hooks below, so views, CLI, imports and tests are all covered:
every flush notes the parents whose rows it touches (a line added, edited, moved or
deleted; a receipt deleted, restored or re-dated; an invoice voided; a discount changed)
and, in the same transaction, sets their stored figures again from the aggregate of their
rows — the same integer arithmetic as the SQL columns these replace. The parent rows are
locked first (FOR NO KEY UPDATE on PostgreSQL; SQLite writes one transaction at a time),
so the aggregate, read by the next statement, sees every committed change of a parallel
transaction: no update is lost. Bulk inserts that bypass the session (the demo seed) call
:func:`refresh_totals` afterwards.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, cast, event, false, func, inspect, select, update
from sqlalchemy.orm import Session

from .customers import Contract
from .finance import ContractReceipt, Invoice, Receipt
from .orders import Order, OrderLine, Quote, QuoteLine

_PENDING = "totals_pending"
_EXPIRE = "totals_expire"

#: child model → (the parent model, the child's foreign key and relationship to it)
CHILDREN = {
    OrderLine: (Order, "order_id", "order"),
    QuoteLine: (Quote, "quote_id", "quote"),
    ContractReceipt: (Contract, "contract_id", "contract"),
    Invoice: (Contract, "contract_id", "contract"),
}
#: the stored figures of each parent, expired in the session after they were set
KEPT = {Order: ("total",), Quote: ("subtotal", "total"), Contract: ("received", "invoiced", "balance")}


def _sum_fen(*terms):
    """COALESCE(SUM(…), 0) as a BIGINT: PostgreSQL sums bigints as NUMERIC."""
    return cast(func.coalesce(func.sum(*terms), 0), BigInteger)


def _figures(model) -> dict:
    """column → SQL expression (correlated to the parent's table) of the kept figures."""
    table = model.__table__
    if model is Order or model is Quote:
        line = OrderLine if model is Order else QuoteLine
        fk = line.order_id if model is Order else line.quote_id
        subtotal = (
            select(_sum_fen(line.quantity * cast(line.__table__.c.unit_price, BigInteger)))
            .where(fk == table.c.id)
            .scalar_subquery()
        )
        if model is Order:
            return {table.c.total: subtotal}
        # total = subtotal − round_half_up(subtotal × discount): fen × hundredths of a percent
        discount = (subtotal * table.c.discount_pct + 5000) // 10000
        return {table.c.subtotal: subtotal, table.c.total: subtotal - discount}
    allocation, receipt, invoice = ContractReceipt.__table__, Receipt.__table__, Invoice.__table__
    live = (
        select()
        .select_from(allocation.join(receipt, receipt.c.id == allocation.c.receipt_id))
        .where(allocation.c.contract_id == table.c.id, receipt.c.is_deleted == false())
    )
    issued = select().where(invoice.c.contract_id == table.c.id, invoice.c.status != "voided")
    return {
        table.c.received: live.add_columns(_sum_fen(allocation.c.amount)).scalar_subquery(),
        table.c.received_last_on: live.add_columns(func.max(receipt.c.received_on)).scalar_subquery(),
        table.c.invoiced: issued.add_columns(_sum_fen(invoice.c.total)).scalar_subquery(),
        table.c.invoiced_last_on: issued.add_columns(func.max(invoice.c.issued_on)).scalar_subquery(),
    }


def _set_figures(session, model, ids=None) -> None:
    """UPDATE the kept figures of ``model`` rows (``ids``; None = every row) from their
    aggregates. ``updated_at`` stays: the parent row itself did not change."""
    table = model.__table__
    values = {**_figures(model), table.c.updated_at: table.c.updated_at}
    if ids is None:
        session.execute(update(table).values(values))
        return
    ids = sorted(ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        if session.get_bind().dialect.name != "sqlite":
            # wait for a parallel writer of the same parents before reading their rows
            session.execute(
                select(table.c.id).where(table.c.id.in_(chunk)).order_by(table.c.id).with_for_update(key_share=True)
            )
        session.execute(update(table).where(table.c.id.in_(chunk)).values(values))


def refresh_totals(session, models=(Order, Quote, Contract)) -> None:
    """Set every kept figure of ``models`` from the aggregates (after bulk inserts that
    bypass the session, e.g. the demo seed; the migration backfills the same way)."""
    for model in models:
        _set_figures(session, model)


# ------------------------------------------------------------------------ session hooks
def _note(session, model, *refs) -> None:
    pending = session.info.setdefault(_PENDING, {})
    pending.setdefault(model, []).extend(ref for ref in refs if ref is not None)


def _changed(obj, *keys) -> bool:
    state = inspect(obj)
    return any(state.attrs[key].history.has_changes() for key in keys)


def _refs(obj, *keys, load: bool) -> list:
    """The parents ``obj`` names through the attributes ``keys``, now and before this
    change (ids or objects; ``load`` reads attributes not loaded yet)."""
    state = inspect(obj)
    refs = []
    for key in keys:
        history = state.attrs[key].load_history() if load else state.attrs[key].history
        refs.extend(history.sum())
    return refs


@event.listens_for(Session, "before_flush")
def _note_before(session, flush_context, instances) -> None:
    """What only the rows before the flush tell: the parents of rows being deleted, and the
    contracts a receipt is allocated to when its deletion or date changes."""
    with session.no_autoflush:
        for obj in session.deleted:
            if type(obj) in CHILDREN:  # the parent it had in the database
                parent, fk, _ = CHILDREN[type(obj)]
                _note(session, parent, *_refs(obj, fk, load=True))
        for obj in list(session.dirty) + list(session.deleted):
            if isinstance(obj, Receipt) and obj.id is not None:
                if obj in session.deleted or _changed(obj, "is_deleted", "received_on"):
                    allocated = select(ContractReceipt.contract_id).where(ContractReceipt.receipt_id == obj.id)
                    _note(session, Contract, *session.execute(allocated).scalars())


@event.listens_for(Session, "after_flush")
def _set_after(session, flush_context) -> None:
    """The parents of the rows written in this flush get their figures set again."""
    for obj in list(session.new) + list(session.dirty):
        if type(obj) in CHILDREN:
            parent, fk, relationship = CHILDREN[type(obj)]
            _note(session, parent, *_refs(obj, fk, relationship, load=False))
        elif isinstance(obj, Quote) and obj not in session.new and _changed(obj, "discount_pct"):
            _note(session, Quote, obj)
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    expire = session.info.setdefault(_EXPIRE, set())
    for model, refs in pending.items():
        ids = {ref if isinstance(ref, int) else inspect(ref).dict.get("id") for ref in refs} - {None}
        if ids:
            _set_figures(session, model, ids)
            expire.update((model, id_) for id_ in ids)


@event.listens_for(Session, "after_flush_postexec")
def _expire_figures(session, flush_context) -> None:
    """Objects in the session read their new figures on next access."""
    for model, id_ in session.info.pop(_EXPIRE, ()):
        obj = session.identity_map.get(inspect(model).identity_key_from_primary_key((id_,)))
        if obj is not None:
            session.expire(obj, list(KEPT[model]))


# ------------------------------------------------------------ statements through the session
#: child table → (parent model, foreign key column); receipts count through their allocations
_TABLES = {model.__tablename__: (parent, model.__table__.c[fk]) for model, (parent, fk, _) in CHILDREN.items()}


def _parents_of(session, table, where) -> tuple:
    """(parent model, ids) of the rows of ``table`` matching ``where`` (None: all rows)."""
    if table.name == Receipt.__tablename__:
        allocation = ContractReceipt.__table__
        query = select(allocation.c.contract_id).where(
            allocation.c.receipt_id.in_(select(table.c.id).where(where) if where is not None else select(table.c.id))
        )
        return Contract, set(session.execute(query).scalars())
    parent, fk = _TABLES[table.name]
    query = select(fk).distinct() if where is None else select(fk).where(where).distinct()
    return parent, set(session.execute(query).scalars())


@event.listens_for(Session, "do_orm_execute")
def _statement_totals(state):
    """INSERT/UPDATE/DELETE statements run through the session (bulk inserts of the demo
    seed and of tests) keep the figures too: the parents named by the inserted rows, or
    matched by the statement before and after it runs, are set again in the same transaction."""
    if not (state.is_insert or state.is_update or state.is_delete):
        return None
    table = state.statement.table
    if table.name not in _TABLES and table.name != Receipt.__tablename__:
        return None
    session, where = state.session, getattr(state.statement, "whereclause", None)
    moved = None
    if state.is_insert and table.name in _TABLES:
        parent, fk = _TABLES[table.name]
        params = state.parameters if isinstance(state.parameters, list) else [state.parameters or {}]
        ids = {row.get(fk.key) for row in params} - {None}
    else:
        parent, ids = _parents_of(session, table, where)
        if state.is_update and table.name in _TABLES:  # the rows may move to other parents
            moved = list(session.execute(select(table.c.id).where(where) if where is not None else select(table.c.id)))
    result = state.invoke_statement()
    if moved:
        ids |= _parents_of(session, table, table.c.id.in_([row.id for row in moved]))[1]
    if ids:
        _set_figures(session, parent, ids)
    return result


@event.listens_for(Session, "after_rollback")
def _forget(session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_EXPIRE, None)
