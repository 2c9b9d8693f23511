"""销售业绩 — sales performance (SPEC §7.6): orders and receipts per person and per
department per month against ``sales_target``, with the completion, rolled up to quarter or
year.

The rules, stated on the page and on every download:

* an order counts when it is not deleted and not cancelled, on its order date, at its
  stored total, for its owner; a receipt counts when it is confirmed (and not deleted), on
  its date, for the owner of its client;
* a person's target is their own monthly ``sales_target``; a department's (and the total's)
  is the dashboard's rule (reports/kpis.py ``targets_by_month``): the department's own
  target or, for a month without one, Σ the targets of its people (sub-departments
  included); the total without a department or owner chosen is the target of your scope;
* a month's target counts whole when the period touches the month; quarter and year add
  their months; completion = amount ÷ target ("—" without a target);
* a department row covers its sub-departments; account managers see their own figures only
  (no department rows).

Three GROUP BYs (orders, receipts, person targets by person and month) and one for the
targets of every department shown (:func:`departments_targets`), whatever their number;
Python adds months up to quarters and years. Money in integer fen.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from models.auth import Department, User, department_subtree_ids
from models.customers import Client
from models.finance import Receipt
from models.orders import Order
from models.targets import SalesTarget

from .charts import Series
from .framework import DATE_FROM, DATE_TO, DEPARTMENT, OWNER, Field, Report, Result, common_clauses, ratio
from .kpis import month_end, targets_by_month, year_month
from .render import Column, Section

SLUG = "performance"
NONE = "—"
ZERO = Decimal("0.00")

RULES = _l(
    "Orders count when not deleted and not cancelled, by order date, for their owner; receipts when "
    "confirmed, by their date, for the client's owner. A person's target is their own; a department's "
    "(and the total's) its own or else the sum of its people's. A month's target counts whole; quarters "
    "and years add their months. Completion = amount ÷ target (— = no target)."
)

PERIODS = (("month", _l("Month")), ("quarter", _l("Quarter")), ("year", _l("Year")))
FIELDS = (DATE_FROM, DATE_TO, DEPARTMENT, OWNER, Field("period", _l("Period"), "choice", "month", PERIODS))
FIGURES = ("orders", "orders_amount", "target", "receipts", "receipts_amount")
COUNTED = ("orders", "orders_amount", "receipts", "receipts_amount")  # Σ of people; targets have their rule


def months_between(start: date, end: date) -> list[date]:
    first, months = start.replace(day=1), []
    while first <= end:
        months.append(first)
        first = month_end(first) + timedelta(days=1)
    return months


def period_of(month: date, kind: str) -> tuple[str, date, date]:
    """(label, first day, last day) of the month's period of ``kind``."""
    if kind == "year":
        return f"{month.year}", date(month.year, 1, 1), date(month.year, 12, 31)
    if kind == "quarter":
        q = (month.month - 1) // 3
        first = date(month.year, 3 * q + 1, 1)
        return f"{month.year}-Q{q + 1}", first, month_end(date(month.year, 3 * q + 3, 1))
    return f"{month:%Y-%m}", month, month_end(month)


def _fen(value) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.01"))


def monthly_figures(session, user, values) -> dict:
    """{(person id, "YYYY-MM"): {figure: value}} — orders, receipts and person targets."""
    start, end = values.date_from, values.date_to
    found: dict = {}

    def add(rows, *names):
        for person, month, *figures in rows:
            cell = found.setdefault((person, month), dict.fromkeys(FIGURES, 0))
            for name, value in zip(names, figures, strict=True):
                cell[name] += value or 0

    month = year_month(Order.ordered_on)
    add(
        session.execute(
            select(Order.owner_id, month, func.count(), func.sum(Order.total))
            .where(
                Order.live(),
                Order.status != "cancelled",
                Order.ordered_on.between(start, end),
                *common_clauses(values, user, Order, Order.owner_id),
            )
            .group_by(Order.owner_id, month)
        ),
        "orders",
        "orders_amount",
    )
    month = year_month(Receipt.received_on)
    add(
        session.execute(
            select(Client.owner_id, month, func.count(), func.sum(Receipt.amount))
            .join(Client, Client.id == Receipt.client_id)
            .where(
                Receipt.live(),
                Receipt.status == "confirmed",
                Receipt.received_on.between(start, end),
                *common_clauses(values, user, Receipt, Client.owner_id),
            )
            .group_by(Client.owner_id, month)
        ),
        "receipts",
        "receipts_amount",
    )
    keys = [m.strftime("%Y-%m") for m in months_between(start, end)]
    add(
        session.execute(
            select(SalesTarget.user_id, SalesTarget.month, func.sum(SalesTarget.amount))
            .where(
                SalesTarget.user_id.is_not(None),
                SalesTarget.month.in_(keys),
                *common_clauses(values, user, SalesTarget, SalesTarget.user_id),
            )
            .group_by(SalesTarget.user_id, SalesTarget.month)
        ),
        "target",
    )
    return found


