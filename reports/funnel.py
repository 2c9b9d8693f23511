"""销售漏斗 — the sales funnel (SPEC §7.5): open opportunities by stage, with their count,
expected amount and probability-weighted amount.

The rules, stated on the page and on every download:

* an opportunity is open until it is archived (won or lost); the period, when given,
  bounds its creation time (local days);
* weighted amount = Σ expected amount × the opportunity's success rate (which starts as its
  stage's probability), exact to the cent (half up); no expected amount counts as 0;
* owner and department are the assignee's (a department with its sub-departments); an
  opportunity is in your data scope when it is assigned to or created by you (or your
  department's people).

One statement: a GROUP BY stage, the sums in integer fen.

**Cohort mode** (``mode=cohort``): the opportunities created in the period (archived ones
too); per stage how many reached it, are still there (open), moved on (now in another
stage), were won or lost there (archived in it), and the average and median days spent in
it. The stage history is the audit log's ``sal_chance.stage_id`` changes (old → new, at
their time); before its first change an opportunity was in the change's old stage from
its creation — with no change, in its current stage all its life so far; the last stage
lasts until the opportunity was closed (archived) or until now. One statement: the stage
visits (a UNION of the first stage and every change), LEAD for the time each visit ends,
Σ per opportunity and stage, then per stage counts, AVG and the median (ROW_NUMBER and
COUNT over the stage: the middle row or the mean of the two middle rows).
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, and_, case, func, literal, select, type_coerce, union_all

from models import clock
from models.audit import AuditLog
from models.base import UTCDateTime
from models.clock import to_utc
from models.lookups import SalesStage
from models.opportunities import Opportunity

from .charts import Series
from .framework import DEPARTMENT, OWNER, Field, Report, Result, common_clauses
from .render import Column, Section

SLUG = "funnel"
CENT = Decimal("0.01")

RULES = _l(
    "Open opportunities (not archived) by stage; a period bounds their creation time. Weighted amount = "
    "expected amount × the opportunity's success rate. Owner and department are the assignee's."
)

MODES = (("open", _l("Open opportunities by stage")), ("cohort", _l("Cohort: how far and how long")))
FIELDS = (
    Field("date_from", _l("Created from"), "date"),
    Field("date_to", _l("Created to"), "date"),
    DEPARTMENT,
    OWNER,
    Field("mode", _l("Mode"), "choice", "open", MODES),
)
COHORT_RULES = _l(
    "Cohort: the opportunities created in the period, archived ones too. Reached = ever in the stage (audit "
    "history of the stage); still there = in it and open; moved on = now in another stage; won / lost = "
    "archived in it. Days in stage: from entering it until the next stage change, the closing, or now; an "
    "opportunity never moved spent its whole life so far in its first stage. Only the current stage has a "
    "list filter: still there, won and lost link to the list, reached and moved on cannot."
)


def opportunity_clauses(values, user, open_only: bool = True) -> list:
    clauses = [Opportunity.status != "archived"] if open_only else []
    if values.get("date_from"):
        clauses.append(Opportunity.created_at >= to_utc(datetime.combine(values.date_from, time.min)))
    if values.get("date_to"):
        clauses.append(Opportunity.created_at <= to_utc(datetime.combine(values.date_to, time(23, 59, 59))))
    return clauses + common_clauses(values, user, Opportunity, Opportunity.assigned_to_id)


def opportunity_list(values, stage_id=None, **wanted) -> str:
    """The opportunity list filtered like the report (creation period, owner, department)
    and to ``stage_id`` (the current stage) and ``wanted``."""
    from views.crud import list_url

    if stage_id is not None:
        wanted["sales_stage_equals"] = stage_id
    start, end = values.get("date_from"), values.get("date_to")
    if start or end:
        wanted["created_at_between"] = (
            datetime.combine(start or date(1970, 1, 1), time.min),
            datetime.combine(end or date(2999, 12, 31), time(23, 59, 59)),
        )
    if values.get("owner"):
        wanted["assigned_to_equals"] = values.owner
    if values.get("department"):
        wanted["assignees_department_in_with_subdepartments"] = values.department
    return list_url("opportunity", wanted)


def funnel(session, user, values, limit: int | None = None) -> Result:
    if values.get("mode") == "cohort":
        return cohort(session, user, values)

    fen = type_coerce(func.coalesce(Opportunity.expected_amount, 0), BigInteger)
    figures = {
        row.stage_id: row
        for row in session.execute(
            select(
                Opportunity.stage_id,
                func.count().label("opportunities"),
                func.sum(fen).label("amount"),
                func.sum(fen * Opportunity.success_rate).label("weighted"),
            )
            .where(*opportunity_clauses(values, user))
            .group_by(Opportunity.stage_id)
        )
    }
    stages = session.execute(
        select(SalesStage.id, SalesStage.name, SalesStage.probability).order_by(SalesStage.sort_order, SalesStage.id)
    ).all()

    def url(stage_id=None):
        return opportunity_list(values, stage_id, status_not_equal="archived")

    rows = []
    for stage in stages:
        row = figures.get(stage.id)
        count = row.opportunities if row else 0
        rows.append(
            {
                "stage": stage.name,
                "probability": Decimal(stage.probability or 0).quantize(CENT),
                "opportunities": count,
                "amount": (Decimal(row.amount) / 100).quantize(CENT) if row else Decimal("0.00"),
                "weighted": (Decimal(row.weighted) / 10000).quantize(CENT, ROUND_HALF_UP) if row else Decimal("0.00"),
                "_links": {"opportunities": url(stage.id), "amount": url(stage.id), "weighted": url(stage.id)},
            }
        )
    totals = {
        "stage": str(_l("Total")),
        "opportunities": sum(r["opportunities"] for r in rows),
        "amount": sum((r["amount"] for r in rows), Decimal("0.00")),
        "weighted": sum((r["weighted"] for r in rows), Decimal("0.00")),
        "_links": {"opportunities": url(), "amount": url(), "weighted": url()},
    }
    return Result(
        sections=[
            Section(
                title=None,
                columns=[
                    Column("stage", _l("Sales stage"), width=20),
                    Column("probability", _l("Probability (%)"), "percent", width=10),
                    Column("opportunities", _l("Number of opportunities"), "int", width=12),
                    Column("amount", _l("Expected amount"), "money", width=18),
                    Column("weighted", _l("Weighted amount"), "money", width=18),
                ],
                rows=rows,
                totals=totals,
            )
        ],
        chart=(
            [r["stage"] for r in rows],
            [
                Series(
                    str(_l("Expected amount")),
                    [r["amount"] for r in rows],
                    kind="funnel",
                    urls=[r["_links"]["amount"] for r in rows],
                )
            ],
            True,
        ),
        chart_title=_l("Open opportunities by stage"),
        notes=[RULES, _l("Amounts in yuan (CNY).")],
    )


REPORT = Report(
    slug=SLUG,
    title=_l("Sales funnel"),
    right_text=("销售漏斗", "Sales funnel"),
    groups=("sales",),
    fields=FIELDS,
    run=funnel,
)


def seconds_between(start, end, dialect: str):
    """Seconds from ``start`` to ``end`` (timestamps) in the SQL of ``dialect``."""
    if dialect == "sqlite":  # julian day numbers, fractional
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return func.extract("epoch", end - start)


def cohort_statement(values, user, now, dialect: str):
    """Per stage id: reached, still there, won, lost, average and median seconds (see the
    module docstring)."""
    ended = literal(now, UTCDateTime())
    cohort = (
        select(
            Opportunity.id,
            Opportunity.created_at,
            Opportunity.stage_id,
            Opportunity.status,
            Opportunity.outcome,
            case((Opportunity.status == "archived", func.coalesce(Opportunity.closed_at, ended)), else_=ended).label(
                "ended"
            ),
        )
        .where(*opportunity_clauses(values, user, open_only=False))
        .cte("cohort")
    )
    old = AuditLog.changes[("stage_id", 0)].as_integer()
    new = AuditLog.changes[("stage_id", 1)].as_integer()
    moves = (
        select(
            AuditLog.record_id.label("opp"),
            AuditLog.at,
            AuditLog.id.label("seq"),
            old.label("old"),
            new.label("new"),
            func.row_number().over(partition_by=AuditLog.record_id, order_by=(AuditLog.at, AuditLog.id)).label("n"),
        )
        .where(
            AuditLog.table_name == Opportunity.__tablename__,
            AuditLog.record_id.in_(select(cohort.c.id)),
            old.is_not(None),
            new.is_not(None),
        )
        .cte("moves")
    )
    visits = union_all(
        select(
            cohort.c.id.label("opp"),
            func.coalesce(moves.c.old, cohort.c.stage_id).label("stage"),
            cohort.c.created_at.label("entered"),
            literal(0).label("seq"),
        ).select_from(cohort.outerjoin(moves, and_(moves.c.opp == cohort.c.id, moves.c.n == 1))),
        select(moves.c.opp, moves.c.new, moves.c.at, moves.c.seq),
    ).subquery("visits")
    timed = select(
        visits.c.opp,
        visits.c.stage,
        visits.c.entered,
        func.lead(visits.c.entered)
        .over(partition_by=visits.c.opp, order_by=(visits.c.entered, visits.c.seq))
        .label("left"),
    ).subquery("timed")
    spent = (
        select(
            timed.c.opp,
            timed.c.stage,
            func.sum(seconds_between(timed.c.entered, func.coalesce(timed.c.left, cohort.c.ended), dialect)).label(
                "seconds"
            ),
        )
        .join(cohort, cohort.c.id == timed.c.opp)
        .group_by(timed.c.opp, timed.c.stage)
        .subquery("spent")
    )
    ranked = select(
        spent.c.opp,
        spent.c.stage,
        spent.c.seconds,
        func.row_number().over(partition_by=spent.c.stage, order_by=spent.c.seconds).label("rank"),
        func.count().over(partition_by=spent.c.stage).label("size"),
    ).subquery("ranked")
    here = cohort.c.stage_id == ranked.c.stage
    archived = cohort.c.status == "archived"

    def counted(*conditions):
        return func.coalesce(func.sum(case((and_(*conditions), 1), else_=0)), 0)

    middle = ranked.c.rank.between((ranked.c.size + 1) / 2, (ranked.c.size + 2) / 2)
    return (
        select(
            ranked.c.stage,
            func.count().label("reached"),
            counted(here, ~archived).label("still"),
            counted(here, archived, cohort.c.outcome == "won").label("won"),
            counted(here, archived, func.coalesce(cohort.c.outcome, "") != "won").label("lost"),
            func.avg(ranked.c.seconds).label("average"),
            func.avg(case((middle, ranked.c.seconds))).label("median"),
        )
        .join(cohort, cohort.c.id == ranked.c.opp)
        .group_by(ranked.c.stage)
    )


def days(seconds) -> Decimal:
    """Seconds as days with two decimals (half up)."""
    return (Decimal(str(seconds or 0)) / 86400).quantize(CENT, ROUND_HALF_UP)


def cohort(session, user, values) -> Result:
    figures = {
        row.stage: row
        for row in session.execute(cohort_statement(values, user, clock.now(), session.get_bind().dialect.name))
    }
    stages = session.execute(
        select(SalesStage.id, SalesStage.name).order_by(SalesStage.sort_order, SalesStage.id)
    ).all()

    def url(stage_id, **wanted):
        return opportunity_list(values, stage_id, **wanted)

    rows = []
    for stage in stages:
        row = figures.get(stage.id)
        reached = row.reached if row else 0
        still, won, lost = (int(row.still), int(row.won), int(row.lost)) if row else (0, 0, 0)
        rows.append(
            {
                "stage": stage.name,
                "reached": reached,
                "still": still,
                "moved": reached - still - won - lost,
                "won": won,
                "lost": lost,
                "average": days(row.average) if row else NONE_DAYS,
                "median": days(row.median) if row else NONE_DAYS,
                "_links": {
                    "still": url(stage.id, status_not_equal="archived"),
                    "won": url(stage.id, status_equals="archived", outcome_equals="won"),
                    "lost": url(stage.id, status_equals="archived", outcome_equals="lost"),
                },
            }
        )
    counts = [
        Column(key, label, "int", width=10 if key in ("reached", "still", "moved") else 8)
        for key, label in (
            ("reached", _l("Reached")),
            ("still", _l("Still there")),
            ("moved", _l("Moved on")),
            ("won", _l("Won")),
            ("lost", _l("Lost")),
        )
    ]
    days_columns = [Column(key, label, width=12) for key, label in DAYS_COLUMNS]
    stage_column = Column("stage", _l("Sales stage"), width=20)
    return Result(
        sections=[Section(None, [stage_column, *counts, *days_columns], rows)],
        chart=(
            [r["stage"] for r in rows],
            [Series(str(_l("Reached")), [r["reached"] for r in rows], kind="funnel")],
            False,
        ),
        chart_title=_l("Opportunities created in the period: how far they got"),
        notes=[COHORT_RULES],
    )


NONE_DAYS = "—"
DAYS_COLUMNS = (("average", _l("Average days in stage")), ("median", _l("Median days in stage")))
