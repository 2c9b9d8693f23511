"""Statements (SPEC §7, report-generation actions): the customer statement (客户对账单) of
a client and the receivables statement (应收账款对账单) of a contract.

Pure query functions (session, ids, user, as-of date) → statements, with a fixed number
of SQL statements whatever the number of clients, contracts, receipts or invoices:
eight for any set of clients, four for any set of contracts. The contract figures
(amount, received, invoiced, balance, aging) come from reports/receivables.py, so a
statement and the receivables report always agree.

Customer statement of a client, as of a date:

* contracts — the receivable ones (approved, signed, archived), with their figures and
  a totals row; the balance of the client is the total balance;
* receipts — every non-deleted receipt of the client received by then, with the part
  allocated to contracts and the unallocated rest;
* allocations — the allocations of those receipts to the listed contracts (their total
  is the contracts' total received);
* invoices — the invoices of the listed contracts issued by then, voided ones shown but
  not counted (the total is the contracts' total invoiced).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select, type_coerce

from models.auth import User
from models.base import Money, utcnow
from models.customers import Client, Contract
from models.finance import INVOICE_STATUSES, RECEIPT_STATUSES, ContractReceipt, Invoice, Receipt
from models.lookups import PaymentMethod
from models.scope import scope_clause

from .receivables import (
    BUCKETS,
    RECEIVABLE_STATUSES,
    ReceivablesFilters,
    contract_status_label,
    money_columns,
    named,
    receivables_select,
    totals_row,
    totals_select,
)
from .render import Column, Document, Section


@dataclass
class ClientStatement:
    client: Mapping
    contracts: list
    totals: Mapping  # Σ over the contracts (amount, received, invoiced, balance, buckets)
    receipts: list
    receipt_totals: Mapping  # amount, allocated, unallocated
    allocations: list
    invoices: list
    invoice_totals: Mapping  # amount, tax, total of non-voided invoices
    as_of: date
    generated_at: datetime = field(default_factory=utcnow)


@dataclass
class ContractStatement:
    contract: Mapping  # one row of receivables_select
    client: Mapping
    allocations: list
    invoices: list
    invoice_totals: Mapping
    as_of: date
    generated_at: datetime = field(default_factory=utcnow)


def _money(expr):
    return type_coerce(expr, Money())


def _zero_totals(keys) -> dict:
    from decimal import Decimal

    return {key: Decimal("0.00") for key in keys}


def _clients(session, client_ids, user) -> dict[int, Mapping]:
    query = (
        select(
            Client.id,
            Client.name,
            Client.address,
            Client.phone,
            Client.contact_name,
            Client.contact_mobile,
            *named(owner=User.name),
        )
        .outerjoin(User, User.id == Client.owner_id)
        .where(Client.id.in_(client_ids))
        .order_by(Client.id)
    )
    clause = scope_clause(Client, user)
    if clause is not None:
        query = query.where(clause)
    return {row.id: row._mapping for row in session.execute(query)}


def _allocations(session, as_of, user, *, client_ids=None, contract_ids=None) -> list:
    query = (
        select(
            ContractReceipt.id,
            Contract.client_id,
            ContractReceipt.contract_id,
            Receipt.received_on,
            ContractReceipt.amount,
            *named(receipt_number=Receipt.number, contract_number=Contract.number, method=PaymentMethod.name),
        )
        .join(Receipt, Receipt.id == ContractReceipt.receipt_id)
        .join(Contract, Contract.id == ContractReceipt.contract_id)
        .outerjoin(PaymentMethod, PaymentMethod.id == Receipt.method_id)
        .where(Receipt.live(), Receipt.received_on <= as_of, Contract.live())
        .order_by(Receipt.received_on, Receipt.number, ContractReceipt.id)
    )
    if client_ids is not None:
        query = query.where(Contract.client_id.in_(client_ids), Contract.status.in_(RECEIVABLE_STATUSES))
    if contract_ids is not None:
        query = query.where(ContractReceipt.contract_id.in_(contract_ids))
    clause = scope_clause(Contract, user)
    if clause is not None:
        query = query.where(clause)
    return [row._mapping for row in session.execute(query)]


def _invoice_query(as_of, user):
    query = (
        select(
            Invoice.id,
            Invoice.contract_id,
            Contract.client_id,
            Invoice.number,
            *named(contract_number=Contract.number),
            Invoice.issued_on,
            Invoice.amount,
            Invoice.tax_rate,
            Invoice.tax,
            Invoice.total,
            Invoice.status,
        )
        .join(Contract, Contract.id == Invoice.contract_id)
        .where(Contract.live(), Invoice.issued_on <= as_of)
    )
    clause = scope_clause(Contract, user)
    return query.where(clause) if clause is not None else query


def _invoice_totals_query(invoices):
    counted = invoices.c.status != "voided"
    return select(
        *[
            _money(func.coalesce(func.sum(case((counted, invoices.c[key]), else_=0)), 0)).label(key)
            for key in ("amount", "tax", "total")
        ]
    )


def _rows_by_client(session, query, ids, *order_by) -> dict[int, list]:
    """The rows of ``query`` in ``order_by`` order, grouped by their ``client_id`` (every id
    of ``ids`` present, an empty list when it has none)."""
    rows: dict[int, list] = {i: [] for i in ids}
    for row in session.execute(query.order_by(*order_by)):
        rows[row.client_id].append(row._mapping)
    return rows


def client_statements(session, client_ids, user, as_of: date) -> list[ClientStatement]:
    """The customer statements of the clients (those in ``user``'s scope), in id order."""
    ids = tuple(sorted({int(i) for i in client_ids}))
    clients = _clients(session, ids, user)
    if not clients:
        return []
    ids = tuple(clients)
    filters = ReceivablesFilters(as_of=as_of, client_ids=ids)
    contracts: dict[int, list] = {i: [] for i in ids}
    for row in session.execute(receivables_select(filters, user)):
        contracts[row.client_id].append(row._mapping)
    totals = {
        row.client_id: row._mapping for row in session.execute(totals_select(filters, user, group_by_client=True))
    }

    allocated = (
        select(ContractReceipt.receipt_id, *named(allocated=func.sum(ContractReceipt.amount)))
        .group_by(ContractReceipt.receipt_id)
        .subquery("allocated")
    )
    allocated_amount = _money(func.coalesce(allocated.c.allocated, 0))
    receipt_query = (
        select(
            Receipt.id,
            Receipt.client_id,
            Receipt.number,
            Receipt.received_on,
            Receipt.payer,
            Receipt.status,
            Receipt.amount,
            *named(
                method=PaymentMethod.name,
                allocated=allocated_amount,
                unallocated=_money(Receipt.amount - func.coalesce(allocated.c.allocated, 0)),
            ),
        )
        .outerjoin(allocated, allocated.c.receipt_id == Receipt.id)
        .outerjoin(PaymentMethod, PaymentMethod.id == Receipt.method_id)
        .where(Receipt.client_id.in_(ids), Receipt.live(), Receipt.received_on <= as_of)
    )
    receipts = _rows_by_client(session, receipt_query, ids, Receipt.received_on, Receipt.number, Receipt.id)
    receipt_rows = receipt_query.subquery("receipts")
    receipt_totals = {
        row.client_id: row._mapping
        for row in session.execute(
            select(
                receipt_rows.c.client_id,
                *[
                    _money(func.coalesce(func.sum(receipt_rows.c[key]), 0)).label(key)
                    for key in ("amount", "allocated", "unallocated")
                ],
            ).group_by(receipt_rows.c.client_id)
        )
    }

    allocations: dict[int, list] = {i: [] for i in ids}
    for row in _allocations(session, as_of, user, client_ids=ids):
        allocations[row["client_id"]].append(row)

    invoice_query = _invoice_query(as_of, user).where(
        Contract.client_id.in_(ids), Contract.status.in_(RECEIVABLE_STATUSES)
    )
    invoices = _rows_by_client(session, invoice_query, ids, Invoice.issued_on, Invoice.number, Invoice.id)
    invoice_rows = invoice_query.subquery("invoices")
    invoice_totals = {
        row.client_id: row._mapping
        for row in session.execute(
            _invoice_totals_query(invoice_rows).add_columns(invoice_rows.c.client_id).group_by(invoice_rows.c.client_id)
        )
    }

    contract_keys = ("amount", "received", "invoiced", "balance") + tuple(key for key, *_ in BUCKETS)
    return [
        ClientStatement(
            client=clients[i],
            contracts=contracts[i],
            totals=totals.get(i) or {"contracts": 0, **_zero_totals(contract_keys)},
            receipts=receipts[i],
            receipt_totals=receipt_totals.get(i) or _zero_totals(("amount", "allocated", "unallocated")),
            allocations=allocations[i],
            invoices=invoices[i],
            invoice_totals=invoice_totals.get(i) or _zero_totals(("amount", "tax", "total")),
            as_of=as_of,
        )
        for i in ids
    ]


def contract_statements(session, contract_ids, user, as_of: date) -> list[ContractStatement]:
    """The receivables statements of the contracts (those in ``user``'s scope, any
    status), in due-date order: four SQL statements whatever their number."""
    ids = tuple(sorted({int(i) for i in contract_ids}))
    if not ids:
        return []
    filters = ReceivablesFilters(as_of=as_of, contract_ids=ids, statuses=None)
    select_rows = receivables_select(filters, user).add_columns(
        *named(client_address=Client.address, client_contact=Client.contact_name, client_mobile=Client.contact_mobile)
    )
    contracts = [row._mapping for row in session.execute(select_rows)]
    if not contracts:
        return []
    ids = tuple(row["contract_id"] for row in contracts)
    allocations: dict[int, list] = {i: [] for i in ids}
    for row in _allocations(session, as_of, user, contract_ids=ids):
        allocations[row["contract_id"]].append(row)
    invoice_query = _invoice_query(as_of, user).where(Invoice.contract_id.in_(ids))
    invoices: dict[int, list] = {i: [] for i in ids}
    for row in session.execute(invoice_query.order_by(Invoice.issued_on, Invoice.number, Invoice.id)):
        invoices[row.contract_id].append(row._mapping)
    invoice_rows = invoice_query.subquery("invoices")
    invoice_totals = {
        row.contract_id: row._mapping
        for row in session.execute(
            _invoice_totals_query(invoice_rows)
            .add_columns(invoice_rows.c.contract_id)
            .group_by(invoice_rows.c.contract_id)
        )
    }
    return [
        ContractStatement(
            contract=row,
            client={
                "name": row["client"],
                "address": row["client_address"],
                "contact_name": row["client_contact"],
                "contact_mobile": row["client_mobile"],
            },
            allocations=allocations[row["contract_id"]],
            invoices=invoices[row["contract_id"]],
            invoice_totals=invoice_totals.get(row["contract_id"]) or _zero_totals(("amount", "tax", "total")),
            as_of=as_of,
        )
        for row in contracts
    ]


# ------------------------------------------------------------------------- documents
def _labels(choices) -> dict:
    return {key: label for key, label in choices}


def _with_labels(rows, statuses: dict) -> list[dict]:
    return [{**row, "status_label": str(statuses.get(row["status"], row["status"]))} for row in rows]


def _contract_columns() -> list[Column]:
    return [
        Column("number", _l("Contract number"), "code", width=22),
        Column("name", _l("Contract name"), width=34),
        Column("status_label", _l("Status"), width=12),
        Column("due_on", _l("Due date"), "date", width=17),
        Column("ends_on", _l("End date"), "date", width=17),
        *money_columns(20),
        Column("days_overdue", _l("Days past due"), "int", width=11),  # empty until past due
    ]


def _allocation_columns(with_contract: bool) -> list[Column]:
    columns = [
        Column("receipt_number", _l("Receipt number"), width=24),
        Column("received_on", _l("Received on"), "date", width=18),
        Column("method", _l("Payment method"), width=18),
    ]
    if with_contract:
        columns.append(Column("contract_number", _l("Contract number"), "code", width=24))
    return columns + [Column("amount", _l("Allocated amount"), "money", width=20)]


def _invoice_columns(with_contract: bool) -> list[Column]:
    columns = [Column("number", _l("Invoice number"), "code", width=24)]
    if with_contract:
        columns.append(Column("contract_number", _l("Contract number"), "code", width=24))
    return columns + [
        Column("issued_on", _l("Issued on"), "date", width=18),
        Column("amount", _l("Amount before tax"), "money", width=20),
        Column("tax_rate", _l("Tax rate (%)"), "int", width=10),
        Column("tax", _l("Tax"), "money", width=18),
        Column("total", _l("Total with tax"), "money", width=20),
        Column("status_label", _l("Status"), width=12),
    ]


def _allocation_and_invoice_sections(statement, with_contract: bool, received) -> list[Section]:
    """The two sections both statements end with: the allocations (totalling ``received``)
    and the invoices; ``with_contract`` adds the contract column (a client's statement)."""
    return [
        Section(
            _l("Allocations to contracts"),
            _allocation_columns(with_contract),
            statement.allocations,
            totals={"receipt_number": str(_l("Total")), "amount": received},
            empty_text=_l("No allocations."),
        ),
        Section(
            _l("Invoices"),
            _invoice_columns(with_contract),
            _with_labels(statement.invoices, _labels(INVOICE_STATUSES)),
            totals={"number": str(_l("Total (voided invoices not counted)")), **statement.invoice_totals},
            empty_text=_l("No invoices."),
        ),
    ]


def client_statement_document(statement: ClientStatement, generated: str) -> Document:
    """A customer statement as a Document (one PDF part, one XLSX sheet)."""
    client = statement.client
    totals = statement.totals
    contracts = [{**row, "status_label": contract_status_label(row["status"])} for row in statement.contracts]
    return Document(
        title=_l("Customer statement — %(client)s", client=client["name"]),
        sheet_name=client["name"],
        meta=[
            (_l("Client"), client["name"]),
            (_l("Company address"), client["address"] or ""),
            (_l("Contact"), f"{client['contact_name'] or ''} {client['contact_mobile'] or ''}".strip()),
            (_l("Owner"), client["owner"] or ""),
            (_l("Statement date"), statement.as_of.isoformat()),
            (_l("Generated at"), generated),
            (_l("Balance due"), "¥" + f"{totals['balance']:,.2f}"),
        ],
        notes=[
            _l(
                "Contracts listed: approved, signed or archived. Balance = contract amount - received. "
                "Voided invoices are shown but not counted. Amounts in yuan (CNY)."
            )
        ],
        sections=[
            Section(
                _l("Contracts"),
                _contract_columns(),
                contracts,
                totals=totals_row(totals, _l("Total")),
                empty_text=_l("No contracts."),
            ),
            Section(
                _l("Receipts"),
                [
                    Column("number", _l("Receipt number"), "code", width=24),
                    Column("received_on", _l("Received on"), "date", width=18),
                    Column("method", _l("Payment method"), width=18),
                    Column("payer", _l("Payer"), width=24),
                    Column("status_label", _l("Status"), width=12),
                    Column("amount", _l("Amount received"), "money", width=20),
                    Column("allocated", _l("Allocated"), "money", width=20),
                    Column("unallocated", _l("Unallocated"), "money", width=20),
                ],
                _with_labels(statement.receipts, _labels(RECEIPT_STATUSES)),
                totals={"number": str(_l("Total")), **statement.receipt_totals},
                empty_text=_l("No receipts."),
            ),
            *_allocation_and_invoice_sections(statement, True, totals["received"]),
        ],
    )


def contract_statement_document(statement: ContractStatement, generated: str) -> Document:
    """A receivables statement of one contract as a Document."""
    row = statement.contract
    bucket = next((label for key, label, *_ in BUCKETS if key == row["bucket"]), "")
    figures = [
        {"item": str(_l("Contract amount")), "value": row["amount"]},
        {"item": str(_l("Received")), "value": row["received"]},
        {"item": str(_l("Invoiced")), "value": row["invoiced"]},
        {"item": str(_l("Balance")), "value": row["balance"]},
    ]
    return Document(
        title=_l("Receivables statement — %(number)s %(name)s", number=row["number"], name=row["name"]),
        sheet_name=row["number"],
        meta=[
            (_l("Client"), row["client"]),
            (_l("Contract number"), row["number"]),
            (_l("Contract name"), row["name"]),
            (_l("Status"), contract_status_label(row["status"])),
            (_l("Owner"), row["owner"] or ""),
            (_l("Due date (contract start)"), row["due_on"].isoformat()),
            (_l("End date"), row["ends_on"].isoformat()),
            (_l("Statement date"), statement.as_of.isoformat()),
            (_l("Days past due"), f"{row['days_overdue']} ({bucket})" if row["days_overdue"] else str(bucket)),
            (_l("Generated at"), generated),
        ],
        notes=[
            _l(
                "Balance = contract amount - received (allocations of non-deleted receipts). "
                "Voided invoices are shown but not counted. Amounts in yuan (CNY)."
            )
        ],
        sections=[
            Section(
                _l("Figures"),
                [Column("item", _l("Item"), width=40), Column("value", _l("Amount"), "money", width=30)],
                figures,
            ),
            *_allocation_and_invoice_sections(statement, False, row["received"]),
        ],
    )