def department_targets(session, department_id: int, months: list[date]) -> dict[date, Decimal]:
    """The dashboard's target rule for one department (as its director sees it)."""
    director = SimpleNamespace(id=None, data_scope="department", department_id=department_id, is_authenticated=True)
    return targets_by_month(session, director, months)


def subtrees(session):
    """``subtree(department_id)`` → the ids of the department and every one below it, from
    the departments' tree read once (``department_subtree_ids`` reads it per call)."""
    children: dict = {}
    for dep_id, parent_id in session.execute(select(Department.id, Department.parent_id)).all():
        children.setdefault(parent_id, []).append(dep_id)

    def subtree(department_id) -> set[int]:
        found, stack = set(), [department_id]
        while stack:
            current = stack.pop()
            if current not in found:
                found.add(current)
                stack.extend(children.get(current, []))
        return found

    return subtree


def departments_targets(session, department_ids, months: list[date], subtree) -> dict[int, dict[date, Decimal]]:
    """:func:`department_targets` of several departments in one statement: the target rows
    of the months summed per month and department, and per month and person's department;
    then each department takes its own sum or, without one, the sum of its subtree's people."""
    keys = [m.strftime("%Y-%m") for m in months]
    rows = session.execute(
        select(SalesTarget.month, SalesTarget.department_id, User.department_id, func.sum(SalesTarget.amount))
        .outerjoin(User, User.id == SalesTarget.user_id)
        .where(SalesTarget.month.in_(keys))
        .group_by(SalesTarget.month, SalesTarget.department_id, User.department_id)
    ).all()
    own: dict = {}
    people: dict = {}
    for month, department_id, home, amount in rows:
        if department_id is not None:
            own[month, department_id] = own.get((month, department_id), ZERO) + Decimal(amount or 0)
        else:
            people[month, home] = people.get((month, home), ZERO) + Decimal(amount or 0)
    result = {}
    for department_id in department_ids:
        below = subtree(department_id)
        result[department_id] = {
            m: own[k, department_id]
            if (k, department_id) in own
            else sum((v for (month, home), v in people.items() if month == k and home in below), start=ZERO)
            for m, k in zip(months, keys, strict=True)
        }
    return result


def visible_departments(user):
    """The departments whose rows (and targets) the user sees: None all, False none (own
    scope, or a department scope without a department), else a set of ids."""
    if user.data_scope == "all":
        return None
    if user.data_scope == "department" and user.department_id is not None:
        return set(department_subtree_ids(user.department_id))
    return False


