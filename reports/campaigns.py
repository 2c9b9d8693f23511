"""营销效果 — the campaign effect report (SPEC §7.8, issue 13 item 6): per campaign its
leads, converted leads, the opportunities the conversions made, the won amount, the cost
per lead, the ROI and what its marketing e-mails did.

The rules, printed on the page and every download:

* a campaign is chosen by its start date (the period), type, owner and the owner's
  department (with its sub-departments); it is in your scope through its owner, and its
  figures are then the whole campaign's;
* leads: the campaign's live leads; converted: those converted; opportunities: the
  opportunities their conversions made (still existing);
* won amount: the orders (live, not cancelled) of the converted clients dated from the
  day of the client's first conversion in that campaign through the window's last day
  (the conversion day is day 1 of the window, default 180 days); a client converted by
  two campaigns counts for both;
* cost per lead: actual cost / leads; ROI: (won amount − actual cost) / actual cost
  ("—" without a cost);
* e-mails (the ledger of the campaign's marketing e-mails, one row per recipient): sent —
  a sending time; delivered — sent and not bounced; human and machine opens — opened,
  by the machine flag; clicks — clicked; unsubscribes — the recipients who unsubscribed.

ONE statement for the page, whatever the number of campaigns: the chosen campaigns as a
CTE, then the leads, the won amounts and the ledger each aggregated per campaign by one
GROUP BY and joined to it. The *effect report* action of the campaign list and details
page (views/reports.py ``CampaignEffectMixin``) is this report restricted to the chosen
campaigns (:func:`effect_document`).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, Date, and_, case, cast, func, literal, select, type_coerce

from models import clock
from models.auth import User
from models.base import Money
from models.lookups import CampaignType
from models.marketing import CAMPAIGN_STATUSES, Campaign, Lead
from models.marketing_mail import EmailLog, MarketingEmail
from models.orders import Order

from .charts import Series
from .framework import DATE_TO, DEPARTMENT, OWNER, Field, Report, Result, common_clauses, ratio
from .render import Column, Document, Section

SLUG = "campaigns"
#: the won-amount windows offered (days from the conversion day)
WINDOWS = (30, 60, 90, 180, 365, 730)
DEFAULT_WINDOW = 180
#: campaigns drawn in the chart (the largest won amounts)
CHART_CAMPAIGNS = 15

RULES = _l(
    "Campaigns by start date, in your scope through their owner. Leads: the campaign's live leads; "
    "opportunities: those their conversions made. Won amount: orders (not cancelled) of the converted clients "
    "dated from the day of the client's first conversion in the campaign through the window's last day (the "
    "conversion day is day 1). Cost per lead: actual cost / leads; ROI: (won − cost) / cost. E-mails: the "
    "recipients of the campaign's marketing e-mails — sent, delivered (sent, not bounced), opened by a person or "
    "by a machine, clicked, unsubscribed. Total: cost per lead and ROI of the campaigns with a cost."
)


def _two_years_ago(today):
    return today.replace(year=today.year - 1, month=1, day=1)


FIELDS = (
    Field("date_from", _l("Started from"), "date", _two_years_ago),
    Field("date_to", _l("Started to"), "date", DATE_TO.default),
    DEPARTMENT,
    OWNER,
    Field("type", _l("Campaign type"), "campaign_type"),
    Field(
        "window",
        _l("Won within (days after conversion)"),
        "choice",
        str(DEFAULT_WINDOW),
        choices=tuple((str(days), _l("%(days)s days", days=days)) for days in WINDOWS),
    ),
)


def window_days(values) -> int:
    return int(values.get("window") or DEFAULT_WINDOW)


def conversion_day(column, dialect: str, days: int = 0):
    """The local date (display time zone) of the instant ``column``, plus ``days``. PostgreSQL
    converts with the zone's rules; SQLite shifts by the zone's current UTC offset (the same
    for a zone without daylight saving time, such as the default Asia/Shanghai)."""
    if dialect == "sqlite":
        offset = int(clock.local_now().utcoffset().total_seconds())
        return func.date(column, f"{offset:+d} seconds", f"{days:+d} days")
    return cast(func.timezone(clock.zone_name(), column), Date) + literal(days)


def campaign_clauses(values, user, campaign_ids=None) -> list:
    """The chosen campaigns: live, started in the period, of the type, the owner (and the
    owner's department), within the user's scope; ``campaign_ids`` narrows to those."""
    clauses = [Campaign.live(), *common_clauses(values, user, Campaign, Campaign.owner_id)]
    if values.get("date_from"):
        clauses.append(Campaign.starts_on >= values.date_from)
    if values.get("date_to"):
        clauses.append(Campaign.starts_on <= values.date_to)
    if values.get("type"):
        clauses.append(Campaign.type_id == values.type)
    if campaign_ids is not None:
        clauses.append(Campaign.id.in_(list(campaign_ids)))
    return clauses


def figures_select(values, user, dialect: str, campaign_ids=None):
    """ONE statement: a row per chosen campaign with its figures (see the module docstring)."""
    fen = lambda column: type_coerce(column, BigInteger)  # noqa: E731 — Money is integer fen
    chosen = (
        select(
            Campaign.id,
            Campaign.name,
            Campaign.status,
            Campaign.starts_on,
            Campaign.actual_cost,
            Campaign.budget,
            CampaignType.name.label("type"),
            User.name.label("owner"),
        )
        .outerjoin(CampaignType, CampaignType.id == Campaign.type_id)
        .outerjoin(User, User.id == Campaign.owner_id)
        .where(*campaign_clauses(values, user, campaign_ids))
        .cte("chosen")
    )
    ids = select(chosen.c.id)
    live_lead = (Lead.live(), Lead.import_job_id.is_(None), Lead.campaign_id.in_(ids))
    converted = Lead.status == "converted"
    leads = (
        select(
            Lead.campaign_id,
            func.count().label("leads"),
            func.count(case((converted, 1))).label("converted"),
            func.count(case((converted, Lead.converted_opportunity_id))).label("opportunities"),
        )
        .where(*live_lead)
        .group_by(Lead.campaign_id)
        .subquery("leads")
    )
    firsts = (
        select(Lead.campaign_id, Lead.converted_client_id, func.min(Lead.converted_at).label("at"))
        .where(*live_lead, converted, Lead.converted_client_id.is_not(None))
        .group_by(Lead.campaign_id, Lead.converted_client_id)
        .subquery("firsts")
    )
    window = window_days(values)
    won = (
        select(firsts.c.campaign_id, cast(func.sum(fen(Order.total)), BigInteger).label("won"))
        .join(
            Order,
            and_(
                Order.client_id == firsts.c.converted_client_id,
                Order.live(),
                Order.status != "cancelled",
                Order.ordered_on >= conversion_day(firsts.c.at, dialect),
                Order.ordered_on < conversion_day(firsts.c.at, dialect, window),
            ),
        )
        .group_by(firsts.c.campaign_id)
        .subquery("won")
    )
    log = EmailLog
    mails = (
        select(
            MarketingEmail.campaign_id,
            func.count(log.sent_at).label("sent"),
            func.count(case((and_(log.sent_at.is_not(None), log.status != "bounced"), 1))).label("delivered"),
            func.count(case((and_(log.opened_at.is_not(None), log.machine_open.is_(False)), 1))).label("human"),
            func.count(case((and_(log.opened_at.is_not(None), log.machine_open.is_(True)), 1))).label("machine"),
            func.count(log.clicked_at).label("clicks"),
            func.count(case((log.status == "unsubscribed", 1))).label("unsubscribes"),
        )
        .select_from(log)
        .join(MarketingEmail, MarketingEmail.id == log.email_id)
        .where(MarketingEmail.campaign_id.in_(ids))
        .group_by(MarketingEmail.campaign_id)
        .subquery("mails")
    )
    zero = lambda column: func.coalesce(column, 0)  # noqa: E731
    return (
        select(
            *chosen.c,
            zero(leads.c.leads).label("leads"),
            zero(leads.c.converted).label("converted"),
            zero(leads.c.opportunities).label("opportunities"),
            type_coerce(zero(won.c.won), Money()).label("won"),
            *[zero(mails.c[key]).label(key) for key in EMAIL_KEYS],
        )
        .outerjoin(leads, leads.c.campaign_id == chosen.c.id)
        .outerjoin(won, won.c.campaign_id == chosen.c.id)
        .outerjoin(mails, mails.c.campaign_id == chosen.c.id)
        .order_by(chosen.c.starts_on.desc(), chosen.c.id.desc())
    )


EMAIL_KEYS = ("sent", "delivered", "human", "machine", "clicks", "unsubscribes")
COUNT_KEYS = ("leads", "converted", "opportunities", *EMAIL_KEYS)


def per_lead(cost, leads):
    """Cost per lead to the fen (half up); None without a cost or a lead."""
    if cost is None or not leads:
        return None
    return (Decimal(cost) / leads).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def roi(won, cost):
    """(won − cost) / cost as a percentage (two decimals); None without a cost."""
    if not cost:
        return None
    return ratio(Decimal(won) - Decimal(cost), Decimal(cost))


def _lead_links(campaign_id: int) -> dict:
    """The lead list behind the lead counts, by the list's own filters (views/marketing.py)."""
    from views.crud import list_url

    return {
        "leads": list_url("lead", {"campaign_equals": campaign_id}),
        "converted": list_url("lead", {"campaign_equals": campaign_id, "status_equals": "converted"}),
    }


def compute(session, user, values, campaign_ids=None, links: bool = True) -> list[dict]:
    """The campaigns' rows (one statement), with cost per lead, ROI and the lead links."""
    statuses = dict(CAMPAIGN_STATUSES)
    rows = []
    dialect = session.get_bind().dialect.name
    for found in session.execute(figures_select(values, user, dialect, campaign_ids)).mappings():
        row = dict(found)
        row["status"] = str(statuses.get(row["status"], row["status"]))
        row["cost"] = row.pop("actual_cost")
        row["per_lead"] = per_lead(row["cost"], row["leads"])
        row["roi"] = roi(row["won"], row["cost"])
        if links:
            row["_links"] = _lead_links(row["id"])
        rows.append(row)
    return rows


def totals_of(rows) -> dict:
    """Σ of the campaigns; cost per lead and ROI of the sums."""
    totals = {key: sum(r[key] for r in rows) for key in COUNT_KEYS}
    totals["won"] = sum((r["won"] for r in rows), Decimal("0.00"))
    costs = [r["cost"] for r in rows if r["cost"] is not None]
    totals["cost"] = sum(costs, Decimal("0.00")) if costs else None
    won_with_cost = sum((r["won"] for r in rows if r["cost"]), Decimal("0.00"))
    totals["per_lead"] = per_lead(totals["cost"], sum(r["leads"] for r in rows if r["cost"] is not None))
    totals["roi"] = roi(won_with_cost, totals["cost"])
    totals["name"] = str(_l("Total"))
    return totals


def sections(rows, totals) -> list[Section]:
    name = Column("name", _l("Campaign"), width=24)
    return [
        Section(
            title=_l("Leads, revenue and cost"),
            columns=[
                name,
                Column("type", _l("Campaign type"), width=10),
                Column("status", _l("Status"), width=8),
                Column("starts_on", _l("Campaign start date"), "date", width=10),
                Column("owner", _l("Owner"), width=9),
                Column("cost", _l("Actual cost"), "money", width=12),
                Column("leads", _l("Leads"), "int", width=7),
                Column("converted", _l("Converted leads"), "int", width=8),
                Column("opportunities", _l("Opportunities"), "int", width=8),
                Column("won", _l("Won amount"), "money", width=13),
                Column("per_lead", _l("Cost per lead"), "money", width=11),
                Column("roi", _l("ROI"), "percent", width=9),
            ],
            rows=rows,
            totals=totals,
            empty_text=_l("No campaigns started in this period."),
        ),
        Section(
            title=_l("Marketing e-mails"),
            columns=[
                name,
                Column("sent", _l("E-mails sent"), "int", width=9),
                Column("delivered", _l("Delivered"), "int", width=9),
                Column("human", _l("Opens (people)"), "int", width=9),
                Column("machine", _l("Opens (machines)"), "int", width=9),
                Column("clicks", _l("Clicks"), "int", width=9),
                Column("unsubscribes", _l("Unsubscribes"), "int", width=9),
            ],
            rows=rows,
            totals=totals,
            empty_text=_l("No campaigns started in this period."),
        ),
    ]


def chart_of(rows):
    """The campaigns with the largest won amounts: won amount and actual cost; a bar opens
    the campaign's converted leads."""
    top = sorted((r for r in rows if r["won"] or r["cost"]), key=lambda r: (-r["won"], r["id"]))[:CHART_CAMPAIGNS]
    urls = [r.get("_links", {}).get("converted") for r in top]
    return (
        [r["name"] for r in top],
        [
            Series(str(_l("Won amount")), [r["won"] for r in top], urls=urls),
            Series(str(_l("Actual cost")), [r["cost"] or Decimal("0.00") for r in top], urls=urls),
        ],
        True,
    )


def campaigns(session, user, values, limit: int | None = None, campaign_ids=None) -> Result:
    rows = compute(session, user, values, campaign_ids)
    totals = totals_of(rows)
    shown = rows if limit is None else rows[:limit]
    return Result(
        sections=sections(shown, totals),
        chart=chart_of(rows),
        chart_title=_l("Won amount and cost per campaign"),
        notes=[RULES],
    )


def effect_document(session, user, campaign_ids, generated: str) -> Document | None:
    """The *effect report* of the chosen campaigns (those in the user's scope, any start
    date): the report's figures with the default window, as one document; None when none
    of them is in scope."""
    from .framework import Values

    values = Values(date_from=None, date_to=None, window=str(DEFAULT_WINDOW))
    result = campaigns(session, user, values, campaign_ids=campaign_ids)
    rows = result.sections[0].rows
    if not rows:
        return None
    names = "、".join(r["name"] for r in rows)
    lines = [
        (_l("Campaigns"), names),
        (FIELDS[-1].label, str(_l("%(days)s days", days=DEFAULT_WINDOW))),
    ]
    document = REPORT.make_document(result, lines, generated)
    document.title = _l("Campaign effect report")
    return document


REPORT = Report(
    slug=SLUG,
    title=_l("Campaign effect"),
    right_text=("营销效果", "Campaign effect"),
    groups=("marketing",),
    fields=FIELDS,
    run=campaigns,
)
