"""The dashboard's figures (SPEC §7.9): one query function per card family, each
``(session, user, today) → figures`` within ``user``'s data scope (models/scope.py), SQL
aggregates only, days from the one clock (models/clock.py, the configured time zone),
money exact (Decimal from the integer fen columns).

* **clients** — new today and this month (``created_at`` in the local day / month), lost
  this month (churn records confirmed this month);
* **opportunities** — open ones (not archived): count, Σ expected amount, Σ amount ×
  success rate (the probability-weighted amount, rounded half-up to the fen);
* **sales** — orders (live, not cancelled, ordered this month: Σ stored total) and
  receipts (live, received this month) against the month's ``sales_target``;
* **overdue** — the receivables report's rows (reports/receivables.py, the same query
  function) due before today with a balance left: count and Σ balance;
* **waiting for me** — :data:`WAITING`, the workflow steps that are the user's to take.

The target of a scope (:func:`target_parts`): an account manager's own target; a
director's department target — or, for a month without one, Σ the targets of the people
of the department and its sub-departments; for the company Σ the targets of the top
departments — or, without those, Σ every person's target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, String, and_, case, false, func, or_, select, true, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import False_
from sqlalchemy.sql.functions import FunctionElement

from models import clock
from models.auth import Department, User, department_subtree_ids
from models.base import Money
from models.churn import ClientLoss
from models.contracts import contract_approval_threshold
from models.customers import Client, Contract
from models.finance import Receipt
from models.lookups import SalesStage
from models.opportunities import Opportunity
from models.orders import Order, Quote
from models.purchase_payments import PurchasePayment
from models.purchasing import ExpenseContract, PurchaseRequest
from models.scope import scope_clause
from models.targets import SalesTarget, WeeklyReport
from models.workflow import WORKFLOWS

from .receivables import ReceivablesFilters, receivables_select

CENT = Decimal("0.01")
#: opportunity states that are still open (the rest: archived, i.e. won or lost)
OPEN_OPPORTUNITY = ("unassigned", "assigned")


def _where(query, model, user, *clauses):
    """``query`` narrowed to ``clauses``, the soft-delete filter and ``user``'s scope."""
    if hasattr(model, "live"):
        clauses = (*clauses, model.live())
    scope = scope_clause(model, user)
    if scope is not None:
        clauses = (*clauses, scope)
    return query.where(*clauses)


def _money(expr):
    return type_coerce(func.coalesce(expr, 0), Money())


# --------------------------------------------------------------------------- periods
def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(day: date) -> date:
    """The last day of ``day``'s month."""
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


def months_back(day: date, count: int) -> list[date]:
    """The first days of the ``count`` months ending with ``day``'s, oldest first."""
    first = month_start(day)
    months = [first]
    for _ in range(count - 1):
        first = month_start(first - timedelta(days=1))
        months.append(first)
    return months[::-1]


def local_span(first: date, last: date) -> tuple[datetime, datetime]:
    """The wall-clock span of the local days ``first``…``last`` as the list filters take
    it (``YYYY-MM-DD HH:MM:SS to …``, both ends included): naive local times."""
    return datetime.combine(first, time.min), datetime.combine(last, time(23, 59, 59))


def _utc_between(column, first: date, last: date):
    start, end = local_span(first, last)
    return column.between(clock.to_utc(start), clock.to_utc(end))


# --------------------------------------------------------------------------- clients
@dataclass(frozen=True)
class ClientFigures:
    new_today: int
    new_month: int
    lost_month: int


def client_figures(session, user, today: date) -> ClientFigures:
    """New clients today and this month (one aggregate), clients lost this month."""
    first = month_start(today)
    start, end = (clock.to_utc(v) for v in local_span(today, today))
    new = _where(
        select(
            func.count().label("month"),
            func.coalesce(func.sum(case((Client.created_at.between(start, end), 1), else_=0)), 0).label("today"),
        ),
        Client,
        user,
        _utc_between(Client.created_at, first, month_end(today)),
    )
    row = session.execute(new).one()
    lost = _where(
        select(func.count()).select_from(ClientLoss),
        ClientLoss,
        user,
        ClientLoss.status == "confirmed",
        _utc_between(ClientLoss.confirmed_at, first, month_end(today)),
    )
    return ClientFigures(new_today=int(row.today), new_month=int(row.month), lost_month=session.scalar(lost))


# --------------------------------------------------------------------------- opportunities
def weighted_fen_sum():
    """Σ expected amount (fen) × success rate (%) — divide by 100 for fen."""
    return func.coalesce(func.sum(type_coerce(Opportunity.expected_amount, BigInteger()) * Opportunity.success_rate), 0)


