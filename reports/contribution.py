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

One statement for the page, whatever the number of clients (issue 11: 27 s on SQLite at
199 k order lines when the movement outer-joined two windowed subqueries, scanned once per
client): one pass over the orders of both periods (adjacent, so one range of the covering
index ``ix_orders_live_ordered_on_status_total``) gives each client's totals of either
period; window sums rank them per period; that table, materialised once, gives the
ranking, the tier counts, the movement counts and the moved clients as four parts of one
UNION ALL. The comparison is exact: integer fen.
"""

from __future__ import annotations

from datetime import timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, String, case, cast, func, literal, null, select, type_coerce, union_all

from models.base import Money
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


def fen(column):
    """``column`` as the integer fen it is stored as: exact sums and comparisons."""
    return type_coerce(column, BigInteger)


def tiers_cte(values, user, previous):
    """One row per client with orders in this period or the previous one, from ONE pass
    over the orders of both (adjacent) periods: per period the client's amount, order
    count, rank, running and grand totals (window sums over the per-client totals, ranked
    among the clients with orders in that period) and tier (NULL: no orders then)."""
    start = values.date_from
    now = Order.ordered_on >= start
    # bigint, not PostgreSQL's numeric sum: the window sorts below compare and carry less
    per_client = (
        select(
            Order.client_id,
            cast(func.sum(case((now, fen(Order.total)), else_=0)), BigInteger).label("amount_now"),
            func.count(case((now, 1))).label("orders_now"),
            cast(func.sum(case((now, 0), else_=fen(Order.total))), BigInteger).label("amount_then"),
            func.count(case((now, None), else_=1)).label("orders_then"),
        )
        .where(*order_clauses(values, user, previous[0], values.date_to))
        .group_by(Order.client_id)
        .subquery("per_client")
    )
    c = per_client.c
    columns = [c.client_id, c.amount_now, c.orders_now, c.amount_then, c.orders_then]
    for period in ("now", "then"):
        amount, orders = c[f"amount_{period}"], c[f"orders_{period}"]
        window = {"partition_by": orders > 0, "order_by": (amount.desc(), c.client_id)}
        columns += [
            func.row_number().over(**window).label(f"rank_{period}"),
            func.sum(amount).over(**window, rows=(None, 0)).label(f"running_{period}"),
            func.sum(amount).over().label(f"grand_{period}"),  # clients without orders add 0
        ]
    ranked = select(*columns).subquery("ranked")
    r = ranked.c
    a, ab = literal(int(values.cut_a), BigInteger), literal(int(values.cut_a) + int(values.cut_b), BigInteger)

    def tier(period):
        amount, running, grand = r[f"amount_{period}"], r[f"running_{period}"], r[f"grand_{period}"]
        before = fen(running) - fen(amount)
        return case(
            (r[f"orders_{period}"] == 0, null()),
            (before * 100 < fen(grand) * a, literal("A")),
            (before * 100 < fen(grand) * ab, literal("B")),
            else_=literal("C"),
        )

    return (
        select(*r, tier("now").label("tier_now"), tier("then").label("tier_then"))
        .cte("tiers")
        .prefix_with("MATERIALIZED")
    )


def figures_select(values, user, previous, limit: int | None):
    """ONE statement for the whole page, over :func:`tiers_cte` read once: part 1 the
    ranking (rank ≤ ``limit``), 2 the tier counts, 3 the movement counts, 4 the clients
    that changed tier (by name, the first ``limit``). Columns: part, pos (the order within
    the part), client_id, client, tier, before, clients, orders, amount, running, grand,
    amount_before."""
    t = tiers_cte(values, user, previous).c
    money = lambda column: type_coerce(column, Money())  # noqa: E731 — fen back to Decimal
    # typed NULLs: PostgreSQL resolves a UNION pairwise, so two untyped NULLs would become text
    blank = lambda kind: cast(null(), kind)  # noqa: E731
    now_tier, then_tier = func.coalesce(t.tier_now, NONE), func.coalesce(t.tier_then, NONE)
    moved = now_tier != then_tier
    ranking = (
        select(
            literal(1).label("part"),
            t.rank_now.label("pos"),
            t.client_id,
            Client.name.label("client"),
            t.tier_now.label("tier"),
            blank(String).label("before"),
            blank(BigInteger).label("clients"),
            t.orders_now.label("orders"),
            money(t.amount_now).label("amount"),
            money(t.running_now).label("running"),
            money(t.grand_now).label("grand"),
            money(blank(BigInteger)).label("amount_before"),
        )
        .join(Client, Client.id == t.client_id)
        .where(t.orders_now > 0, *([t.rank_now <= limit] if limit else []))
    )
    tier_counts = (
        select(
            literal(2),
            null(),
            null(),
            null(),
            t.tier_now,
            null(),
            func.count(),
            func.sum(t.orders_now),
            money(func.sum(fen(t.amount_now))),
            null(),
            null(),
            null(),
        )
        .where(t.orders_now > 0)
        .group_by(t.tier_now)
    )
    move_counts = (
        select(literal(3), null(), null(), null(), now_tier, then_tier, func.count(), *[null()] * 5)
        .where(moved)
        .group_by(now_tier, then_tier)
    )
    moves = (
        select(
            t.client_id,
            Client.name.label("client"),
            now_tier.label("tier"),
            then_tier.label("before"),
            case((t.orders_now > 0, t.amount_now)).label("amount"),
            case((t.orders_then > 0, t.amount_then)).label("amount_before"),
            func.row_number().over(order_by=(Client.name, t.client_id)).label("pos"),
        )
        .join(Client, Client.id == t.client_id)
        .where(moved)
        .subquery("moves")
    )
    m = moves.c
    moved_clients = select(
        literal(4),
        m.pos,
        m.client_id,
        m.client,
        m.tier,
        m.before,
        null(),
        null(),
        money(m.amount),
        null(),
        null(),
        money(m.amount_before),
    ).where(*([m.pos <= limit] if limit else []))
    parts = union_all(ranking, tier_counts, move_counts, moved_clients).subquery("parts")
    return select(parts).order_by(parts.c.part, parts.c.pos)


def contribution(session, user, values, limit: int | None = None) -> Result:
    """The ranking (with client names), the tier counts and the movement; ``limit`` cuts
    the ranking and the moved clients (the page), never the tier figures."""
    from views.crud import list_url

    start, end = values.date_from, values.date_to
    previous = previous_period(values)
    parts: dict[int, list] = {1: [], 2: [], 3: [], 4: []}
    for row in session.execute(figures_select(values, user, previous, limit)):
        parts[row.part].append(row)
    rows = [
        {key: getattr(row, key) for key in ("client_id", "client", "orders", "amount", "running", "grand")}
        | {"rank": row.pos, "tier": row.tier}
        for row in parts[1]
    ]
    tiers = {row.tier: row for row in parts[2]}
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
    moves = [
        {"client_id": row.client_id, "client": row.client, "before": row.before, "now": row.tier}
        | {"amount": row.amount, "amount_before": row.amount_before}
        for row in parts[4]
    ]
    move_counts = {(row.before, row.tier): row.clients for row in parts[3]}
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
                    for move in moves
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
