"""Money type and the model mixins (models/base.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select, text

from models.base import Money, format_money, round_money, to_money


@pytest.mark.parametrize(
    "value, expected",
    [
        ("1234.5", Decimal("1234.50")),
        (Decimal("0.01"), Decimal("0.01")),
        (7, Decimal("7.00")),
        ("1,234.56", Decimal("1234.56")),
        ("-3.10", Decimal("-3.10")),
    ],
)
def test_to_money_accepts_exact_values(value, expected):
    result = to_money(value)
    assert result == expected and result.as_tuple().exponent == -2


@pytest.mark.parametrize(
    "value, error",
    [
        (1.1, TypeError),
        (0.1 + 0.2, TypeError),
        ("1.001", ValueError),
        (Decimal("0.125"), ValueError),
        ("abc", ValueError),
        ("NaN", ValueError),
        ("Infinity", ValueError),
    ],
)
def test_to_money_refuses_floats_and_extra_decimals(value, error):
    with pytest.raises(error):
        to_money(value)


def test_round_money_is_half_up():
    assert round_money(Decimal("0.005")) == Decimal("0.01")
    assert round_money(Decimal("0.05") * Decimal("0.13")) == Decimal("0.01")  # 0.0065
    assert round_money(Decimal("2.675")) == Decimal("2.68")


def test_format_money():
    assert format_money(Decimal("1234.5")) == "¥1,234.50"
    assert format_money(None) == ""


@pytest.fixture
def money_table(app):
    from models import db

    table = Table("money_probe", MetaData(), Column("id", Integer, primary_key=True), Column("amount", Money()))
    with app.app_context():
        table.create(db.engine)
    return table


def test_money_column_stores_fen_and_sums_exactly(app, money_table):
    from models import db

    amounts = [Decimal("0.10"), Decimal("0.20")] * 5000 + [Decimal("12345678.91")]
    with app.app_context():
        db.session.execute(insert(money_table), [{"amount": a} for a in amounts])
        db.session.commit()
        raw = db.session.execute(text("SELECT amount FROM money_probe ORDER BY id LIMIT 2")).scalars().all()
        assert raw == [10, 20]  # integer fen in the database
        total = db.session.execute(select(func.sum(money_table.c.amount))).scalar()
        assert isinstance(total, Decimal)
        assert total == sum(amounts) == Decimal("12347178.91")
        back = db.session.execute(select(money_table.c.amount).where(money_table.c.id == 1)).scalar()
        assert back == Decimal("0.10") and isinstance(back, Decimal)


def test_money_column_refuses_float_and_sub_fen(app, money_table):
    from sqlalchemy.exc import StatementError

    from models import db

    with app.app_context():
        for bad in (1.5, Decimal("1.234")):
            with pytest.raises(StatementError):
                db.session.execute(insert(money_table), [{"amount": bad}])
            db.session.rollback()
        assert db.session.execute(select(func.count()).select_from(money_table)).scalar() == 0
