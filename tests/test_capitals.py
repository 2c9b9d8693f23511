"""大写金额 (models/capitals.py) against amounts checked by hand by the rules of 《支付结算办法》:
zeros in the middle (one 零), 角 zero with 分 (零 after 元), 分 only, 整, 壹拾, 万 and 亿
groups with zero groups between them, negatives, rounding to the fen."""

from __future__ import annotations

from decimal import Decimal

import pytest

from models.capitals import rmb_capital

CASES = [
    ("0", "零元整"),
    ("0.00", "零元整"),
    ("0.05", "伍分"),
    ("0.50", "伍角整"),
    ("0.53", "伍角叁分"),
    ("1", "壹元整"),
    ("10", "壹拾元整"),
    ("15.50", "壹拾伍元伍角整"),
    ("100.01", "壹佰元零壹分"),
    ("325.04", "叁佰贰拾伍元零肆分"),  # the 办法's own example
    ("1005", "壹仟零伍元整"),
    ("1010", "壹仟零壹拾元整"),
    ("1680.32", "壹仟陆佰捌拾元叁角贰分"),  # the 办法's own example
    ("12345.67", "壹万贰仟叁佰肆拾伍元陆角柒分"),
    ("16409.02", "壹万陆仟肆佰零玖元零贰分"),  # the 办法's own example
    ("100000", "壹拾万元整"),
    ("107000.53", "壹拾万柒仟元伍角叁分"),  # the 办法's own example
    ("1000500", "壹佰万零伍佰元整"),
    ("10000001", "壹仟万零壹元整"),
    ("100000000", "壹亿元整"),
    ("100005000", "壹亿零伍仟元整"),
    ("1000000001", "壹拾亿零壹元整"),
    ("2000340000", "贰拾亿零叁拾肆万元整"),
    ("1234567890123.45", "壹万贰仟叁佰肆拾伍亿陆仟柒佰捌拾玖万零壹佰贰拾叁元肆角伍分"),
    ("1000000000000", "壹万亿元整"),
    ("-3.20", "负叁元贰角整"),
]


@pytest.mark.parametrize(("amount", "expected"), CASES)
def test_capital_numerals(amount, expected):
    assert rmb_capital(Decimal(amount)) == expected


def test_rounding_to_the_fen_and_other_types():
    assert rmb_capital(Decimal("0.005")) == "壹分"  # half up
    assert rmb_capital(Decimal("99.994")) == "玖拾玖元玖角玖分"
    assert rmb_capital(12) == "壹拾贰元整" and rmb_capital("7.7") == "柒元柒角整"


def test_too_large_is_refused():
    with pytest.raises(ValueError):
        rmb_capital(Decimal("1e16"))
