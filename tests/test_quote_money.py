"""The money the customer accepted (issue 8, item 3): an order converted from a quote
totals exactly the quote's total, to the fen — the quote rounds its discount once, on the
subtotal; the order's lines carry the discount in their unit prices, the fen a per-unit
rounding would lose or add distributed by the largest-remainder rule (a line split in two
where only some of its units take the extra fen).

Checked on a table of awkward amounts against ``Order.total`` (the SQL sum that lists and
reports use) and an independent Decimal computation, then on many random quotes without
a database, and through the convert button (the order page shows the quote's total).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import select

from models.orders import Order, Quote, QuoteLine, convert_quote, discounted_lines, quote_totals
from tests.conftest import cells, money
from tests.factories import make_product, make_quote, to_state, user

CENT = Decimal("0.01")


def accepted_total(lines, discount) -> Decimal:
    """Independent arithmetic: Σ quantity × price, minus the discount rounded half-up."""
    subtotal = sum((Decimal(price) * quantity for quantity, price in lines), Decimal("0"))
    return subtotal - (subtotal * Decimal(discount) / 100).quantize(CENT, rounding=ROUND_HALF_UP)


AWKWARD = [  # (lines [(quantity, unit price)], discount %, the total the customer accepted)
    ([(7, "99.99")], "12.50", "612.44"),  # per-unit rounding made ¥612.43
    ([(3, "0.10")], "15", "0.25"),  # per-unit rounding made ¥0.27
    ([(1, "0.01")], "50", "0.00"),  # half a fen of discount rounds up: nothing left
    ([(1, "0.03")], "50", "0.01"),
    ([(2, "0.01")], "50", "0.01"),  # one unit at 0.01, one at 0.00
    ([(9, "0.01"), (1, "0.05")], "33.33", "0.09"),
    ([(4, "10.05"), (3, "1.00"), (1, "0.10")], "12.50", "37.89"),
    ([(1, "123456.78"), (999, "0.07"), (13, "19.99"), (2, "0.01")], "7.77", "114168.38"),
    ([(q, f"{q}.{q:02d}") for q in range(1, 31)], "3.33", None),  # many lines
    ([(5, "80.00"), (2, "0.01")], "100", "0.00"),
    ([(5, "80.00"), (2, "0.01")], "0", "400.02"),
    ([(11, "9.09")], "0.01", "99.98"),
]


@pytest.mark.parametrize("lines, discount, expected", AWKWARD)
def test_the_order_totals_exactly_what_the_quote_accepted(db_session, lines, discount, expected):
    s = db_session
    product = make_product(s)
    quote = to_state(s, make_quote(s, lines=[(product, q, p) for q, p in lines], discount=discount), "accepted")
    order = convert_quote(quote, user(s, "account_manager"))
    s.commit()
    s.expire_all()
    total = accepted_total(lines, discount)
    if expected is not None:
        assert total == Decimal(expected)
    assert quote.total == total
    assert order.total == total  # Order.total: Σ quantity × unit price, in SQL
    assert s.execute(select(Order.total).where(Order.id == order.id)).scalar() == total
    factor = (100 - Decimal(discount)) / 100
    for line in order.lines:  # each unit price is a discounted price to within a fen, never negative
        assert line.unit_price >= 0
        assert any(abs(line.unit_price - Decimal(price) * factor) < CENT for _, price in lines)
    assert sum(line.quantity for line in order.lines) == sum(q for q, _ in lines)
    assert len(order.lines) <= len(lines) + 1  # at most one line split


def test_many_random_quotes_convert_to_their_total(app):
    """discounted_lines() on 3,000 random quotes (no database): the lines total the quote,
    quantities per quote line are kept, each unit price within a fen of the exact one."""
    rng = random.Random(8)
    with app.app_context():
        for _ in range(3000):
            quote = Quote(discount_pct=Decimal(rng.choice([rng.randint(0, 10000), 0, 10000, 5000, 1250])) / 100)
            for _ in range(rng.randint(1, 8)):
                fen = rng.choice([rng.randint(0, 100), rng.randint(0, 10**7)])
                quote.lines.append(
                    QuoteLine(quantity=rng.choice([1, 2, 3, 7, rng.randint(1, 5000)]), unit_price=Decimal(fen) / 100)
                )
            result = discounted_lines(quote)
            assert sum(quantity * price for _, quantity, price in result) == quote_totals(quote)[2]
            kept = Counter()
            for line, quantity, price in result:
                kept[id(line)] += quantity
                exact = Decimal(line.unit_price) * (100 - quote.discount_pct) / 100
                assert price >= 0 and abs(price - exact) < CENT
            assert kept == Counter({id(line): line.quantity for line in quote.lines})


def test_the_converted_order_shows_the_quote_total(en_client, db_session):
    s = db_session
    product = make_product(s, price="99.99", unit="台")
    quote = to_state(s, make_quote(s, lines=[(product, 7)], discount="12.50"), "accepted")
    am = en_client("account_manager")
    response = am.post("/admin/quote/convert/", data={"id": str(quote.id)})
    assert response.status_code == 302
    order = s.execute(select(Order).where(Order.quote_id == quote.id)).scalar_one()
    assert sorted((line.quantity, line.unit_price) for line in order.lines) == [
        (1, Decimal("87.50")),
        (6, Decimal("87.49")),
    ]
    details = am.get(f"/admin/order/details/?id={order.id}").get_data(as_text=True)
    assert "¥612.44" in details
    listed = am.get("/admin/order/").get_data(as_text=True)
    assert [money(cell) for cell in cells(listed, "total")] == [Decimal("612.44")]
    assert re.search(r"¥612\.44", am.get(f"/admin/quote/details/?id={quote.id}").get_data(as_text=True))
