"""客户贡献分析 at scale (issue 11 item 6): the report's figures come from ONE statement,
whatever the number of clients, and that statement's figures equal an independent
computation on a fixed data set — equal totals on both sides of the 80 % and 95 % lines
(the client id decides), a client with only a 0.00 order, the movement to and from "—",
an account manager's scope (own orders ranked among themselves) and the page's limit
(it cuts the ranking and the moved clients, never the tier figures)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from tests.factories import make_client, make_order, make_product

URL = "/admin/reports/contribution/"
START, END = date(2026, 7, 1), date(2026, 9, 30)
PREVIOUS = (date(2026, 3, 31), date(2026, 6, 30))
#: name → owner, this period's order amounts, the previous period's
DATA = {
    "规模一": ("account_manager", ["400.00"], []),
    "规模二": ("am_other", ["150.00", "50.00"], ["10.00"]),
    "规模三": ("account_manager", ["200.00"], ["100.00"]),  # ties 规模二 at 200: cumulative 80 % exactly
    "规模四": ("am_other", ["100.00"], []),
    "规模五": ("account_manager", ["50.00"], []),  # cumulative 95 % exactly: the last B
    "规模六": ("am_other", ["50.00"], ["900.00"]),  # the same 50: C by its later id
    "规模七": ("account_manager", [], ["0.00"]),  # an order of 0.00 is an order: C, then —
}


@pytest.fixture
def data(db_session):
    s = db_session
    product = make_product(s, "1.00")
    made = []
    for name, (owner, now, before) in DATA.items():
        client = make_client(s, owner, name=f"{name}有限公司")
        for amount, day in [(a, date(2026, 8, 1)) for a in now] + [(a, date(2026, 5, 1)) for a in before]:
            made.append(make_order(s, owner, lines=[(product, 1, amount)], client=client, ordered_on=day))
    noise = make_order(s, "account_manager", lines=[(product, 1, "5000.00")], client=made[0].client, status="cancelled")
    noise.ordered_on = date(2026, 8, 2)
    s.commit()
    return made


# ----------------------------------------------------------- independent expectation
def periods(orders, owners=None) -> tuple[dict, dict]:
    """(this period, the previous one): client name → (client id, Σ total, orders)."""
    result: tuple[dict, dict] = ({}, {})
    for o in orders:
        if o.is_deleted or o.status == "cancelled" or (owners and o.owner.username not in owners):
            continue
        for at, (start, end) in enumerate(((START, END), PREVIOUS)):
            if start <= o.ordered_on <= end:
                _, total, count = result[at].get(o.client.name, (o.client_id, Decimal(0), 0))
                result[at][o.client.name] = (o.client_id, total + o.total, count + 1)
    return result


def ranked(totals: dict, a=80, b=15) -> list[tuple[str, str, Fraction]]:
    """(name, tier, cumulative share) by total, largest first, ties by client id."""
    order = sorted(totals, key=lambda name: (-totals[name][1], totals[name][0]))
    grand = Fraction(sum(totals[name][1] for name in order))
    result, before = [], Fraction(0)
    for name in order:
        share = before / grand * 100 if grand else Fraction(100)
        before += Fraction(totals[name][1])
        result.append((name, "A" if share < a else "B" if share < a + b else "C", before / grand * 100))
    return result


def run(session, username, limit=None, **values):
    from reports.contribution import REPORT
    from reports.framework import parse
    from tests.factories import user

    args = {"date_from": START.isoformat(), "date_to": END.isoformat(), **{k: str(v) for k, v in values.items()}}
    parsed, errors = parse(REPORT.fields, args, END)
    assert not errors
    return REPORT.run(session, user(session, username), parsed, limit=limit)


def section(result, title_start):
    return next(s for s in result.sections if str(s.title).startswith(title_start))


def check(result, now: dict, then: dict, limit=None):
    want = ranked(now)
    rows = section(result, "Clients ranked").rows
    assert [(r["rank"], r["client"], r["tier"]) for r in rows] == [
        (i, name, tier) for i, (name, tier, _) in enumerate(want, start=1)
    ][:limit]
    for row, (name, _, cumulative) in zip(rows, want, strict=False):
        assert row["amount"] == now[name][1] and row["orders"] == now[name][2]
        assert row["cumulative"] == round(Decimal(cumulative.numerator) / cumulative.denominator, 2)
    tiers = {r["tier"]: r for r in section(result, "ABC tiers").rows}
    for tier in "ABC":
        members = [name for name, t, _ in want if t == tier]
        assert tiers[tier]["clients"] == len(members), tier
        assert tiers[tier]["amount"] == sum((now[n][1] for n in members), Decimal(0))
        assert tiers[tier]["orders"] == sum(now[n][2] for n in members)
    tier_now = {name: tier for name, tier, _ in want}
    tier_then = {name: tier for name, tier, _ in ranked(then)}
    moved = {
        name: (tier_then.get(name, "—"), tier_now.get(name, "—"))
        for name in sorted(set(tier_now) | set(tier_then))
        if tier_then.get(name, "—") != tier_now.get(name, "—")
    }
    counts: dict = {}
    for pair in moved.values():
        counts[pair] = counts.get(pair, 0) + 1
    assert {(r["before"], r["now"]): r["clients"] for r in section(result, "Tier movement").rows} == counts
    got = section(result, "Clients that changed tier").rows
    assert [(r["client"], r["before"], r["now"]) for r in got] == [(n, *pair) for n, pair in moved.items()][:limit]
    for r in got:
        assert r["amount"] == (now[r["client"]][1] if r["client"] in now else None)
        assert r["amount_before"] == (then[r["client"]][1] if r["client"] in then else None)
    return want, moved


# ------------------------------------------------------------------------ figures
def test_ties_at_both_cut_offs_and_the_movement_equal_an_independent_computation(data, db_session, app):
    with app.test_request_context():
        result = run(db_session, "executive")
    want, moved = check(result, *periods(data))
    assert [tier for _, tier, _ in want] == ["A", "A", "A", "B", "B", "C"]
    assert [name for name, _, _ in want][1:3] == ["规模二有限公司", "规模三有限公司"]  # the tie by client id
    assert moved["规模七有限公司"] == ("C", "—") and moved["规模一有限公司"] == ("—", "A")
    assert moved["规模六有限公司"] == ("A", "C") and moved["规模三有限公司"] == ("B", "A")


def test_adjusted_cut_offs(data, db_session, app):
    with app.test_request_context():
        result = run(db_session, "executive", cut_a=40, cut_b=55)
    now, then = periods(data)
    want = ranked(now, 40, 55)
    assert [tier for _, tier, _ in want] == ["A", "B", "B", "B", "B", "C"]  # 40 % exactly closes A
    assert [r["tier"] for r in section(result, "Clients ranked").rows] == [tier for _, tier, _ in want]


def test_an_account_manager_s_clients_are_ranked_among_themselves(data, db_session, app):
    with app.test_request_context():
        result = run(db_session, "account_manager")
    now, then = periods(data, owners={"account_manager"})
    want, _ = check(result, now, then)
    assert {name for name, _, _ in want} == {"规模一有限公司", "规模三有限公司", "规模五有限公司"}


def test_the_page_limit_cuts_the_lists_never_the_tier_figures(data, db_session, app):
    with app.test_request_context():
        full = run(db_session, "executive")
        cut = run(db_session, "executive", limit=2)
    check(cut, *periods(data), limit=2)
    assert len(section(cut, "Clients ranked").rows) == 2 and len(section(cut, "Clients that changed tier").rows) == 2
    for title in ("ABC tiers", "Tier movement"):
        assert section(cut, title).rows == section(full, title).rows
    assert section(cut, "ABC tiers").totals["amount"] == section(full, "ABC tiers").totals["amount"]


# ------------------------------------------------------------ statements per page
def add_clients(session, count: int, start: int) -> None:
    product = make_product(session, "1.00")
    for n in range(start, start + count):
        client = make_client(session, "account_manager", name=f"规模加{n}有限公司")
        for day in (date(2026, 8, 1 + n % 20), date(2026, 5, 1 + n % 20)):
            make_order(session, "account_manager", lines=[(product, 1, f"{n + 1}.00")], client=client, ordered_on=day)
    session.commit()


def statements_of(app, web, url) -> list[str]:
    from tests.conftest import count_queries

    web.get(url)  # warm: the menu, the session
    with count_queries(app) as statements:
        page = web.get(url)
    assert page.status_code == 200
    return list(statements)


@pytest.mark.parametrize("username", ["executive", "account_manager"])
def test_statements_per_page_do_not_grow_with_the_clients(data, db_session, app, client_as, username):
    from reports.contribution import REPORT

    web = client_as(username)
    url = f"{URL}?date_from={START}&date_to={END}&lang=en"
    small = statements_of(app, web, url)
    add_clients(db_session, 30, 1)
    large = statements_of(app, web, url)
    assert len(large) == len(small)
    orders = [s for s in large if re.search(r"\bFROM orders\b", s)]
    assert len(orders) == 1, orders  # the figures: one statement, one pass over the orders
    assert "UNION ALL" in orders[0]
    with app.test_request_context():
        from tests.factories import user

        values, _ = REPORT.parse_args({"date_from": START.isoformat(), "date_to": END.isoformat()}, END)
        from tests.conftest import count_queries

        who = user(db_session, username)
        with count_queries(app) as statements:
            REPORT.run(db_session, who, values, limit=100)
    assert len(statements) == 1
