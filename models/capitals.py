"""大写金额 — an amount of yuan in Chinese capital numerals, as printed on quotes, orders,
contracts and receipt vouchers (issue 14).

Written by the rules of the People's Bank's 《支付结算办法》 (the way a bank or an auditor
reads them):

* digits 零壹贰叁肆伍陆柒捌玖, units 拾佰仟 within a group of four, 万 and 亿 above it
  (10¹² is 壹万亿); a ten is always 壹拾 (壹拾元, 壹拾万), never 拾;
* zeros between non-zero digits, inside a group or across groups, are written as one 零;
  zeros at the end of the yuan part are not written (壹仟陆佰捌拾元);
* 角 zero with 分 not zero: 零 after 元 (壹万陆仟肆佰零玖元零贰分); no 分: 整 at the end
  (壹元整, 壹拾伍元伍角整); 分 written: no 整;
* no yuan: the 角 and 分 only (伍角叁分); nothing at all: 零元整; below zero: 负 first.

The amount is exact: a ``Decimal`` (or int, or a numeric string) rounded half-up to the fen.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

DIGITS = "零壹贰叁肆伍陆柒捌玖"
UNITS = ("", "拾", "佰", "仟")
LIMIT = 10**16  # up to 万亿 (9,999 万亿 yuan)


def _group(value: int) -> str:
    """0 < value < 10,000: its digits with 仟佰拾, inner zeros as one 零, trailing zeros dropped."""
    text, zero = "", False
    for power in (3, 2, 1, 0):
        digit = value // 10**power % 10
        if digit == 0:
            zero = bool(text)  # a zero after a digit: one 零 if another digit follows
            continue
        if zero:
            text += "零"
            zero = False
        text += DIGITS[digit] + UNITS[power]
    return text


def _yuan(value: int) -> str:
    """The whole yuan (value > 0): what stands before 亿 (or 万) is itself a number of yuan
    (1,2345,0000,0000 → 壹万贰仟叁佰肆拾伍亿); a zero where the lower part begins is one 零."""
    for size, unit in ((10**8, "亿"), (10**4, "万")):
        if value >= size:
            high, low = divmod(value, size)
            text = _yuan(high) + unit
            if low:
                text += ("零" if low < size // 10 else "") + _yuan(low)
            return text
    return _group(value)


def rmb_capital(amount) -> str:
    """``Decimal("12345.67")`` → 壹万贰仟叁佰肆拾伍元陆角柒分."""
    fen = int((Decimal(str(amount)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    sign = "负" if fen < 0 else ""
    fen = abs(fen)
    if fen >= LIMIT * 100:
        raise ValueError(f"amount too large for capital numerals: {amount}")
    yuan, jiao, cents = fen // 100, fen // 10 % 10, fen % 10
    if fen == 0:
        return "零元整"
    text = _yuan(yuan) + "元" if yuan else ""
    if jiao:
        text += DIGITS[jiao] + "角"
    elif cents and yuan:
        text += "零"
    if cents:
        text += DIGITS[cents] + "分"
    else:
        text += "整"
    return sign + text