def performance(session, user, values, limit: int | None = None) -> Result:
    from views.crud import list_url

    months = months_between(values.date_from, values.date_to)
    kind = values.get("period") or "month"
    periods = {m: period_of(m, kind) for m in months}
    labels = list(dict.fromkeys(p[0] for p in periods.values()))
    spans = {
        p[0]: (max(p[1], values.date_from), min(p[2], values.date_to)) for p in periods.values()
    }  # a period within the date range
    by_key = {m.strftime("%Y-%m"): periods[m][0] for m in months}
    found = monthly_figures(session, user, values)

    def empty():
        return dict.fromkeys(FIGURES, 0)

    def links(label, owner=None, department=None):
        orders = {"status_not_equal": "cancelled", "order_date_between": spans[label]}
        receipts = {"status_equals": "confirmed", "received_on_between": spans[label]}
        if owner is not None:
            orders["owner_equals"] = receipts["clients_owner_equals"] = owner
        if department is not None:
            orders["owners_department_in_with_subdepartments"] = department
            receipts["client_owners_department_in_with_subdepartments"] = department
        return {
            "orders": list_url("order", orders),
            "orders_amount": list_url("order", orders),
            "receipts": list_url("receipt", receipts),
            "receipts_amount": list_url("receipt", receipts),
        }

    def finish(row, label, owner=None, department=None):
        row["period"] = label
        for name in ("orders_amount", "receipts_amount", "target"):
            row[name] = _fen(row[name])
        row["completion"] = f"{ratio(row['orders_amount'], row['target'])}%" if row["target"] else NONE
        row["receipts_completion"] = f"{ratio(row['receipts_amount'], row['target'])}%" if row["target"] else NONE
        if owner is not False:
            row["_links"] = links(label, owner, department)
        return row

    # people: Σ their months per period
    people: dict = {}
    for (person, key), cell in found.items():
        per = people.setdefault(person, {label: empty() for label in labels})[by_key[key]]
        for name in FIGURES:
            per[name] += cell[name]
    names = (
        dict(session.execute(select(User.id, User.name).where(User.id.in_([p for p in people if p]))).all())
        if people
        else {}
    )
    person_rows = [
        finish({"name": names.get(person, NONE), **figures}, label, person if person else False)
        for person in sorted(people, key=lambda p: (names.get(p, "~"), p or 0))
        for label, figures in people[person].items()
        if any(figures.values())
    ]

    # departments (with their sub-departments) within the viewer's scope
    department_rows = []
    allowed = visible_departments(user)
    if allowed is not False:
        shown = allowed
        if values.get("department"):
            chosen = set(department_subtree_ids(values.department))
            shown = chosen if shown is None else chosen & shown
        query = select(Department.id, Department.name).order_by(Department.sort_order, Department.id)
        if shown is not None:
            query = query.where(Department.id.in_(shown))
        home = dict(
            session.execute(select(User.id, User.department_id).where(User.id.in_([p for p in people if p]))).all()
        )
        shown_departments = session.execute(query).all()
        subtree_of = subtrees(session)
        all_targets = departments_targets(session, [d for d, _ in shown_departments], months, subtree_of)
        for department_id, name in shown_departments:
            subtree = subtree_of(department_id)
            targets = all_targets[department_id]
            for label in labels:
                row = empty()
                for person, per in people.items():
                    if home.get(person) in subtree:
                        for figure in COUNTED:
                            row[figure] += per[label][figure]
                row["target"] = sum((targets[m] for m in months if periods[m][0] == label), start=ZERO)
                if any(row.values()):
                    department_rows.append(finish({"name": name, **row}, label, department=department_id))

    # the total: Σ people; the target of the selection
    if values.get("owner"):
        own = {m: ZERO for m in months}
        for (person, key), cell in found.items():
            if person == values.owner:
                own[date.fromisoformat(key + "-01")] += cell["target"]
        total_targets = own
    elif values.get("department") and allowed is not False and (allowed is None or values.department in allowed):
        total_targets = department_targets(session, values.department, months)
    else:
        total_targets = targets_by_month(session, user, months)
    total_rows = []
    for label in labels:
        row = empty()
        for per in people.values():
            for figure in COUNTED:
                row[figure] += per[label][figure]
        row["target"] = sum((total_targets[m] for m in months if periods[m][0] == label), start=ZERO)
        total_rows.append(finish(row, label, values.get("owner"), values.get("department")))

    figures = [
        Column("orders", _l("Number of orders"), "int", width=8),
        Column("orders_amount", _l("Order total"), "money", width=16),
        Column("target", _l("Target"), "money", width=16),
        Column("completion", _l("Completion"), width=10),
        Column("receipts", _l("Number of receipts"), "int", width=8),
        Column("receipts_amount", _l("Amount received"), "money", width=16),
        Column("receipts_completion", _l("Receipts completion"), width=10),
    ]
    period = Column("period", _l("Period"), width=10)
    sections = [Section(_l("Total"), [period, *figures], total_rows)]
    named = (((_l("By department"), _l("Department"), department_rows),) if allowed is not False else ()) + (
        (_l("By person"), _l("Owner"), person_rows),
    )
    for title, name, rows in named:
        columns = [Column("name", name, width=20), period, *figures]
        sections.append(Section(title, columns, rows[:limit], empty_text=_l("No figures in this period.")))
    chart = (
        labels,
        [
            Series(
                str(_l("Order total")),
                [r["orders_amount"] for r in total_rows],
                urls=[r["_links"]["orders_amount"] for r in total_rows],
            ),
            Series(str(_l("Target")), [r["target"] for r in total_rows], kind="line"),
        ],
        True,
    )
    return Result(sections=sections, chart=chart, chart_title=_l("Orders against target"), notes=[RULES])


REPORT = Report(
    slug=SLUG,
    title=_l("Sales performance"),
    right_text=("销售业绩", "Sales performance"),
    groups=("sales",),
    fields=FIELDS,
    run=performance,
)
