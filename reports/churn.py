"""客户流失分析 — churn (SPEC §7.4): warnings, delayed and confirmed losses per month, by
reason and by account manager, and the churn rate against the live clients at the start
of each month.

The rules, stated on the page and on every download:

* warnings: churn records whose warning date falls in the month; delayed: those of them
  still open with retention measures taken (status delayed);
* confirmed losses: records confirmed lost in the month (their confirmation time, in
  local days);
* live clients at the start of a month: clients not deleted, created before it, without a
  loss confirmed before it; churn rate = confirmed losses / live clients at the start;
* department and owner are the churn record's account manager's; everything within your
  data scope (the client's).

Months are bounded in SQL (a CASE over the months' limits): one GROUP BY for the warnings,
one for the confirmations, one for the live clients, one each for reasons and managers.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, literal, not_, select

from models.auth import User
from models.churn import ClientLoss
from models.clock import to_utc
from models.customers import Client

from .charts import Series
from .framework import DEPARTMENT, OWNER, Field, Report, Result, common_clauses, parse, ratio
from .render import Column, Section

SLUG = "churn"
#: the longest period the report splits into months
MAX_MONTHS = 36

RULES = _l(
    "Warnings: churn records with their warning date in the month; delayed: those still open with "
    "measures taken. Confirmed losses: records confirmed lost in the month. Live clients at the start of "
    "a month: not deleted, created before it, not confirmed lost before it; churn rate = confirmed "
    "losses / live clients at the start."
)


def _twelve_months_ago(today: date) -> date:
    year, month = today.year, today.month - 11
    if month < 1:
        year, month = year - 1, month + 12
    return date(year, month, 1)


FIELDS = (
    Field("date_from", _l("From"), "date", _twelve_months_ago),
    Field("date_to", _l("To"), "date", lambda today: today),
    DEPARTMENT,
    OWNER,
)


def months(start: date, end: date) -> list[tuple[date, date]]:
    """(first day, last day) of each calendar month meeting [start, end], clipped to it."""
    result, first = [], start.replace(day=1)
    while first <= end and len(result) < MAX_MONTHS:
        following = (first + timedelta(days=32)).replace(day=1)
        result.append((max(first, start), min(following - timedelta(days=1), end)))
        first = following
    return result


def local_start(day: date) -> datetime:
    return to_utc(datetime.combine(day, time.min))


def local_end(day: date) -> datetime:
    return to_utc(datetime.combine(day, time(23, 59, 59)))


def loss_clauses(values, user) -> list:
    return common_clauses(values, user, ClientLoss, ClientLoss.owner_id)


def month_of(column, spans, bound) -> object:
    """CASE: the index of the month ``column`` falls in (``bound`` maps a day to the
    column's type: the day itself, or its local start/end instants)."""
    return case(
        *[
            (and_(column >= bound[0](first), column <= bound[1](last)), literal(n))
            for n, (first, last) in enumerate(spans)
        ],
        else_=literal(None),
    )


def churn(session, user, values, limit: int | None = None) -> Result:
    from views.crud import list_url

    spans = months(values.date_from, values.date_to)
    end = spans[-1][1] if spans else values.date_to
    days = (lambda d: d, lambda d: d)
    instants = (local_start, local_end)
    filters = loss_clauses(values, user)

    warned = month_of(ClientLoss.detected_on, spans, days)
    warnings = {
        row.month: row
        for row in session.execute(
            select(
                warned.label("month"),
                func.count().label("warnings"),
                func.count(case((ClientLoss.status == "delayed", 1))).label("delayed"),
            )
            .where(ClientLoss.detected_on >= values.date_from, ClientLoss.detected_on <= end, *filters)
            .group_by(warned)
        )
    }
    confirmed_in = month_of(ClientLoss.confirmed_at, spans, instants)
    confirmed = dict(
        session.execute(
            select(confirmed_in.label("month"), func.count())
            .where(
                ClientLoss.status == "confirmed",
                ClientLoss.confirmed_at >= local_start(values.date_from),
                ClientLoss.confirmed_at <= local_end(end),
                *filters,
            )
            .group_by(confirmed_in)
        ).all()
    )
    live = live_at_starts(session, user, values, spans)

    def churn_url(period=None, **extra):
        """The churn list: warned in ``period`` (or as ``extra`` says), the report's filters."""
        wanted = {"warning_date_between": period} if period else {}
        wanted.update(extra)
        if values.get("owner"):
            wanted["account_manager_equals"] = values.owner
        if values.get("department"):
            wanted["owners_department_in_with_subdepartments"] = values.department
        return list_url("churn", wanted)

    def confirmed_url(first, last, **extra):
        span = (datetime.combine(first, time.min), datetime.combine(last, time(23, 59, 59)))
        return churn_url(status_equals="confirmed", confirmed_at_between=span, **extra)

    rows = []
    for n, (first, last) in enumerate(spans):
        w = warnings.get(n)
        row = {
            "month": f"{first:%Y-%m}",
            "warnings": w.warnings if w else 0,
            "delayed": w.delayed if w else 0,
            "confirmed": confirmed.get(n, 0),
            "live": live[n],
        }
        row["rate"] = ratio(row["confirmed"], row["live"])
        row["_links"] = {
            "warnings": churn_url((first, last)),
            "delayed": churn_url((first, last), status_equals="delayed"),
            "confirmed": confirmed_url(first, last),
        }
        rows.append(row)
    totals = {key: sum(r[key] for r in rows) for key in ("warnings", "delayed", "confirmed")}
    totals["month"] = str(_l("Total"))
    totals["_links"] = {
        "warnings": churn_url((values.date_from, end)),
        "delayed": churn_url((values.date_from, end), status_equals="delayed"),
        "confirmed": confirmed_url(values.date_from, end),
    }

    reasons = session.execute(
        select(ClientLoss.reason, func.count().label("losses"))
        .where(
            ClientLoss.status == "confirmed",
            ClientLoss.confirmed_at >= local_start(values.date_from),
            ClientLoss.confirmed_at <= local_end(end),
            *filters,
        )
        .group_by(ClientLoss.reason)
        .order_by(func.count().desc(), ClientLoss.reason)
    ).all()
    reason_rows = [
        {
            "reason": row.reason if row.reason else str(_l("(none)")),
            "losses": row.losses,
            "share": ratio(row.losses, totals["confirmed"]),
            "_links": {
                "losses": confirmed_url(
                    values.date_from,
                    end,
                    **({"reason_for_loss_equals": row.reason} if row.reason else {"reason_for_loss_empty": 1}),
                )
            },
        }
        for row in reasons
    ]
    managers = by_manager(session, values, filters, end)
    for row in managers:
        extra = {"account_manager_equals": row["owner_id"]} if row["owner_id"] else {"account_manager_empty": 1}
        row["_links"] = {
            "warnings": churn_url((values.date_from, end), **extra),
            "confirmed": confirmed_url(values.date_from, end, **extra),
        }
    return Result(
        sections=[
            Section(
                title=_l("Per month"),
                columns=[
                    Column("month", _l("Month"), width=10),
                    Column("warnings", _l("Warnings"), "int", width=10),
                    Column("delayed", _l("Delayed"), "int", width=10),
                    Column("confirmed", _l("Confirmed lost"), "int", width=10),
                    Column("live", _l("Live clients at the start"), "int", width=14),
                    Column("rate", _l("Churn rate"), "percent", width=10),
                ],
                rows=rows,
                totals=totals,
            ),
            Section(
                title=_l("Confirmed losses by reason"),
                columns=[
                    Column("reason", _l("Reason for loss"), width=40),
                    Column("losses", _l("Confirmed lost"), "int", width=10),
                    Column("share", _l("Share"), "percent", width=10),
                ],
                rows=reason_rows,
                empty_text=_l("No confirmed losses in this period."),
            ),
            Section(
                title=_l("By account manager"),
                columns=[
                    Column("owner", _l("Account manager"), width=20),
                    Column("warnings", _l("Warnings"), "int", width=10),
                    Column("confirmed", _l("Confirmed lost"), "int", width=10),
                ],
                rows=managers,
                empty_text=_l("No churn records in this period."),
            ),
        ],
        chart=(
            [r["month"] for r in rows],
            [
                Series(
                    str(_l("Confirmed lost")),
                    [r["confirmed"] for r in rows],
                    urls=[r["_links"]["confirmed"] for r in rows],
                ),
                Series(
                    str(_l("Warnings")), [r["warnings"] for r in rows], urls=[r["_links"]["warnings"] for r in rows]
                ),
            ],
            False,
        ),
        chart_title=_l("Warnings and confirmed losses per month"),
        notes=[RULES],
    )


def live_at_starts(session, user, values, spans) -> list[int]:
    """Live clients at the start of each month: one row of COUNTs (a column per month)."""
    if not spans:
        return []
    lost_before = lambda at: select(ClientLoss.client_id).where(  # noqa: E731
        ClientLoss.status == "confirmed", ClientLoss.confirmed_at < at
    )
    counts = []
    for first, _ in spans:
        at = local_start(first)
        counts.append(func.count(case((and_(Client.created_at < at, not_(Client.id.in_(lost_before(at)))), 1))))
    query = select(*counts).where(Client.live(), *common_clauses(values, user, Client, Client.owner_id))
    return list(session.execute(query).one())


def by_manager(session, values, filters, end) -> list[dict]:
    """Warnings (by warning date) and confirmed losses (by confirmation) in the period per
    account manager."""
    warned = and_(ClientLoss.detected_on >= values.date_from, ClientLoss.detected_on <= end)
    lost = and_(
        ClientLoss.status == "confirmed",
        ClientLoss.confirmed_at >= local_start(values.date_from),
        ClientLoss.confirmed_at <= local_end(end),
    )
    query = (
        select(
            ClientLoss.owner_id,
            User.name,
            func.count(case((warned, 1))).label("warnings"),
            func.count(case((lost, 1))).label("confirmed"),
        )
        .outerjoin(User, User.id == ClientLoss.owner_id)
        .where(warned | lost, *filters)
        .group_by(ClientLoss.owner_id, User.name)
        .order_by(User.name, ClientLoss.owner_id)
    )
    return [
        {"owner_id": r.owner_id, "owner": r.name or "—", "warnings": r.warnings, "confirmed": r.confirmed}
        for r in session.execute(query)
    ]


def parse_values(args, today):
    """The generic filters; a period longer than MAX_MONTHS months is cut to its last ones."""
    values, errors = parse(FIELDS, args, today)
    spans = months(values.date_from, values.date_to)
    if spans and spans[-1][1] < values.date_to:
        errors.append(str(_l("The period is limited to %(months)s months.", months=MAX_MONTHS)))
        values["date_to"] = spans[-1][1]
    return values, errors


REPORT = Report(
    slug=SLUG,
    title=_l("Client churn"),
    right_text=("客户流失分析", "Client churn"),
    groups=("customers",),
    fields=FIELDS,
    run=churn,
    parse=parse_values,
)
