"""应收账款 — receivables per contract with aging buckets (SPEC §7.6).

Pure query functions (session, filters, user) → rows, shared by the report page, its
XLSX/PDF/CSV downloads, the statements (reports/statement.py) and the tests.

The rules, stated on the page and on every download:

* a contract is receivable when it is approved or later and not terminated (status
  approved, signed or archived) and not deleted;
* received = Σ allocations (合同回款) of non-deleted receipts received on or before the
  as-of date; invoiced = Σ totals (价税合计) of non-voided invoices issued on or before it;
  balance = amount - received;
* **due date = the contract's start date** (合同初始时间): the payment plan (付款计划) is
  free text with no dates to compute from; days past due = as-of date - due date;
* aging: a contract's whole balance falls in one bucket — not yet due (< 0 days),
  0–30, 31–60, 61–90 or > 90 days past due;
* "days overdue" (``days_overdue``, what the page and the downloads show) is the days past
  due of a contract past its due date, and empty for one not yet due or due today —
  never negative (``days_past_due`` keeps the signed figure the buckets use).

The page shows the rows a page at a time (the ``report_page_rows`` setting, ``?page=N``);
the totals are the totals of every row on every page, and the downloads hold every row.

Received and invoiced are read from the contract row, where models/totals.py keeps them
in the transaction that changes an allocation, a receipt or an invoice, less what is
dated after the as-of day (grouped once over the receipts and invoices after it: none
for a report as of today); for a day in the earlier half of the dates, summed up to the
day instead (few rows for a day long past). One statement for
the rows and one aggregate over the same stored columns for the totals, whatever the
number of contracts (plus, with a department filter, one read of the department tree;
describing the filters used reads at most three names).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, Integer, case, func, literal, not_, or_, select, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from models.auth import Department, User, department_subtree_ids
from models.base import Money, utcnow
from models.contracts import CONTRACT
from models.customers import Client, Contract
from models.finance import ContractReceipt, Invoice, Receipt
from models.lookups import Area
from models.scope import scope_clause

from .framework import AREA, DEPARTMENT, OWNER, Field, Report, Result
from .render import Column, Document, Section, bar_chart_svg

SLUG = "receivables"
RIGHT = "report.receivables"

#: approved or later, not terminated
RECEIVABLE_STATUSES = ("approved", "signed", "archived")

#: (key, label, first day, last day) — days past due; None = open end
BUCKETS = (
    ("not_due", _l("Not yet due"), None, -1),
    ("days_0_30", _l("0–30 days"), 0, 30),
    ("days_31_60", _l("31–60 days"), 31, 60),
    ("days_61_90", _l("61–90 days"), 61, 90),
    ("days_over_90", _l("> 90 days"), 91, None),
)
BUCKET_KEYS = tuple(key for key, *_ in BUCKETS)
MONEY_KEYS = ("amount", "received", "invoiced", "balance") + BUCKET_KEYS

RULES = _l(
    "Receivable contracts: approved, signed or archived (not terminated, not deleted). "
    "Received = allocations of non-deleted receipts received by the as-of date; invoiced = "
    "totals of non-voided invoices issued by then; balance = amount - received. Due date = "
    "contract start date (the payment plan is free text); days past due = as-of date - due "
    "date, and the whole balance of a contract falls in one aging bucket."
)


class days_between(FunctionElement):
    """``later - earlier`` in whole days, for two DATE expressions (SQLite has no date
    subtraction; PostgreSQL's gives an integer)."""

    type = Integer()
    name = "days_between"
    inherit_cache = True


@compiles(days_between)
def _days_between(element, compiler, **kw):
    later, earlier = list(element.clauses)
    return f"(CAST({compiler.process(later, **kw)} AS DATE) - {compiler.process(earlier, **kw)})"


@compiles(days_between, "sqlite")
def _days_between_sqlite(element, compiler, **kw):
    later, earlier = list(element.clauses)
    return f"CAST(julianday({compiler.process(later, **kw)}) - julianday({compiler.process(earlier, **kw)}) AS INTEGER)"


@dataclass(frozen=True)
class ReceivablesFilters:
    """What the report covers. ``due_from``/``due_to`` bound the due date (the contract
    start date); department and owner are the contract owner's (department with its
    sub-departments); area is the client's (a province includes its cities).
    ``client_ids``/``contract_ids`` narrow it for statements; ``statuses=None`` takes any
    status (a statement of a single draft contract)."""

    as_of: date
    due_from: date | None = None
    due_to: date | None = None
    department_id: int | None = None
    owner_id: int | None = None
    area_id: int | None = None
    client_ids: tuple[int, ...] | None = None
    contract_ids: tuple[int, ...] | None = None
    statuses: tuple[str, ...] | None = RECEIVABLE_STATUSES


@dataclass
class ReceivablesReport:
    """The rows (RowMappings of :func:`receivables_select`) and the totals over all of them."""

    filters: ReceivablesFilters
    rows: list
    totals: Mapping
    generated_at: datetime = field(default_factory=utcnow)
    #: rows were cut at this many (the page); the totals always cover everything
    limit: int | None = None
    #: the rows start after this many (a later page)
    offset: int = 0

    @property
    def truncated(self) -> bool:
        return self.limit is not None and (self.offset > 0 or self.totals["contracts"] > len(self.rows))

    def chart(self) -> list[tuple[object, object]]:
        """(bucket label, balance) bars of the aging buckets."""
        return [(label, self.totals[key]) for key, label, *_ in BUCKETS]


# --------------------------------------------------------------------------- parsing
def parse_filters(args: Mapping, today: date) -> tuple[ReceivablesFilters, list[str]]:
    """Filters from request arguments (``due_from``, ``due_to``, ``as_of`` as YYYY-MM-DD;
    ``department``, ``owner``, ``area`` as ids). Returns the filters and one message per
    value that was ignored because it is not valid."""
    errors: list[str] = []

    def day(name, label):
        raw = (args.get(name) or "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            errors.append(
                str(_l('%(field)s: "%(value)s" is not a date (YYYY-MM-DD) — ignored.', field=label, value=raw[:20]))
            )
            return None

    def ident(name, label):
        raw = (args.get(name) or "").strip()
        if not raw:
            return None
        if raw.isdigit() and int(raw) < 2**63:  # beyond 64 bits no row can have the id
            return int(raw)
        errors.append(str(_l('%(field)s: "%(value)s" is not a valid choice — ignored.', field=label, value=raw[:20])))
        return None

    filters = ReceivablesFilters(
        as_of=day("as_of", _l("Aging as of")) or today,
        due_from=day("due_from", _l("Due date from")),
        due_to=day("due_to", _l("Due date to")),
        department_id=ident("department", _l("Department")),
        owner_id=ident("owner", _l("Owner")),
        area_id=ident("area", _l("Area")),
    )
    if filters.due_from and filters.due_to and filters.due_from > filters.due_to:
        errors.append(str(_l("Due date from is after due date to: the two were swapped.")))
        filters = replace(filters, due_from=filters.due_to, due_to=filters.due_from)
    return filters, errors


# --------------------------------------------------------------------------- queries
def _money(expr):
    return type_coerce(expr, Money())


def named(**columns) -> list:
    """SELECT columns under the given names, in keyword order. (Not ``.label("…")``
    with a literal: the catalogue extraction takes ``label("…")`` for a message.)"""
    return [expr.label(key) for key, expr in columns.items()]


def _nearer_the_end(day, first, last):
    """``day`` lies in the later half of first … last (NULL, no rows: true). Then fewer rows
    are dated after it than up to it, at least when they are spread evenly over the span."""
    return func.coalesce(days_between(last, day) <= days_between(day, first), True)


def _as_of_amounts(as_of: date) -> tuple:
    """(received, invoiced, subqueries to outer-join on ``contract_id``): per contract, what
    was received and invoiced by ``as_of``, summing whichever side of the day has fewer
    receipts and invoices, so a report as of a day long past costs what today's costs:

    * ``as_of`` in the later half of the dates (today: nothing after it): the stored figures
      (models/totals.py) less what is dated after the day;
    * in the earlier half (a day long past): what is dated up to the day.

    The side is chosen inside the statement: the first and last dates are read from the end
    of the date indexes (two index look-ups each); the grouped subquery of the other side
    gets ``LIMIT 0`` and reads no row. Both sides give exactly the same sums (integer fen)."""
    day = literal(as_of, Date())

    def bound(column, descending, *where):
        return select(column).where(*where).order_by(column.desc() if descending else column).limit(1)

    by_receipt = _nearer_the_end(
        day,
        bound(Receipt.received_on, False, Receipt.live()).scalar_subquery(),
        bound(Receipt.received_on, True, Receipt.live()).scalar_subquery(),
    )
    by_invoice = _nearer_the_end(
        day, bound(Invoice.issued_on, False).scalar_subquery(), bound(Invoice.issued_on, True).scalar_subquery()
    )

    def only_if(side):
        # LIMIT 0 for the side not taken: both databases then read none of its rows (a
        # constant WHERE term is still tested row by row on SQLite)
        return case((side, 2**62), else_=0)

    def received(name, side, *where):
        return (
            select(*named(contract_id=ContractReceipt.contract_id, amount=func.sum(ContractReceipt.amount)))
            .join(Receipt, Receipt.id == ContractReceipt.receipt_id)
            .where(Receipt.live(), *where)
            .group_by(ContractReceipt.contract_id)
            .limit(only_if(side))
            .subquery(name)
        )

    def invoiced(name, side, *where):
        return (
            select(*named(contract_id=Invoice.contract_id, amount=func.sum(Invoice.total)))
            .where(Invoice.status != "voided", *where)
            .group_by(Invoice.contract_id)
            .limit(only_if(side))
            .subquery(name)
        )

    received_later = received("received_later", by_receipt, Receipt.received_on > as_of)
    received_until = received("received_until", not_(by_receipt), Receipt.received_on <= as_of)
    invoiced_later = invoiced("invoiced_later", by_invoice, Invoice.issued_on > as_of)
    invoiced_until = invoiced("invoiced_until", not_(by_invoice), Invoice.issued_on <= as_of)
    received_amount = case(
        (by_receipt, Contract.received - func.coalesce(received_later.c.amount, 0)),
        else_=func.coalesce(received_until.c.amount, 0),
    )
    invoiced_amount = case(
        (by_invoice, Contract.invoiced - func.coalesce(invoiced_later.c.amount, 0)),
        else_=func.coalesce(invoiced_until.c.amount, 0),
    )
    return received_amount, invoiced_amount, (received_later, received_until, invoiced_later, invoiced_until)


def _filtered(query, filters: ReceivablesFilters, user):
    """``query`` (of contracts joined to their client) narrowed to the report's filters and
    ``user``'s data scope."""
    optional = (
        (filters.statuses is not None, lambda: Contract.status.in_(filters.statuses)),
        (bool(filters.due_from), lambda: Contract.starts_on >= filters.due_from),
        (bool(filters.due_to), lambda: Contract.starts_on <= filters.due_to),
        (bool(filters.owner_id), lambda: Contract.owner_id == filters.owner_id),
        (
            bool(filters.department_id),
            lambda: Contract.owner_id.in_(
                select(User.id).where(User.department_id.in_(department_subtree_ids(filters.department_id)))
            ),
        ),
        (
            bool(filters.area_id),
            lambda: or_(
                Client.area_id == filters.area_id,
                Client.area_id.in_(select(Area.id).where(Area.parent_id == filters.area_id)),
            ),
        ),
        (filters.client_ids is not None, lambda: Contract.client_id.in_(filters.client_ids)),
        (filters.contract_ids is not None, lambda: Contract.id.in_(filters.contract_ids)),
    )
    query = query.where(Contract.live())
    for given, clause in optional:
        if given:
            query = query.where(clause())
    clause = scope_clause(Contract, user)
    return query if clause is None else query.where(clause)


def receivables_select(filters: ReceivablesFilters, user):
    """The SELECT of one row per contract (see the module docstring for the rules),
    within ``user``'s data scope, ordered by due date. The amounts are read from the
    contract row (models/totals.py keeps them), not summed over every receipt."""
    as_of = literal(filters.as_of, Date())
    owner = aliased(User, name="owner")
    department = aliased(Department, name="owner_department")

    # the stored figures (models/totals.py) less what is dated after the as-of day, or the
    # sum up to the day, whichever reads fewer rows
    received, invoiced, dated = _as_of_amounts(filters.as_of)
    received_amount = _money(received)
    invoiced_amount = _money(invoiced)
    balance = _money(Contract.amount - received)
    days = days_between(as_of, Contract.starts_on)

    def in_bucket(first, last):
        conditions = []
        if first is not None:
            conditions.append(days >= first)
        if last is not None:
            conditions.append(days <= last)
        return conditions[0] if len(conditions) == 1 else conditions[0] & conditions[1]

    bucket = case(*[(in_bucket(first, last), literal(key)) for key, _, first, last in BUCKETS])
    bucket_amounts = [
        _money(case((in_bucket(first, last), balance), else_=0)).label(key) for key, _, first, last in BUCKETS
    ]

    query = (
        select(
            *named(
                contract_id=Contract.id,
                number=Contract.number,
                name=Contract.name,
                status=Contract.status,
                client_id=Contract.client_id,
                client=Client.name,
                area=Area.name,
                owner=owner.name,
                department=department.name,
                due_on=Contract.starts_on,
                ends_on=Contract.ends_on,
                amount=Contract.amount,
                received=received_amount,
                invoiced=invoiced_amount,
                balance=balance,
                days_past_due=days,
                days_overdue=case((days > 0, days), else_=None),
                bucket=bucket,
            ),
            *bucket_amounts,
        )
        .select_from(Contract)
        .join(Client, Client.id == Contract.client_id)
        .outerjoin(Area, Area.id == Client.area_id)
        .outerjoin(owner, owner.id == Contract.owner_id)
        .outerjoin(department, department.id == owner.department_id)
    )
    for subquery in dated:
        query = query.outerjoin(subquery, subquery.c.contract_id == Contract.id)
    return _filtered(query, filters, user).order_by(Contract.starts_on, Contract.number, Contract.id)


def totals_select(filters: ReceivablesFilters, user, *, group_by_client: bool = False):
    """Σ of every amount column over :func:`receivables_select` (and the contract count),
    for the whole report or per client."""
    rows = receivables_select(filters, user).order_by(None).subquery("rows")
    sums = [_money(func.coalesce(func.sum(rows.c[key]), 0)).label(key) for key in MONEY_KEYS]
    query = select(*named(contracts=func.count()), *sums)
    if group_by_client:
        query = query.add_columns(rows.c.client_id).group_by(rows.c.client_id)
    return query


def receivables_report(
    session, filters: ReceivablesFilters, user, *, limit: int | None = None, offset: int = 0
) -> ReceivablesReport:
    """The report: the rows (at most ``limit`` of them, after ``offset``) and the totals
    over all rows (one aggregate in SQL, whatever page is shown)."""
    query = receivables_select(filters, user)
    if limit is not None:
        query = query.limit(limit)
    if offset:
        query = query.offset(offset)
    rows = [row._mapping for row in session.execute(query)]
    totals = session.execute(totals_select(filters, user)).one()._mapping
    return ReceivablesReport(filters=filters, rows=rows, totals=totals, limit=limit, offset=offset)


def describe_filters(session, filters: ReceivablesFilters) -> list[tuple[object, str]]:
    """The filters used, as (label, value) lines for the page and every download."""
    lines: list[tuple[object, str]] = [(_l("Aging as of"), filters.as_of.isoformat())]
    if filters.due_from or filters.due_to:
        lines.append(
            (
                _l("Due date (contract start)"),
                f"{filters.due_from.isoformat() if filters.due_from else '…'} – "
                f"{filters.due_to.isoformat() if filters.due_to else '…'}",
            )
        )
    for model, value, label in (
        (Department, filters.department_id, _l("Department (with sub-departments)")),
        (User, filters.owner_id, _l("Owner")),
        (Area, filters.area_id, _l("Area")),
    ):
        if value:
            name = session.execute(select(model.name).where(model.id == value)).scalar()
            lines.append((label, name if name is not None else f"#{value} ?"))
    if len(lines) == 1:
        lines.append((_l("Filters"), str(_l("none (all receivable contracts in your data scope)"))))
    return lines


# --------------------------------------------------------------------------- document
def contract_status_label(status: str) -> str:
    return CONTRACT.state_label(status)


def money_columns(width: int) -> list[Column]:
    """The contract amount, received, invoiced and balance columns (report and statements)."""
    labels = {"amount": _l("Contract amount"), "received": _l("Received"), "invoiced": _l("Invoiced")}
    labels["balance"] = _l("Balance")
    return [Column(key, text, "money", width=width) for key, text in labels.items()]


def receivables_columns() -> list[Column]:
    return [
        Column("number", _l("Contract number"), "code", width=20),
        Column("name", _l("Contract name"), width=26),
        Column("client", _l("Client"), width=32),
        Column("area", _l("Area"), width=10, in_pdf=False),
        Column("owner", _l("Owner"), width=13),
        Column("department", _l("Department"), width=14, in_pdf=False),
        Column("due_on", _l("Due date"), "date", width=17),
        *money_columns(18),
        Column("days_overdue", _l("Days past due"), "int", width=10),
    ] + [Column(key, label, "money", width=16) for key, label, *_ in BUCKETS]


def totals_row(totals: Mapping, label) -> dict:
    """The totals mapping as a table row (its label in the first column)."""
    row = {key: totals[key] for key in MONEY_KEYS}
    row["number"] = str(label)
    row["name"] = str(_l("%(count)s contracts", count=totals["contracts"]))
    return row


def receivables_document(report: ReceivablesReport, filter_lines, generated: str) -> Document:
    """The report as a Document for the writers (reports/render.py) and the page."""
    meta = [(label, value) for label, value in filter_lines]
    meta.append((_l("Generated at"), generated))
    return Document(
        title=_l("Receivables report"),
        sheet_name=str(_l("Receivables")),
        meta=meta,
        notes=[RULES, _l("Amounts in yuan (CNY).")],
        chart=report.chart(),
        chart_title=_l("Balance by aging bucket"),
        sections=[
            Section(
                title=None,
                columns=receivables_columns(),
                rows=report.rows,
                totals=totals_row(report.totals, _l("Total")),
                empty_text=_l("No receivable contracts match these filters."),
            )
        ],
    )


# --------------------------------------------------------------------------- declaration
def clean_args(filters: ReceivablesFilters) -> dict:
    """The filters as URL arguments (only valid, set values: download links never carry a
    value the page ignored)."""
    args = {"as_of": filters.as_of.isoformat()}
    for name in ("due_from", "due_to"):
        if getattr(filters, name):
            args[name] = getattr(filters, name).isoformat()
    for name, value in (("department", filters.department_id), ("owner", filters.owner_id), ("area", filters.area_id)):
        if value:
            args[name] = value
    return args


def run(session, user, filters: ReceivablesFilters, limit: int | None = None, offset: int = 0) -> Result:
    """The framework's entry: the report (a page of its rows, the totals of all), and its
    aging chart drawn as SVG for the page."""
    report = receivables_report(session, filters, user, limit=limit, offset=offset)
    chart = bar_chart_svg(report.chart(), title=_l("Balance by aging bucket"))
    return Result(
        sections=[],
        context={"report": report, "chart": chart},
        generated_at=report.generated_at,
        row_count=report.totals["contracts"],
    )


REPORT = Report(
    slug=SLUG,
    title=_l("Receivables report"),
    right_text=("应收账款", "Receivables"),
    groups=("finance", "sales"),  # collecting receivables is the sales people's daily work (issue 11 item 7)
    fields=(
        Field("due_from", _l("Due date from"), "date"),
        Field("due_to", _l("Due date to"), "date"),
        DEPARTMENT,
        OWNER,
        AREA,
        Field("as_of", _l("Aging as of"), "date"),
    ),
    run=run,
    template="admin/reports/receivables.html",
    parse=parse_filters,
    describe=describe_filters,
    document=lambda result, lines, generated: receivables_document(result.context["report"], lines, generated),
    clean=clean_args,
    stem=lambda filters: f"receivables-{filters.as_of:%Y%m%d}",
    paged=True,
)
