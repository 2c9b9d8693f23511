"""The fields of the forms mechanism: one date field, one date-time field and one choice
field (and its filters), used by every model form through ``CrmModelConverter``.

Dates are typed as ``YYYY-MM-DD`` / ``YYYY-MM-DD HH:MM[:SS]`` or picked; the picker
(``static/crm.js`` over Flask-Admin's bundled bootstrap-daterangepicker) only writes into
the field when a date is picked, opens on the server's "now" in the configured time zone
and speaks the UI language (``picker_locale``)."""

from __future__ import annotations

from datetime import datetime

from flask_babel import get_locale, gettext
from wtforms import fields, validators
from wtforms.widgets import TextInput

from models import clock

#: what a clerk may type (the first is how a value is shown)
DATE_FORMATS = ("%Y-%m-%d",)
DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M")


class PickerWidget(TextInput):
    """A text input the picker in ``static/crm.js`` attaches to (not Flask-Admin's
    ``datepicker`` roles, whose script rewrites the field on every key press)."""

    def __init__(self, role: str, moment_format: str, placeholder: str):
        super().__init__()
        self.role, self.moment_format, self.placeholder = role, moment_format, placeholder

    def __call__(self, field, **kwargs):
        kwargs.setdefault("data-role", self.role)
        kwargs.setdefault("data-date-format", self.moment_format)
        kwargs.setdefault("data-now", clock.local_now().strftime("%Y-%m-%d %H:%M:%S"))
        kwargs.setdefault("placeholder", self.placeholder)
        kwargs.setdefault("autocomplete", "off")
        return super().__call__(field, **kwargs)


def _typed(valuelist, formats, message) -> datetime | None:
    """The value typed into a date or date-time field, read with the first format that
    fits; nothing typed → None; anything else → ``message`` (naming the format)."""
    text = " ".join(valuelist).strip() if valuelist else ""
    if not text:
        return None
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(message)


class CrmDateField(fields.DateField):
    """A date typed as YYYY-MM-DD (or picked); anything else is a field error that names
    the format, in the user's language."""

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("widget", PickerWidget("crm-date", "YYYY-MM-DD", "YYYY-MM-DD"))
        super().__init__(label, validators, format=list(DATE_FORMATS), **kwargs)

    def process_formdata(self, valuelist):
        self.data = None
        typed = _typed(valuelist, DATE_FORMATS, gettext("Enter a date as YYYY-MM-DD, e.g. 2026-12-08."))
        self.data = typed.date() if typed else None


class CrmDateTimeField(fields.DateTimeField):
    """A date and time typed as YYYY-MM-DD HH:MM (seconds optional) or picked, read and
    shown in the display time zone; the database keeps UTC."""

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("widget", PickerWidget("crm-datetime", "YYYY-MM-DD HH:mm:ss", "YYYY-MM-DD HH:MM"))
        super().__init__(label, validators, format=list(DATETIME_FORMATS), **kwargs)

    def _value(self):
        from .forms import to_local

        if self.raw_data:
            return " ".join(self.raw_data)
        return to_local(self.data).strftime(DATETIME_FORMATS[0]) if self.data else ""

    def process_formdata(self, valuelist):
        from .forms import to_utc

        self.data = None
        message = gettext("Enter a date and time as YYYY-MM-DD HH:MM, e.g. 2026-12-08 10:00.")
        typed = _typed(valuelist, DATETIME_FORMATS, message)
        self.data = to_utc(typed) if typed else None


def picker_locale() -> dict:
    """The picker's month and day names and buttons in the UI language (from Babel's
    locale data, the buttons from our catalogue), for ``static/crm.js``."""
    locale = get_locale()
    months = locale.months["stand-alone"]["abbreviated"] if locale else {}
    days = locale.days["stand-alone"]["narrow" if str(locale).startswith("zh") else "short"] if locale else {}
    return {
        # Babel numbers weekdays from Monday (0); the picker's list starts on Sunday
        "daysOfWeek": [days[(i + 6) % 7] for i in range(7)] if days else None,
        "monthNames": [months[i] for i in range(1, 13)] if months else None,
        "firstDay": 1,
        "applyLabel": gettext("Apply"),
        "cancelLabel": gettext("Cancel"),
        "fromLabel": gettext("From"),
        "toLabel": gettext("To"),
    }


def choice_field(column, choices, field_args) -> fields.SelectField:
    """A select of a column's declared choices: the stored code is the value, the label
    stays lazy (translated when the form is drawn, not once when the view is built). A
    column with a default starts on it (a new appointment is 待办); a blank "—" is offered
    only where the column may be empty."""
    field_args.setdefault("choices", list(choices))
    default = column.default.arg if column.default is not None and column.default.is_scalar else None
    if default is not None:
        field_args.setdefault("default", default)
    required = not column.nullable and default is None
    field_args["validators"] = list(field_args.get("validators", [])) + [
        validators.InputRequired() if required else validators.Optional()
    ]
    if column.nullable:
        field_args["choices"] = [("", "—")] + field_args["choices"]
    return fields.SelectField(**field_args)


def choice_filters(column, label, choices) -> list:
    """A column of declared choices is filtered by a drop-down of its translated labels
    (equal / not equal, and empty where it may be empty), not by typing a stored code."""
    from flask_admin.contrib.sqla import filters as sqla_filters
    from sqlalchemy import Integer

    from .filters import LazyOptions

    options = LazyOptions(lambda: [(str(code), str(text)) for code, text in choices])
    numeric = isinstance(column.property.columns[0].type, Integer)
    equal, not_equal = (
        (sqla_filters.IntEqualFilter, sqla_filters.IntNotEqualFilter)
        if numeric
        else (sqla_filters.FilterEqual, sqla_filters.FilterNotEqual)
    )
    found = [equal(column, label, options=options), not_equal(column, label, options=options)]
    if column.property.columns[0].nullable:
        found.append(sqla_filters.FilterEmpty(column, label))
    return found
