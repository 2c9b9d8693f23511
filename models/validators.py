"""Field checkers shared by forms, the flush hook, CLI and imports (pure functions, no Flask).

Each checker takes a string and returns the normalised value, or raises ``ValueError`` with a
short English message saying what is expected; the messages are marked with ``N_`` so that
they are in the catalogues, and the callers show them translated
(``models.base.checker_message``). ``None`` and blank strings return ``None``:
whether a field may be empty is decided elsewhere (``nullable`` / form ``DataRequired``).
"""

from __future__ import annotations

import re
from datetime import date

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from . import clock


def N_(message: str) -> str:  # noqa: N802 - the usual name of a gettext no-op marker
    """Mark an English message for the catalogues without translating it here."""
    return message


__all__ = [
    "email",
    "id_card",
    "id_card_check_char",
    "masked_id_card",
    "mobile",
    "phone",
    "uscc",
    "uscc_check_char",
    "website",
    "zip_code",
]

# --- mainland mobile / landline -------------------------------------------------------------

_MOBILE_RE = re.compile(r"1[3-9]\d{9}", re.ASCII)
_MOBILE_MSG = N_("must be a mainland mobile (11 digits starting 13–19) or an international number starting with +")
_PHONE_MSG = N_(
    "must be a mainland mobile (11 digits starting 13–19), a landline with area code "
    "(e.g. 010-12345678, 0755-1234567, optional extension -123 or 转123) "
    "or an international number starting with +"
)

# Area code: 010 and 02x take an 8-digit subscriber number; other 0xxx codes take 7 or 8 digits.
# The area code may be parenthesised; separators are a space or a hyphen.
_LANDLINE_RE = re.compile(
    r"""
    (?:
        (?:\(0(?:10|2\d)\)|0(?:10|2\d)) [\s-]?
        (?:\d{8}|\d{4}[\s-]\d{4})
    |
        (?:\(0[3-9]\d{2}\)|0[3-9]\d{2}) [\s-]?
        (?:\d{7,8}|\d{3,4}[\s-]\d{4})
    )
    (?:\s*(?:-|转|ext\.?|x)\s*\d{1,6})?
    """,
    re.VERBOSE | re.IGNORECASE | re.ASCII,
)


