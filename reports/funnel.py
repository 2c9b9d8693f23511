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
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, func, select, type_coerce

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

FIELDS = (
    Field("date_from", _l("Created from"), "date"),
    Field("date_to", _l("Created to"), "date"),
    DEPARTMENT,
    OWNER,
)


def opportunity_clauses(values, user) -> list:
    clauses = [Opportunity.status != "archived"]
    if values.get("date_from"):
        clauses.append(Opportunity.created_at >= to_utc(datetime.combine(values.date_from, time.min)))
    if values.get("date_to"):
        clauses.append(Opportunity.created_at <= to_utc(datetime.combine(values.date_to, time(23, 59, 59))))
    return clauses + common_clauses(values, user, Opportunity, Opportunity.assigned_to_id)


def funnel(session, user, values, limit: int | None = None) -> Result:
    from views.crud import list_url

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
        wanted = {"status_not_equal": "archived"}
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
