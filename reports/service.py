"""客户服务分析 — the service report (SPEC §7.3, issue 12 item 6): tickets by status per
month and by type, the average first-response and handling times, the SLA met/breached
share, overdue tickets, the average satisfaction, the reopen rate and the clients with the
most complaints (type 投诉, top 20).

Rules, printed on the page and every download:

* a ticket counts in the month it was created (local days), in its current status;
* first response: the business hours from creation to the first response
  (``response_seconds``, kept by models/sla.py); handling: the SLA clock's business time
  used (``sla_seconds_used``) of the tickets handled, in hours;
* SLA shares: met / breached among the tickets whose SLA is settled (met or breached);
* overdue: tickets not handled and not waiting for the customer whose ``due_at`` is
  past; reopen rate: tickets reopened at least once / tickets; satisfaction: the average of the answered tickets;
* department and assignee are the ticket's assignee's; everything within your scope.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from sqlalchemy import case, func, select

from models.base import utcnow
from models.customers import Client
from models.lookups import ServiceType
from models.service import PRIORITIES, TICKET_STATUSES, ServiceTicket, overdue_clause

from .charts import Series
from .churn import MAX_MONTHS, local_end, local_start, month_of, months
from .framework import DEPARTMENT, Field, Report, Result, common_clauses, parse, ratio
from .render import Column, Section

SLUG = "service"
COMPLAINT = "投诉"
TOP_CLIENTS = 20

RULES = _l(
    "A ticket counts in the month it was created, in its current status. First response: business hours "
    "from creation to the first response; handling: business hours used by the handled tickets. SLA shares among the "
    "tickets whose SLA is settled. Overdue: tickets not handled, not waiting for the customer, past their due "
    "time. Reopen rate: tickets reopened "
    "at least once / tickets. Satisfaction: average of the answered tickets."
)

FIELDS = (
    Field("date_from", _l("From"), "date", lambda today: today.replace(month=1, day=1)),
    Field("date_to", _l("To"), "date", lambda today: today),
    DEPARTMENT,
    Field("owner", _l("Assigned to"), "owner"),
    Field("type", _l("Service type"), "service_type"),
    Field("priority", _l("Priority"), "choice", choices=tuple(PRIORITIES)),
)


def ticket_clauses(values, user) -> list:
    clauses = common_clauses(values, user, ServiceTicket, ServiceTicket.assigned_to_id)
    clauses.append(ServiceTicket.created_at >= local_start(values.date_from))
    clauses.append(ServiceTicket.created_at <= local_end(values.date_to))
    if values.get("priority"):
        clauses.append(ServiceTicket.priority == values.priority)
    if values.get("type"):
        clauses.append(ServiceTicket.type_id == values.type)
    return clauses


def _hours(seconds) -> object:
    from decimal import ROUND_HALF_UP, Decimal

    if seconds is None:
        return None
    return (Decimal(str(seconds)) / 3600).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def service(session, user, values, limit: int | None = None) -> Result:
    spans = months(values.date_from, values.date_to)
    filters = ticket_clauses(values, user)
    month = month_of(ServiceTicket.created_at, spans, (local_start, local_end))
    statuses = [key for key, _ in TICKET_STATUSES]
    complaint_type = session.execute(select(ServiceType.id).where(ServiceType.name == COMPLAINT)).scalar()
    is_complaint = ServiceTicket.type_id == complaint_type  # no 投诉 type: no ticket is one
    per_month = {
        row[0]: row
        for row in session.execute(
            select(
                month,
                func.count(),
                func.count(case((is_complaint, 1))),
                *[func.count(case((ServiceTicket.status == s, 1))) for s in statuses],
            )
            .where(*filters)
            .group_by(month)
        )
    }
    rows = []
    for n, (first, last) in enumerate(spans):
        found = per_month.get(n)
        row = {"month": f"{first:%Y-%m}", "total": found[1] if found else 0, "complaints": found[2] if found else 0}
        for i, s in enumerate(statuses):
            row[s] = found[3 + i] if found else 0
        links = {"total": _list_url(values, (first, last))}
        links.update({s: _list_url(values, (first, last), status_equals=s) for s in statuses})
        row["_links"] = {k: v for k, v in links.items() if v}
        rows.append(row)
    totals = {key: sum(r[key] for r in rows) for key in ("total", "complaints", *statuses)}
    totals["month"] = str(_l("Total"))

    now = utcnow()
    summary = session.execute(
        select(
            func.count(),
            func.avg(ServiceTicket.response_seconds),
            func.avg(case((ServiceTicket.handled_at.is_not(None), ServiceTicket.sla_seconds_used))),
            func.count(case((ServiceTicket.sla_state == "met", 1))),
            func.count(case((ServiceTicket.sla_state == "breached", 1))),
            func.count(case((overdue_clause(now), 1))),
            func.avg(ServiceTicket.satisfaction),
            func.count(ServiceTicket.satisfaction),
            func.count(case((ServiceTicket.reopen_count > 0, 1))),
        ).where(*filters)
    ).one()
    count, response_s, handling_s, met, breached, overdue, satisfaction, answered, reopened = summary
    settled = met + breached
    figures = [
        (_l("Tickets"), count, "int"),
        (_l("Average first response (business hours)"), _hours(response_s), "hours"),
        (_l("Average handling (business hours)"), _hours(handling_s), "hours"),
        (_l("SLA met"), ratio(met, settled), "percent"),
        (_l("SLA breached"), ratio(breached, settled), "percent"),
        (_l("Overdue (open, past due)"), overdue, "int"),
        (_l("Average satisfaction"), None if satisfaction is None else round(float(satisfaction), 2), "num"),
        (_l("Answered feedback"), answered, "int"),
        (_l("Reopen rate"), ratio(reopened, count), "percent"),
    ]
    summary_rows = [{"figure": str(label), "value": _shown(value, kind)} for label, value, kind in figures]
    overdue_link = _list_url(values, None, overdue_equals="1")
    if overdue_link:
        summary_rows[5]["_links"] = {"value": overdue_link}

    by_type = session.execute(
        select(ServiceType.id, ServiceType.name, func.count())
        .select_from(ServiceTicket)
        .join(ServiceType, ServiceType.id == ServiceTicket.type_id)
        .where(*filters)
        .group_by(ServiceType.id, ServiceType.name)
        .order_by(func.count().desc(), ServiceType.name)
    ).all()
    type_rows = [
        _with_link(
            {"type": name, "tickets": n, "share": ratio(n, count)},
            "tickets",
            _list_url(values, None, service_type_equals=tid),
        )
        for tid, name, n in by_type
    ]
    complaints = session.execute(
        select(Client.id, Client.name, func.count())
        .select_from(ServiceTicket)
        .join(Client, Client.id == ServiceTicket.client_id)
        .where(is_complaint, *filters)
        .group_by(Client.id, Client.name)
        .order_by(func.count().desc(), Client.name)
        .limit(TOP_CLIENTS)
    ).all()
    complaint_rows = [
        _with_link(
            {"client": name, "complaints": n},
            "complaints",
            _list_url(values, None, client_equals=cid, service_type_equals=complaint_type),
        )
        for cid, name, n in complaints
    ]
    month_columns = [
        Column("month", _l("Month"), width=10),
        Column("total", _l("Tickets"), "int", width=9),
        Column("complaints", _l("Complaints"), "int", width=9),
        *[Column(s, label, "int", width=9) for s, label in TICKET_STATUSES],
    ]
    type_columns = [Column("type", _l("Service type"), width=20), Column("tickets", _l("Tickets"), "int", width=9)]
    type_columns.append(Column("share", _l("Share"), "percent", width=9))
    return Result(
        sections=[
            Section(
                title=_l("Summary"),
                columns=[Column("figure", _l("Figure"), width=36), Column("value", _lp("report", "Value"), width=14)],
                rows=summary_rows,
            ),
            Section(
                title=_l("Tickets per month by status"),
                columns=month_columns,
                rows=rows,
                totals=totals,
            ),
            Section(
                title=_l("By type"),
                columns=type_columns,
                rows=type_rows,
                empty_text=_l("No tickets in this period."),
            ),
            Section(
                title=_l("Complaints per client (top 20)"),
                columns=[Column("client", _l("Client"), width=36), Column("complaints", _l("Complaints"), "int")],
                rows=complaint_rows,
                empty_text=_l("No complaints in this period."),
            ),
        ],
        chart=(
            [r["month"] for r in rows],
            [
                Series(str(_l("Tickets")), [r["total"] for r in rows]),
                Series(str(_l("Complaints")), [r["complaints"] for r in rows]),
            ],
            False,
        ),
        chart_title=_l("Tickets and complaints per month"),
        notes=[RULES],
    )


def _shown(value, kind) -> str:
    if value is None:
        return "—"
    if kind == "percent":
        return f"{value}%"
    return str(value)


def _with_link(row: dict, key: str, url: str | None) -> dict:
    if url:
        row["_links"] = {key: url}
    return row


def _list_url(values, period, **wanted) -> str | None:
    """The ticket list behind a figure, by the list's named filters (views/service.py) —
    the report's own filters and ``wanted`` (filter argument → value)."""
    from views.crud import list_url

    from .kpis import local_span

    args = {"created_at_between": local_span(*(period or (values.date_from, values.date_to)))}
    if values.get("owner"):
        args["assigned_to_equals"] = values.owner
    if values.get("department"):
        args["assignees_department_in_with_subdepartments"] = values.department
    if values.get("priority"):
        args["priority_equals"] = values.priority
    if values.get("type") and "service_type_equals" not in wanted:
        args["service_type_equals"] = values.type
    args.update(wanted)
    return list_url("service", args)


def parse_values(args, today):
    """The generic filters; a period longer than MAX_MONTHS months ends with its 36th month (as churn's)."""
    values, errors = parse(FIELDS, args, today)
    last = months(values.date_from, values.date_to)[-1][1]
    if last < values.date_to:
        values["date_to"] = last
        errors.append(str(_l("The period is limited to %(months)s months.", months=MAX_MONTHS)))
    return values, errors


REPORT = Report(
    slug=SLUG,
    title=_l("Customer service"),
    right_text=("客户服务分析", "Customer service"),
    groups=("service",),
    fields=FIELDS,
    run=service,
    parse=parse_values,
)