def _weighted(value) -> Decimal:
    """Σ fen × percent → yuan, half-up to the fen."""
    return (Decimal(int(value)) / 10000).quantize(CENT, ROUND_HALF_UP)


@dataclass(frozen=True)
class OpportunityFigures:
    count: int
    amount: Decimal
    weighted: Decimal


def opportunity_figures(session, user, today: date | None = None, stages=None) -> OpportunityFigures:
    """Open opportunities: count, Σ expected amount, Σ probability-weighted amount (added up
    from ``stages``, the :func:`funnel_figures` of the same user, when they were read)."""
    if stages is not None:
        return OpportunityFigures(
            count=sum(s.count for s in stages),
            amount=sum((s.amount for s in stages), Decimal("0.00")),
            weighted=_weighted(sum(s.weighted_fen for s in stages)),
        )
    query = _where(
        select(func.count(), _money(func.sum(Opportunity.expected_amount)), weighted_fen_sum()),
        Opportunity,
        user,
        Opportunity.status.in_(OPEN_OPPORTUNITY),
    )
    count, amount, weighted = session.execute(query).one()
    return OpportunityFigures(count=count, amount=amount, weighted=_weighted(weighted))


@dataclass(frozen=True)
class StageFigures:
    stage_id: int
    name: str
    count: int
    amount: Decimal
    weighted: Decimal
    weighted_fen: int = 0  # Σ fen × percent before rounding (for a total rounded once)


def funnel_figures(session, user) -> list[StageFigures]:
    """Open opportunities per sales stage (in the stages' order; stages without any are left out)."""
    query = _where(
        select(
            SalesStage.id,
            SalesStage.name,
            func.count(),
            _money(func.sum(Opportunity.expected_amount)),
            weighted_fen_sum(),
        )
        .select_from(Opportunity)
        .join(SalesStage, SalesStage.id == Opportunity.stage_id)
        .group_by(SalesStage.id, SalesStage.name, SalesStage.sort_order)
        .order_by(SalesStage.sort_order, SalesStage.id),
        Opportunity,
        user,
        Opportunity.status.in_(OPEN_OPPORTUNITY),
    )
    return [
        StageFigures(sid, name, count, amount, _weighted(weighted), int(weighted))
        for sid, name, count, amount, weighted in session.execute(query)
    ]


# --------------------------------------------------------------------------- sales
def live_order():
    """Orders that count as sales: live (the list hides deleted ones) and not cancelled."""
    return Order.status != "cancelled"


def target_parts(user) -> tuple:
    """(the scope's own target rows, the rows to add up for a month without one) — see the
    module docstring."""
    scope = user.data_scope
    if scope == "department" and user.department_id is not None:
        people = select(User.id).where(User.department_id.in_(department_subtree_ids(user.department_id)))
        return SalesTarget.department_id == user.department_id, SalesTarget.user_id.in_(people)
    if scope == "all":
        tops = select(Department.id).where(Department.parent_id.is_(None))
        return SalesTarget.department_id.in_(tops), SalesTarget.user_id.is_not(None)
    return SalesTarget.user_id == user.id, false()


def targets_by_month(session, user, months: list[date]) -> dict[date, Decimal]:
    """The scope's target of each month (first days of months); 0 when none is set."""
    own, fallback = target_parts(user)
    keys = [m.strftime("%Y-%m") for m in months]
    query = _where(
        select(
            SalesTarget.month,
            func.count(case((own, 1))),
            _money(func.sum(case((own, SalesTarget.amount)))),
            _money(func.sum(case((fallback, SalesTarget.amount)))),
        ).group_by(SalesTarget.month),
        SalesTarget,
        user,
        SalesTarget.month.in_(keys),
        or_(own, fallback),
    )
    found = {month: amount if count else summed for month, count, amount, summed in session.execute(query)}
    zero = Decimal("0.00")
    return {m: found.get(k, zero) for m, k in zip(months, keys, strict=True)}


class year_month(FunctionElement):
    """``YYYY-MM`` of a DATE expression (a month to group by on both databases)."""

    type = String()
    name = "year_month"
    inherit_cache = True


@compiles(year_month)
def _year_month(element, compiler, **kw):
    return f"to_char({compiler.process(list(element.clauses)[0], **kw)}, 'YYYY-MM')"


@compiles(year_month, "sqlite")
def _year_month_sqlite(element, compiler, **kw):
    return f"substr({compiler.process(list(element.clauses)[0], **kw)}, 1, 7)"


