"""List and details values: formatting, choice labels, masking; HTML escaping."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask import url_for
from flask_admin.model import typefmt
from flask_babel import format_date, format_datetime
from flask_login import current_user
from markupsafe import Markup, escape

from models.base import format_money

from .labels import attr_info


def esc(value) -> Markup:
    """Escape user data for formatters that build HTML."""
    return escape(value)


def record_link(attr: str, endpoint: str | None = None, text=str, fallback: str | None = None):
    """A list/details formatter showing the record ``model.<attr>`` as a link to its
    details page — only for users holding ``<endpoint>.view`` (the endpoint defaults to
    ``attr``); others see the text. ``text(record)`` is what is shown (default: str);
    without a record, the model's ``fallback`` attribute (a typed name), if named."""
    target = endpoint or attr

    def formatter(view, context, model, name):
        record = getattr(model, attr, None)
        if record is None:
            return (getattr(model, fallback, None) or "") if fallback else ""
        shown = text(record)
        if not (current_user.is_authenticated and current_user.can(f"{target}.view")):
            return shown
        return Markup('<a href="{}">{}</a>').format(url_for(f"{target}.details_view", id=record.id), shown)

    return formatter


def _filter_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple):  # a "between" filter: "a to b", as Flask-Admin's range widget sends it
        return " to ".join(_filter_value(part) for part in value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def list_url(endpoint: str, filters=(), **args) -> str:
    """The address of the list ``endpoint`` filtered by its own named list filters —
    a drill-through from a figure to the records behind it. ``filters`` is a dict or
    pairs of (filter argument, value), e.g. ``{"client_type_equals": 3, "created_at_between":
    (start, end)}``; the argument names are the list's ``?flt0_<name>=`` keys (a name the
    list does not have raises ``KeyError`` naming the ones it has). ``args`` are further
    query arguments (``sort``, ``search`` …). The list applies the user's scope itself."""
    from views.exports import admin_view

    view = admin_view(endpoint)
    if view is None:
        raise KeyError(f"no list view {endpoint!r}")
    pairs = list(filters.items() if isinstance(filters, dict) else filters)
    known = view._filter_args or {}
    unknown = [name for name, _ in pairs if name not in known]
    if unknown:
        raise KeyError(f"{endpoint} has no list filter {unknown}; it has {sorted(known)}")
    params = {f"flt{n}_{name}": _filter_value(value) for n, (name, value) in enumerate(pairs)}
    return url_for(f"{endpoint}.index_view", **params, **args)


class LinksMixin:
    """How values show in lists and details (money, dates, choices, masked values)."""

    column_type_formatters = {
        **typefmt.BASE_FORMATTERS,
        Decimal: lambda view, value, name: format_money(value),
        datetime: lambda view, value, name: format_datetime(value, "yyyy-MM-dd HH:mm"),
        date: lambda view, value, name: format_date(value, "yyyy-MM-dd"),
        bool: lambda view, value, name: (
            Markup('<span class="fa fa-check text-success"></span>')
            if value
            else Markup('<span class="fa fa-minus text-muted"></span>')
        ),
    }

    column_type_formatters_detail = column_type_formatters

    def _get_list_value(self, context, model, name, column_formatters, column_type_formatters):
        value = super()._get_list_value(context, model, name, column_formatters, column_type_formatters)
        if name in column_formatters:
            return value
        value = self.masked(name, value)
        info = attr_info(getattr(self.model, name, None)) if "." not in name else {}
        if info.get("choices") and value is not None:
            return dict(info["choices"]).get(value, value)
        return value
