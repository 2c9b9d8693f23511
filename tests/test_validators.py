"""Unit tests for models.validators on real, hand-verified values (no app, no database).

Every expected value below is hard-coded: the USCCs are published codes of real companies and
each ID / USCC check character was verified by an independent scratch computation, so these
tests do not reuse the module's own algorithm to decide what is valid.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # allow running this file without a project conftest
    sys.path.insert(0, str(ROOT))

from models import validators as v  # noqa: E402

# --- blanks ---------------------------------------------------------------------------------

CHECKERS = [v.mobile, v.phone, v.email, v.zip_code, v.id_card, v.uscc]


@pytest.mark.parametrize("checker", CHECKERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("blank", [None, "", "   "])
def test_blank_returns_none(checker, blank):
    assert checker(blank) is None


def test_every_public_function_has_one_line_docstring():
    for name in v.__all__:
        doc = getattr(v, name).__doc__
        assert doc and "\n" not in doc.strip(), name


# --- unified social credit code (GB 32100-2015) ---------------------------------------------

REAL_USCCS = [
    "914403001922038216",  # Huawei Technologies Co., Ltd.
    "9144030071526726XG",  # Shenzhen Tencent Computer Systems Co., Ltd.
    "91330100799655058B",  # Alibaba (China) Co., Ltd.
    "91110000802100433B",  # Beijing Baidu Netcom Science and Technology Co., Ltd.
    "91110108551385082Q",  # Xiaomi Technology Co., Ltd.
    "91110000600037341L",
    "91110000710925462X",
    "911100001000044477",
]


@pytest.mark.parametrize("code", REAL_USCCS)
def test_uscc_valid(code):
    assert v.uscc(code) == code


@pytest.mark.parametrize("code", REAL_USCCS)
def test_uscc_check_char_helper(code):
    assert v.uscc_check_char(code[:17]) == code[17]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("9144030071526726xg", "9144030071526726XG"),
        ("  91330100799655058b ", "91330100799655058B"),
        ("91110108551385082q", "91110108551385082Q"),
    ],
)
def test_uscc_lowercase_and_spaces_normalised(raw, expected):
    assert v.uscc(raw) == expected


@pytest.mark.parametrize(
    "code",
    [
        "914403001922038217",  # Huawei with wrong check char
        "9144030071526726XH",  # Tencent with wrong check char
        "91330100799655058A",  # Alibaba with wrong check char
        "91110000802100433",  # 17 chars
        "91110000802100433BB",  # 19 chars
        "9144030071526726IG",  # I not allowed
        "9144030071526726OG",  # O not allowed
        "9144030071526726ZG",  # Z not allowed
        "9144030071526726SG",  # S not allowed
        "9144030071526726VG",  # V not allowed
        "91110000-80210043",  # punctuation
        "H1440300192203821X",  # check char right, but H is not a registration authority
        "01440300192203821F",  # check char right, but 0 is not a registration authority
        "９１１１０１０８５５１３８５０８２Ｑ",  # full-width characters
    ],
)
def test_uscc_invalid(code):
    with pytest.raises(ValueError):
        v.uscc(code)


def test_uscc_error_message_says_what_is_expected():
    with pytest.raises(ValueError, match="18-character"):
        v.uscc("9144030071526726IG")
    with pytest.raises(ValueError, match="check character"):
        v.uscc("914403001922038217")


@pytest.mark.parametrize("bad", ["9144030019220382", "9144030019220382I1", ""])
def test_uscc_check_char_helper_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        v.uscc_check_char(bad)


# --- resident ID card (GB 11643-1999) -------------------------------------------------------

VALID_IDS = [
    "11010519491231002X",  # the example printed in GB 11643-1999
    "110101199003074477",
    "310104200002291236",  # born 29 Feb 2000 (leap year)
    "440306198510150037",
    "510107190001010017",  # born 1 Jan 1900, the lower bound
    "320583197903011232",
    "310115198812074216",
]


@pytest.mark.parametrize("number", VALID_IDS)
def test_id_card_valid(number):
    assert v.id_card(number) == number


@pytest.mark.parametrize("number", VALID_IDS)
def test_id_card_check_char_helper(number):
    assert v.id_card_check_char(number[:17]) == number[17]


def test_id_card_lowercase_x_upper_cased():
    assert v.id_card(" 11010519491231002x ") == "11010519491231002X"


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("110105194912310021", "check digit"),  # GB example with 1 instead of X
        ("110101199003074478", "check digit"),
        ("110108199902300014", "real birth date"),  # 30 Feb 1999, check digit right
        ("110108199913010012", "real birth date"),  # month 13
        ("440524188001010014", "between 1900 and today"),  # 1880, check digit right
        ("11010820991231001X", "between 1900 and today"),  # 2099, check digit right
        ("11010519491231002", "18-character"),  # 17 chars
        ("11010519491231002XX", "18-character"),  # 19 chars
        ("1101051949123100XX", "18-character"),  # X not in last place
        ("11010519491231002Y", "18-character"),
        ("110105 19491231002X", "18-character"),
    ],
)
def test_id_card_invalid(number, message):
    with pytest.raises(ValueError, match=message):
        v.id_card(number)


def test_id_card_birth_date_today_allowed_tomorrow_not():
    from models import clock

    today = clock.today()  # the configured zone's today (Asia/Shanghai), as the validator reads it
    first17 = "110105" + today.strftime("%Y%m%d") + "001"
    number = first17 + v.id_card_check_char(first17)
    assert v.id_card(number) == number
    future = "110105" + date.fromordinal(today.toordinal() + 1).strftime("%Y%m%d") + "001"
    with pytest.raises(ValueError, match="between 1900 and today"):
        v.id_card(future + v.id_card_check_char(future))


@pytest.mark.parametrize("bad", ["1101051949123100", "1101051949123100X2", "abc"])
def test_id_card_check_char_helper_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        v.id_card_check_char(bad)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("11010519491231002X", "1101**********002X"),
        ("11010519491231002x", "1101**********002X"),
        ("440306198510150037", "4403**********0037"),
        (None, ""),
        ("", ""),
    ],
)
def test_masked_id_card(raw, expected):
    assert v.masked_id_card(raw) == expected


def test_masked_id_card_keeps_length():
    assert len(v.masked_id_card("310115198812074216")) == 18


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("110105491231002", "1101*******1002"),  # legacy 15-digit number
        ("12345678", "********"),  # too short to keep both ends: mask everything
    ],
)
def test_masked_id_card_other_lengths(raw, expected):
    assert v.masked_id_card(raw) == expected


# --- mobile ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "13800138000"),
        ("  13800138000 ", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("+8613800138000", "13800138000"),
        ("8613800138000", "13800138000"),
        ("138 0013 8000", "13800138000"),
        ("199-1234-5678", "19912345678"),
        ("+14155552671", "+14155552671"),
        ("+1 415-555-2671", "+14155552671"),
        ("+44 7911 123456", "+447911123456"),
    ],
)
def test_mobile_valid(raw, expected):
    assert v.mobile(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "12345678901",  # second digit 2
        "10012345678",  # second digit 0
        "1380013800",  # 10 digits
        "138001380001",  # 12 digits
        "+1 555",
        "+1 555 555 5555",  # possible length, but 555 is not a North American area code
        "+1 415 055 2671",  # exchange may not start with 0
        "+86 10 12345678",  # +86 landline is not a mobile
        "010-12345678",  # landline
        "4155552671",  # international without +
        "abc",
        "１３８００１３８０００",  # full-width digits
    ],
)
def test_mobile_invalid(raw):
    with pytest.raises(ValueError, match="mainland mobile"):
        v.mobile(raw)


# --- phone ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("010-12345678", "010-12345678"),
        ("0755-1234567", "0755-1234567"),
        ("0755-12345678", "0755-12345678"),
        ("(021)12345678", "(021)12345678"),
        ("(0755) 8888 6666", "(0755) 8888 6666"),
        ("021 1234 5678", "021 1234 5678"),
        ("01012345678", "01012345678"),
        (" 010-12345678-123 ", "010-12345678-123"),
        ("0755-1234567转8001", "0755-1234567转8001"),
        ("021-12345678 转 12", "021-12345678 转 12"),
        ("13800138000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("+86 10 1234 5678", "+861012345678"),
        ("+14155552671", "+14155552671"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_phone_valid(raw, expected):
    assert v.phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "abc",
        "12345",
        "010-1234",  # subscriber too short
        "021-1234567",  # 3-digit area code needs 8 digits
        "0755-123456",  # 6-digit subscriber
        "0755-123456789",  # 9-digit subscriber
        "10-12345678",  # area code must start with 0
        "010-12345678-",  # dangling extension separator
        "010-12345678-1234567",  # extension too long
        "(010-12345678",
        "12345678901",
        "+1 555",
        "+1 200 555 0100",  # possible length, but not a valid number
        "call me",
    ],
)
def test_phone_invalid(raw):
    with pytest.raises(ValueError, match="landline"):
        v.phone(raw)


# --- e-mail ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("alice@example.com", "alice@example.com"),
        ("Alice@Example.COM", "Alice@example.com"),  # domain lower-cased, local part kept
        ("  bob.smith+crm@mail.example.org ", "bob.smith+crm@mail.example.org"),
        ("zhang.san@sub.example.cn", "zhang.san@sub.example.cn"),
    ],
)
def test_email_valid(raw, expected):
    assert v.email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "alice",
        "alice@",
        "@example.com",
        "alice@@example.com",
        "alice@example",
        "a b@example.com",
        "alice@example..com",
        "alice.@example.com",
    ],
)
def test_email_invalid(raw):
    with pytest.raises(ValueError, match="valid email address"):
        v.email(raw)


# --- postal code ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("100000", "100000"), (" 518057 ", "518057"), ("000000", "000000")],
)
def test_zip_code_valid(raw, expected):
    assert v.zip_code(raw) == expected


@pytest.mark.parametrize("raw", ["10000", "1000000", "10000a", "100 000", "１０００００"])
def test_zip_code_invalid(raw):
    with pytest.raises(ValueError, match="6 digits"):
        v.zip_code(raw)