def orders_by_month(session, user, months: list[date]) -> dict[date, tuple[int, Decimal]]:
    """(count, Σ total) of the orders of each month (first days of months), one GROUP BY."""
    month = year_month(Order.ordered_on)
    query = _where(
        select(month, func.count(), _money(func.sum(Order.total))).group_by(month),
        Order,
        user,
        live_order(),
        Order.ordered_on.between(months[0], month_end(months[-1])),
    )
    found = {key: (count, amount) for key, count, amount in session.execute(query)}
    zero = (0, Decimal("0.00"))
    return {first: found.get(first.strftime("%Y-%m"), zero) for first in months}


def percent(part: Decimal, whole: Decimal) -> Decimal | None:
    """``part`` as a percentage of ``whole`` (one decimal, half-up); None without a target."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass(frozen=True)
class SalesFigures:
    orders: int
    orders_amount: Decimal
    receipts: int
    receipts_amount: Decimal
    target: Decimal


def sales_figures(session, user, today: date, monthly: dict | None = None, targets: dict | None = None) -> SalesFigures:
    """This month's orders and receipts against the month's target (``monthly`` / ``targets``:
    the results of :func:`orders_by_month` / :func:`targets_by_month` including this month
    when they were read already, for the chart)."""
    first = month_start(today)
    orders, orders_amount = (monthly or orders_by_month(session, user, [first]))[first]
    receipts = _where(
        select(func.count(), _money(func.sum(Receipt.amount))),
        Receipt,
        user,
        Receipt.received_on.between(first, month_end(today)),
    )
    count, amount = session.execute(receipts).one()
    target = (targets or targets_by_month(session, user, [first]))[first]
    return SalesFigures(orders, orders_amount, count, amount, target)


# --------------------------------------------------------------------------- overdue
def overdue_select(user, today: date):
    """The contracts of the receivables report (its own query function and rules) due
    before ``today`` with a balance left: (contract_id, balance) rows."""
    rows = receivables_select(ReceivablesFilters(as_of=today, due_to=today - timedelta(days=1)), user)
    rows = rows.order_by(None).subquery("receivables")
    return select(rows.c.contract_id, rows.c.balance).where(rows.c.balance > 0)


@dataclass(frozen=True)
class OverdueFigures:
    count: int
    amount: Decimal


def overdue_figures(session, user, today: date) -> OverdueFigures:
    """Overdue receivables: how many contracts, Σ their balance."""
    rows = overdue_select(user, today).subquery("overdue")
    count, amount = session.execute(select(func.count(), _money(func.sum(rows.c.balance)))).one()
    return OverdueFigures(count=count, amount=amount)


# --------------------------------------------------------------------------- waiting for me
def _not_mine(model, user):
    """The four-eyes rule in SQL (models.workflow.four_eyes_party): not submitted, nor
    already approved, by ``user``."""
    clauses = []
    for name in ("submitted_by_id", "approved_by_id"):
        column = getattr(model, name, None)
        if column is not None:
            clauses.append(or_(column.is_(None), column != user.id))
    return and_(*clauses) if clauses else true()


def _contract_step(user):
    """The approval rule of models/contracts.py: above the threshold an executive gives the
    second approval after a first one; everyone else gives the first approval, and
    executives only that second one."""
    threshold = contract_approval_threshold()
    is_executive = user.role is not None and user.role.code == "executive"
    if threshold <= 0:
        return false() if is_executive else true()
    above = Contract.amount > threshold
    if is_executive:
        return and_(above, Contract.approved_by_id.is_not(None))
    return Contract.approved_by_id.is_(None)


def _review_step(user):
    """Weekly reports: a sales director (or an admin) reviews others' reports in scope."""
    reviewer = user.role is not None and user.role.code in ("sales_director", "admin")
    return WeeklyReport.user_id != user.id if reviewer else false()


@dataclass(frozen=True)
class WaitingKind:
    """Records that wait for the user's action: ``model``'s workflow step ``step`` (its
    source states and its right; four-eyes when the step is) and ``rule(user)``, a
    further clause of that step's decision (thresholds, reviewers)."""

    key: str
    label: object
    model: type
    step: str
    rule: Callable | None = None

    @property
    def workflow(self):
        return WORKFLOWS[self.model]

    @property
    def endpoint(self) -> str:
        return self.workflow.endpoint

    @property
    def transition(self):
        return self.workflow.transitions[self.step]

    def allowed(self, user) -> bool:
        """Whether the user holds the step's right (and may open the list)."""
        return user.can(f"{self.endpoint}.{self.transition.right}") and user.can(f"{self.endpoint}.view")

    def clause(self, user):
        """The WHERE clause (without scope and soft-delete filter) of what waits for ``user``."""
        if not self.allowed(user):
            return false()
        step = self.transition
        clauses = [self.model.status.in_(step.sources)]
        if step.four_eyes:
            clauses.append(_not_mine(self.model, user))
        if self.rule is not None:
            rule = self.rule(user)
            if isinstance(rule, False_):  # nothing can wait (e.g. an executive without a threshold)
                return rule
            clauses.append(rule)
        return and_(*clauses)


