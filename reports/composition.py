"""客户构成分析 — client composition (SPEC §7.2): client counts and shares by a chosen
dimension: type, star, area (provinces; with a province chosen, its cities), source, size,
trade, revenue band or owner.

The rules, stated on the page and on every download:

* a client counts when it is not deleted (and not still being imported), within the
  user's data scope; the period, when given, bounds its creation time (local days);
* department and owner are the client's owner's (a department with its sub-departments);
  area is the client's (a province with its cities);
* clients without a value of the dimension form their own row ("(none)").

One statement: a GROUP BY over the clients (the names of the values joined in).
"""

from __future__ import annotations

from datetime import date, datetime, time

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from models.auth import User
from models.clock import to_utc
from models.customers import Client
from models.lookups import Area, ClientSource, ClientType, CompanySize, RevenueBand, StarRating, Trade

from .charts import Series
from .framework import AREA, DEPARTMENT, OWNER, Field, Report, Result, common_clauses, ratio
from .render import Column, Section

SLUG = "composition"

#: dimension → (label, the client's column, the model of its values, the client list's filter name)
DIMENSIONS = {
    "type": (_l("Client type"), Client.type_id, ClientType, "client_type"),
    "star": (_l("Star rating"), Client.star_id, StarRating, "star_rating"),
    "area": (_l("Area"), Client.area_id, Area, "area"),
    "source": (_l("Client source"), Client.source_id, ClientSource, "client_source"),
    "size": (_l("Company size"), Client.size_id, CompanySize, "company_size"),
    "trade": (_l("Product category"), Client.trade_id, Trade, "product_category"),
    "revenue_band": (_l("Annual revenue"), Client.revenue_band_id, RevenueBand, "annual_revenue"),
    "owner": (_l("Owner"), Client.owner_id, User, "owner"),
}

RULES = _l(
    "Clients count when not deleted, within your data scope; a period bounds their creation time. "
    "Department and owner are the client's owner's; a province includes its cities; with a province "
    "chosen, the area dimension shows its cities."
)

FIELDS = (
    Field("dimension", _l("Dimension"), "choice", "type", tuple((k, v[0]) for k, v in DIMENSIONS.items())),
    Field("date_from", _l("Created from"), "date"),
    Field("date_to", _l("Created to"), "date"),
    DEPARTMENT,
    OWNER,
    AREA,
)


def created_bounds(values) -> tuple:
    """The period as UTC instants: the first and the last second of the local days."""
    start = to_utc(datetime.combine(values.date_from, time.min)) if values.get("date_from") else None
    end = to_utc(datetime.combine(values.date_to, time(23, 59, 59))) if values.get("date_to") else None
    return start, end


def client_clauses(values, user) -> list:
    clauses = [Client.live()]
    start, end = created_bounds(values)
    if start is not None:
        clauses.append(Client.created_at >= start)
    if end is not None:
        clauses.append(Client.created_at <= end)
    return clauses + common_clauses(values, user, Client, Client.owner_id, Client.area_id)


def composition(session, user, values, limit: int | None = None) -> Result:
    """One row per value of the dimension: clients and share, largest first."""
    from views.crud import list_url

    label, column, model, filter_name = DIMENSIONS[values.dimension]
    by_province = values.dimension == "area" and not values.get("area")
    if by_province:  # a city counts in its province
        value = func.coalesce(Area.parent_id, Area.id)
        query = select(value.label("value"), func.count().label("clients")).join(Area, Area.id == Client.area_id)
    else:
        value = column
        query = select(value.label("value"), func.count().label("clients"))
    counts = session.execute(query.select_from(Client).where(*client_clauses(values, user)).group_by(value)).all()
    ids = [row.value for row in counts if row.value is not None]
    names = dict(session.execute(select(model.id, model.name).where(model.id.in_(ids))).all()) if ids else {}
    total = sum(row.clients for row in counts)

    def link(value_id):
        wanted = report_filters(values, skip=values.dimension)
        if value_id is None:
            wanted[f"{filter_name}_empty"] = 1
        elif by_province:
            wanted["area_in_with_cities"] = value_id
        else:
            wanted[f"{filter_name}_equals"] = value_id
        return list_url("client", wanted)

    none = str(_l("(none)"))
    rows = [
        {
            "value": names.get(row.value, f"#{row.value}") if row.value is not None else none,
            "clients": row.clients,
            "share": ratio(row.clients, total),
            "_links": {"clients": link(row.value)},
        }
        for row in sorted(counts, key=lambda r: (-r.clients, r.value is None, r.value or 0))
    ]
    totals = {"value": str(_l("Total")), "clients": total, "share": ratio(total, total)}
    totals["_links"] = {"clients": list_url("client", report_filters(values)) if total else None}
    return Result(
        sections=[
            Section(
                title=_l("Clients by %(dimension)s", dimension=label),
                columns=[
                    Column("value", label, width=30),
                    Column("clients", _l("Number of clients"), "int", width=12),
                    Column("share", _l("Share"), "percent", width=12),
                ],
                rows=rows,
                totals=totals,
                empty_text=_l("No clients match these filters."),
            )
        ],
        chart=(
            [r["value"] for r in rows],
            [
                Series(
                    str(_l("Number of clients")),
                    [r["clients"] for r in rows],
                    kind="bar",
                    urls=[r["_links"]["clients"] for r in rows],
                )
            ],
            False,
        ),
        chart_title=_l("Clients by %(dimension)s", dimension=label),
        notes=[RULES],
    )


def report_filters(values, skip: str = "") -> dict:
    """The client list's filters for the report's own filters (but the dimension's)."""
    wanted: dict = {}
    if values.get("area") and skip != "area":
        wanted["area_in_with_cities"] = values.area
    if values.get("owner") and skip != "owner":
        wanted["owner_equals"] = values.owner
    if values.get("department"):
        wanted["owners_department_in_with_subdepartments"] = values.department
    start, end = values.get("date_from"), values.get("date_to")
    if start or end:  # the list's range in local time, open ends far away
        wanted["created_at_between"] = (
            datetime.combine(start or date(1970, 1, 1), time.min),
            datetime.combine(end or date(2999, 12, 31), time(23, 59, 59)),
        )
    return wanted


REPORT = Report(
    slug=SLUG,
    title=_l("Client composition"),
    right_text=("客户构成分析", "Client composition"),
    groups=("customers",),
    fields=FIELDS,
    run=composition,
)
