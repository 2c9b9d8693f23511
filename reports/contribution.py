"""客户贡献分析 — client contribution (SPEC §7.1): order totals per client over a period,
ranked, with the cumulative share and ABC tiers, and the tier movement against the
previous period of the same length.

The rules, stated on the page and on every download:

* an order counts when it is not deleted and not cancelled, on its order date; its
  amount is the stored order total (models/totals.py keeps it equal to Σ lines);
* clients are ranked by their total, largest first (ties by client id); the cumulative
  share runs down that ranking;
* a client is in tier A while the cumulative share *before* it is below the A cut-off
  (default 80 %): the client that reaches or crosses the line is the last A; then B up
  to A + B (default 80 + 15 = 95 %), the rest C (default 5 %). So a cumulative share of
  exactly 80.00 % closes tier A;
* the previous period is the same number of days just before; movement pairs each
  client's tier then and now ("—": no orders in that period).

Two statements per period: the ranked rows (window sums over the per-client totals) and
the counts per tier; one for the movement. The comparison is exact: integer fen.
"""

from __future__ import annotations

from datetime import timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, case, func, literal, select, type_coerce

from models.customers import Client
from models.orders import Order

from .charts import Series
from .framework import COMMON, Field, Report, Result, area_clause, common_clauses, parse, ratio
from .render import Column, Section

SLUG = "contribution"
TIERS = ("A", "B", "C")
NONE = "—"
#: clients drawn in the chart (each bar opens the client's orders)
CHART_CLIENTS = 15

RULES = _l(
    "Orders count when not deleted and not cancelled, by order date, at their order total. Clients are "
    "ranked by total; a client is in tier A while the cumulative share before it is below the A cut-off "
    "(the client reaching the line is the last A), then B up to A + B, the rest C. Movement compares "
    "with the previous period of the same length (— = no orders then)."
)

FIELDS = (
    *COMMON,
    Field("cut_a", _l("Tier A cut-off (%)"), "percent", 80),
    Field("cut_b", _l("Tier B cut-off (%)"), "percent", 15),
)


def previous_period(values):
    """The same number of days just before the period."""
    days = (values.date_to - values.date_from).days + 1
    return values.date_from - timedelta(days=days), values.date_from - timedelta(days=1)


def order_clauses(values, user, start, end) -> list:
    """WHERE clauses of the orders behind the figures: live, not cancelled, dated in
    [start, end], the report's filters and the user's scope."""
    clauses = [Order.live(), Order.status != "cancelled", Order.ordered_on >= start, Order.ordered_on <= end]
    clauses += common_clauses(values, user, Order, Order.owner_id)  # area: the client's, below
    if values.get("area"):  # the client's area
        clauses.append(Order.client_id.in_(select(Client.id).where(area_clause(Client.area_id, values.area))))
    return clauses


def ranked_select(values, user, start, end, name="now"):
    """One row per client with orders in [start, end]: client_id, amount, orders, rank,
    running (cumulative amount including it), grand (all clients), tier."""
    per_client = (
        select(Order.client_id, func.sum(Order.total).label("amount"), func.count().label("orders"))
        .where(*order_clauses(values, user, start, end))
        .group_by(Order.client_id)
        .subquery(f"{name}_per_client")
    )
    order = (per_client.c.amount.desc(), per_client.c.client_id)
    windows = select(
        per_client.c.client_id,
        per_client.c.amount,
        per_client.c.orders,
        func.row_number().over(order_by=order).label("rank"),
        func.sum(per_client.c.amount).over(order_by=order, rows=(None, 0)).label("running"),
        func.sum(per_client.c.amount).over().label("grand"),
    ).subquery(f"{name}_ranked")
    fen = lambda column: type_coerce(column, BigInteger)  # noqa: E731 — exact integer comparison
    before = fen(windows.c.running) - fen(windows.c.amount)
    a, ab = int(values.cut_a), int(values.cut_a) + int(values.cut_b)
    tier = case(
        (before * 100 < fen(windows.c.grand) * literal(a, BigInteger), literal("A")),
        (before * 100 < fen(windows.c.grand) * literal(ab, BigInteger), literal("B")),
        else_=literal("C"),
    )
    return select(*windows.c, tier.label("tier")).subquery(f"{name}_tiers")