#: what may wait for me — a declaration; service tickets join it with their module (issue 12)
WAITING: tuple[WaitingKind, ...] = (
    WaitingKind("contract", _l("Contracts to approve"), Contract, "approve", _contract_step),
    WaitingKind("quote", _l("Quotes to approve"), Quote, "approve"),
    WaitingKind("payment", _l("Payments to approve"), PurchasePayment, "approve"),
    WaitingKind("expense_contract", _l("Expense contracts to approve"), ExpenseContract, "approve"),
    WaitingKind("purchase_request", _l("Purchase requests to approve"), PurchaseRequest, "approve"),
    WaitingKind("weekly_report", _l("Weekly reports to review"), WeeklyReport, "review", _review_step),
    WaitingKind("order", _l("Orders to ship"), Order, "ship"),
)
WAITING_BY_KEY = {kind.key: kind for kind in WAITING}


def waiting_clause(kind: WaitingKind, user):
    """What waits for ``user`` of ``kind``, within the scope (for a list filter)."""
    scope = scope_clause(kind.model, user)
    clause = kind.clause(user)
    return clause if scope is None else and_(clause, scope)


def waiting_figures(session, user) -> list[tuple[WaitingKind, int]]:
    """(kind, count) for each kind whose step the user may take — one statement with one
    count subquery per kind; a kind whose rule excludes everything (``false()``) counts 0
    without one."""
    kinds = [(kind, kind.clause(user)) for kind in WAITING if kind.allowed(user)]
    counted = [(kind, clause) for kind, clause in kinds if not isinstance(clause, False_)]
    counts = {}
    if counted:
        columns = [
            _where(select(func.count()).select_from(kind.model), kind.model, user, clause).scalar_subquery()
            for kind, clause in counted
        ]
        row = session.execute(select(*columns)).one()
        counts = {kind.key: count for (kind, _), count in zip(counted, row, strict=True)}
    return [(kind, counts.get(kind.key, 0)) for kind, _ in kinds]


# --------------------------------------------------------------------------- service tickets (issue 12)
@dataclass(frozen=True)
class TicketWaiting(WaitingKind):
    """Tickets that wait for the user: ``mine`` — assigned to me and open (right
    ``service.edit``); otherwise created and not yet assigned (right ``service.assign``).
    Not a workflow step of its own, so the clause is stated here."""

    right: str = "service.edit"
    mine: bool = True

    @property
    def endpoint(self) -> str:
        return "service"

    def allowed(self, user) -> bool:
        return user.can("service.view") and user.can(self.right)

    def clause(self, user):
        from models.service import ServiceTicket

        if not self.allowed(user):
            return false()
        if self.mine:
            return and_(ServiceTicket.assigned_to_id == user.id, ServiceTicket.status.in_(("assigned", "waiting")))
        return and_(ServiceTicket.status == "created", ServiceTicket.assigned_to_id.is_(None))


def _ticket_kinds() -> tuple[WaitingKind, ...]:
    from models.service import ServiceTicket

    return (
        TicketWaiting("ticket_mine", _l("Tickets assigned to me"), ServiceTicket, "handle"),
        TicketWaiting(
            "ticket_unassigned", _l("Tickets to assign"), ServiceTicket, "assign", None, "service.assign", False
        ),
    )


WAITING = (*WAITING, *_ticket_kinds())
WAITING_BY_KEY = {kind.key: kind for kind in WAITING}


@dataclass(frozen=True)
class TicketFigures:
    open: int
    overdue: int


def ticket_figures(session, user, now: datetime | None = None) -> TicketFigures:
    """Open tickets (created, assigned, waiting) and the overdue among them (due_at passed)."""
    from models.service import ServiceTicket, open_clause, overdue_clause

    query = _where(select(func.count(), func.count(case((overdue_clause(now), 1)))), ServiceTicket, user, open_clause())
    count, overdue = session.execute(query).one()
    return TicketFigures(open=count, overdue=overdue)