def _clean(value) -> str | None:
    """Strip the value; ``None`` for None / blank."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _mainland_mobile(text: str) -> str | None:
    """The 11-digit mainland mobile in ``text`` (spaces, hyphens, +86/86 allowed), else None."""
    digits = re.sub(r"[\s-]", "", text)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits if _MOBILE_RE.fullmatch(digits) else None


def _international(text: str) -> str | None:
    """E.164 form of ``text`` if it starts with + and phonenumbers says it is valid, else None."""
    if not text.startswith("+"):
        return None
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _telephone(value, message: str, local) -> str | None:
    """A mainland mobile (11 digits), else what ``local(text)`` accepts, else an
    international number (E.164); refused with ``message`` otherwise."""
    text = _clean(value)
    if text is None:
        return None
    found = _mainland_mobile(text) or local(text) or _international(text)
    if found:
        return found
    raise ValueError(message)


def _not_plus86(text: str) -> None:
    """+86 numbers must be mainland mobiles here; landlines belong in phone()."""
    if re.sub(r"[\s-]", "", text).startswith("+86"):
        raise ValueError(_MOBILE_MSG)


def mobile(value: str | None) -> str | None:
    """Mainland mobile (normalised to 11 digits) or a valid international number (E.164)."""
    return _telephone(value, _MOBILE_MSG, _not_plus86)


def phone(value: str | None) -> str | None:
    """Mainland mobile, mainland landline (kept as typed) or valid international number."""
    return _telephone(value, _PHONE_MSG, lambda text: text if _LANDLINE_RE.fullmatch(text) else None)


# --- e-mail / postal code -------------------------------------------------------------------


def email(value: str | None) -> str | None:
    """Syntactically valid e-mail address, returned in normalised form."""
    text = _clean(value)
    if text is None:
        return None
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(N_("must be a valid email address like name@example.com")) from exc
    return result.normalized


def zip_code(value: str | None) -> str | None:
    """Mainland postal code: exactly 6 digits."""
    text = _clean(value)
    if text is None:
        return None
    if not re.fullmatch(r"\d{6}", text, re.ASCII):
        raise ValueError(N_("must be a postal code of exactly 6 digits"))
    return text


# --- web address ----------------------------------------------------------------------------

_HOST_RE = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
    r"(?::\d{1,5})?",
    re.ASCII,
)
_WEBSITE_MSG = N_("must be a web address starting with http:// or https:// (e.g. https://www.example.com)")


def website(value: str | None) -> str | None:
    """A web address on http or https only, or a plain host name like ``www.example.com``."""
    # a javascript:, data: or file: link would run or open something when clicked
    text = _clean(value)
    if text is None:
        return None
    if any(ch.isspace() or ord(ch) < 32 for ch in text):
        raise ValueError(_WEBSITE_MSG)
    match = re.match(r"(?i)https?://", text)
    rest = text[match.end() :] if match else text
    host = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in host or not _HOST_RE.fullmatch(host):
        raise ValueError(_WEBSITE_MSG)
    return text


# --- resident ID card (GB 11643-1999) -------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_MSG = N_("must be an 18-character resident ID number (17 digits + check digit 0-9 or X)")


def id_card_check_char(first17: str) -> str:
    """Check character (0-9 or X) of a resident ID given its first 17 digits."""
    if not re.fullmatch(r"\d{17}", first17 or "", re.ASCII):
        raise ValueError(N_("must be exactly 17 digits"))
    total = sum(int(ch) * w for ch, w in zip(first17, _ID_WEIGHTS, strict=False))
    return _ID_CHECK[total % 11]


def id_card(value: str | None) -> str | None:
    """18-character mainland resident ID with valid birth date and check character (upper-cased)."""
    text = _clean(value)
    if text is None:
        return None
    text = text.upper()
    if not re.fullmatch(r"\d{17}[\dX]", text, re.ASCII):
        raise ValueError(_ID_MSG)
    try:
        born = date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        raise ValueError(N_("resident ID must contain a real birth date (digits 7–14, YYYYMMDD)")) from None
    if born.year < 1900 or born > clock.today():
        raise ValueError(N_("resident ID birth date (digits 7–14) must be between 1900 and today"))
    if id_card_check_char(text[:17]) != text[17]:
        raise ValueError(N_("resident ID check digit is wrong (last character)"))
    return text


def masked_id_card(value: str | None) -> str:
    """ID number with all but the first 4 and last 4 characters replaced by ``*``."""
    text = _clean(value)
    if text is None:
        return ""
    text = text.upper()
    if len(text) <= 8:
        return "*" * len(text)
    return text[:4] + "*" * (len(text) - 8) + text[-4:]


# --- unified social credit code (GB 32100-2015) ---------------------------------------------

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_AUTHORITIES = "123456789ABCDEFGNY"
_USCC_MSG = N_("must be an 18-character unified social credit code (digits and capital letters except I, O, Z, S, V)")


def uscc_check_char(first17: str) -> str:
    """Check character of a unified social credit code given its first 17 characters."""
    first17 = (first17 or "").upper()
    if len(first17) != 17 or any(ch not in USCC_CHARSET for ch in first17):
        raise ValueError(N_("must be 17 characters from digits and capital letters except I, O, Z, S, V"))
    total = sum(USCC_CHARSET.index(ch) * w for ch, w in zip(first17, _USCC_WEIGHTS, strict=False))
    return USCC_CHARSET[(31 - total % 31) % 31]


def uscc(value: str | None) -> str | None:
    """18-character unified social credit code with a valid check character (upper-cased)."""
    text = _clean(value)
    if text is None:
        return None
    text = text.upper()
    if len(text) != 18 or any(ch not in USCC_CHARSET for ch in text):
        raise ValueError(_USCC_MSG)
    if text[0] not in _USCC_AUTHORITIES:
        raise ValueError(N_("unified social credit code must start with one of 123456789ABCDEFGNY"))
    if uscc_check_char(text[:17]) != text[17]:
        raise ValueError(N_("unified social credit code check character is wrong (last character)"))
    return text
