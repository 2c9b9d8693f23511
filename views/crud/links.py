"""List and details values: formatting, choice labels, masking; HTML escaping."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask_admin.model import typefmt
from flask_babel import format_date, format_datetime
from markupsafe import Markup, escape

from models.base import format_money

from .labels import attr_info


def esc(value) -> Markup:
    """Escape user data for formatters that build HTML."""
    return escape(value)


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