def contribution(session, user, values, limit: int | None = None) -> Result:
    """The ranking (with client names), the tier counts and the movement; ``limit`` cuts
    the ranking and the moved clients (the page), never the tier figures."""
    from views.crud import list_url

    start, end = values.date_from, values.date_to
    ranked = ranked_select(values, user, start, end)
    rows = [
        dict(row._mapping)
        for row in session.execute(
            select(ranked, Client.name.label("client"))
            .join(Client, Client.id == ranked.c.client_id)
            .order_by(ranked.c.rank)
            .limit(limit)
        )
    ]
    tiers = {
        row.tier: row
        for row in session.execute(
            select(
                ranked.c.tier,
                func.count().label("clients"),
                func.sum(ranked.c.amount).label("amount"),
                func.sum(ranked.c.orders).label("orders"),
            ).group_by(ranked.c.tier)
        )
    }
    grand = sum((t.amount for t in tiers.values()), start=0)
    clients_total = sum(t.clients for t in tiers.values())

    def orders_url(client_id=None, period=(start, end)):
        wanted = {"status_not_equal": "cancelled", "order_date_between": period}
        if client_id is not None:
            wanted["client_equals"] = client_id
        elif values.get("area"):
            return None  # the order list has no area filter: the per-client links are exact
        if values.get("owner"):
            wanted["owner_equals"] = values.owner
        if values.get("department"):
            wanted["owners_department_in_with_subdepartments"] = values.department
        return list_url("order", wanted)

    for row in rows:
        row["share"] = ratio(row["amount"], row["grand"])
        row["cumulative"] = ratio(row["running"], row["grand"])
        row["_links"] = {"amount": orders_url(row["client_id"]), "orders": orders_url(row["client_id"])}

    tier_rows = [
        {
            "tier": tier,
            "clients": tiers[tier].clients if tier in tiers else 0,
            "orders": tiers[tier].orders if tier in tiers else 0,
            "amount": tiers[tier].amount if tier in tiers else 0,
            "share": ratio(tiers[tier].amount if tier in tiers else 0, grand),
        }
        for tier in TIERS
    ]
    previous = previous_period(values)
    moves = movement(session, user, values, previous)
    move_counts: dict = {}
    for move in moves:
        key = (move["before"], move["now"])
        move_counts[key] = move_counts.get(key, 0) + 1
    grand_row = {"tier": str(_l("Total")), "clients": clients_total, "amount": grand, "share": ratio(grand, grand)}
    grand_row["orders"] = sum(t["orders"] for t in tier_rows)
    grand_row["_links"] = {"amount": orders_url(), "orders": orders_url()}
    return Result(
        sections=[
            Section(
                title=_l("ABC tiers"),
                columns=[
                    Column("tier", _l("Tier"), width=8),
                    Column("clients", _l("Number of clients"), "int", width=10),
                    Column("orders", _l("Number of orders"), "int", width=10),
                    Column("amount", _l("Order total"), "money", width=18),
                    Column("share", _l("Share"), "percent", width=10),
                ],
                rows=tier_rows,
                totals=grand_row,
            ),
            Section(
                title=_l("Clients ranked by order total"),
                columns=[
                    Column("rank", _l("Rank"), "int", width=6),
                    Column("client", _l("Client"), width=34),
                    Column("orders", _l("Number of orders"), "int", width=8),
                    Column("amount", _l("Order total"), "money", width=18),
                    Column("share", _l("Share"), "percent", width=10),
                    Column("cumulative", _l("Cumulative share"), "percent", width=12),
                    Column("tier", _l("Tier"), width=6),
                ],
                rows=rows,
                empty_text=_l("No orders in this period."),
            ),
            Section(
                title=_l("Tier movement against %(start)s – %(end)s", start=previous[0], end=previous[1]),
                columns=[
                    Column("before", _l("Tier before"), width=10),
                    Column("now", _l("Tier now"), width=10),
                    Column("clients", _l("Number of clients"), "int", width=10),
                ],
                rows=[{"before": b, "now": n, "clients": c} for (b, n), c in sorted(move_counts.items())],
                empty_text=_l("No client changed tier."),
            ),
            Section(
                title=_l("Clients that changed tier"),
                columns=[
                    Column("client", _l("Client"), width=34),
                    Column("before", _l("Tier before"), width=10),
                    Column("amount_before", _l("Order total before"), "money", width=18),
                    Column("now", _l("Tier now"), width=10),
                    Column("amount", _l("Order total"), "money", width=18),
                ],
                rows=[
                    {
                        **move,
                        "_links": {
                            "amount_before": move["amount_before"] is not None
                            and orders_url(move["client_id"], previous),
                            "amount": move["amount"] is not None and orders_url(move["client_id"]),
                        },
                    }
                    for move in (moves[:limit] if limit else moves)
                ],
                empty_text=_l("No client changed tier."),
            ),
        ],
        chart=(
            [r["client"] for r in rows[:CHART_CLIENTS]],
            [
                Series(
                    str(_l("Order total")),
                    [r["amount"] for r in rows[:CHART_CLIENTS]],
                    urls=[r["_links"]["amount"] for r in rows[:CHART_CLIENTS]],
                )
            ],
            True,
        ),
        chart_title=_l("The %(count)s largest clients by order total", count=CHART_CLIENTS),
        notes=[RULES, _l("Amounts in yuan (CNY).")],
        context={"previous": previous},
    )


def movement(session, user, values, previous) -> list[dict]:
    """Clients whose tier differs between the previous period and this one (a client with
    orders in only one of them moves from or to "—"), ordered by client name."""
    now = ranked_select(values, user, values.date_from, values.date_to)
    then = ranked_select(values, user, *previous, name="then")
    ids = select(now.c.client_id).union(select(then.c.client_id)).subquery("ids")
    query = (
        select(
            ids.c.client_id,
            Client.name.label("client"),
            now.c.tier.label("now"),
            now.c.amount.label("amount"),
            then.c.tier.label("before"),
            then.c.amount.label("amount_before"),
        )
        .select_from(ids)
        .join(Client, Client.id == ids.c.client_id)
        .outerjoin(now, now.c.client_id == ids.c.client_id)
        .outerjoin(then, then.c.client_id == ids.c.client_id)
        .where(func.coalesce(now.c.tier, NONE) != func.coalesce(then.c.tier, NONE))
        .order_by(Client.name, ids.c.client_id)
    )
    return [{**row._mapping, "now": row.now or NONE, "before": row.before or NONE} for row in session.execute(query)]


def parse_values(args, today):
    """The generic filters, then the cut-offs: A + B above 100 % leaves B what remains."""
    values, errors = parse(FIELDS, args, today)
    if values.cut_a + values.cut_b > 100:
        errors.append(str(_l("Tier A and B cut-offs exceed 100: tier B was reduced to %(b)s.", b=100 - values.cut_a)))
        values["cut_b"] = 100 - values.cut_a
    return values, errors


REPORT = Report(
    slug=SLUG,
    title=_l("Client contribution"),
    right_text=("客户贡献分析", "Client contribution"),
    groups=("customers",),
    fields=FIELDS,
    run=contribution,
    parse=parse_values,
)
