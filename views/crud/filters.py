"""Filters: Money and local date-time filters, choices read at render time, the
converter for our column types and the view's filter methods.
"""

from __future__ import annotations

from flask import flash, request
from flask_admin.contrib.sqla import filters as sqla_filters
from flask_admin.model import filters as model_filters
from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer
from sqlalchemy import inspect as sa_inspect

from models import db
from models.base import to_money

from ..helpers import INT64_MAX, db_int
from .fields import choice_filters
from .forms import to_utc
from .labels import attr_info
from .paging import cached_options, filter_options_kind
from .scope import choice_clause


class _MoneyValue:
    def validate(self, value):
        try:
            amount = to_money(value)
        except (ValueError, TypeError, ArithmeticError):  # ArithmeticError: 1e30 cannot be quantized
            return False
        return amount is not None and abs(amount) * 100 <= INT64_MAX  # fits the fen column

    def clean(self, value):
        return to_money(value)


class MoneyEqualFilter(_MoneyValue, sqla_filters.FilterEqual):
    pass


class MoneyGreaterFilter(_MoneyValue, sqla_filters.FilterGreater):
    pass


class MoneySmallerFilter(_MoneyValue, sqla_filters.FilterSmaller):
    pass


class LazyOptions:
    """Filter choices read when the list page renders (Flask-Admin caches a filter's
    options at start-up, outside any request, user or data scope)."""

    def __init__(self, load, cached=None):
        # cached: the small table the options come from (kept per process, views/crud/paging.py)
        self.load = (lambda: cached_options(cached, load)) if cached is not None else load

    def __bool__(self):
        return True

    def __iter__(self):
        return iter(self.load())


def _choice_options(choices) -> LazyOptions:
    choices = list(choices.items()) if isinstance(choices, dict) else list(choices)
    return LazyOptions(lambda: [(key, str(text)) for key, text in choices])


def status_filter(column, choices, label=None):
    """One drop-down of a column's choices — ``(code, label)`` pairs, e.g. the workflow
    states — translated when the list renders; labelled "Status" unless told."""
    return sqla_filters.FilterEqual(column, label or _l("Status"), options=_choice_options(choices))


def status_not_filter(column, choices, label=None):
    """ "Status is not" one of a column's choices (orders that are not cancelled,
    opportunities that are not archived) — the records behind a report's figures."""
    return sqla_filters.FilterNotEqual(column, label or _l("Status"), options=_choice_options(choices))


class _LocalTime:
    """Filter values are typed in the display time zone; the column holds UTC."""

    def clean(self, value):
        cleaned = super().clean(value)
        return [to_utc(v) for v in cleaned] if isinstance(cleaned, list) else to_utc(cleaned)


LOCAL_DATETIME_FILTERS = [
    type(f"Local{cls.__name__}", (_LocalTime, cls), {})
    for cls in (
        sqla_filters.DateTimeEqualFilter,
        sqla_filters.DateTimeNotEqualFilter,
        sqla_filters.DateTimeGreaterFilter,
        sqla_filters.DateTimeSmallerFilter,
        sqla_filters.DateTimeBetweenFilter,
        sqla_filters.DateTimeNotBetweenFilter,
    )
] + [sqla_filters.FilterEmpty]


class CrmFilterConverter(sqla_filters.FilterConverter):
    """Filters for our column types: UTC datetimes in local time, Money in yuan."""

    @model_filters.convert("utcdatetime")
    def conv_utc_datetime(self, column, name, **kwargs):
        return [f(column, name, **kwargs) for f in LOCAL_DATETIME_FILTERS]

    @model_filters.convert("money")
    def conv_money(self, column, name, **kwargs):
        return [f(column, name, **kwargs) for f in (MoneyEqualFilter, MoneyGreaterFilter, MoneySmallerFilter)]


def _fits_database(flt, value) -> bool:
    """Whether a filter's cleaned value (an int, or a list of ints — or digits, for a
    filter on an integer column that converts them itself) fits a 64-bit column."""
    try:
        cleaned = flt.clean(value)
    except (ValueError, TypeError, ArithmeticError):
        return False
    integer_column = isinstance(getattr(getattr(flt, "column", None), "type", None), Integer)
    for item in cleaned if isinstance(cleaned, list | tuple) else [cleaned]:
        if isinstance(item, bool):
            continue
        if (
            isinstance(item, int) or (integer_column and isinstance(item, str) and item.strip().lstrip("+-").isdigit())
        ) and db_int(item) is None:
            return False
    return True


class FiltersMixin:
    """List filters: relationship drop-downs in scope, values checked before the database."""

    filter_converter = CrmFilterConverter()

    named_filter_urls = True

    def scaffold_filters(self, name):
        """A filter named after a many-to-one relationship ("department") is one
        drop-down of the related rows (in scope), labelled like the column — instead of
        Flask-Admin's filters over every column of the related table."""
        rel = sa_inspect(self.model).relationships.get(name) if isinstance(name, str) else None
        choices = attr_info(getattr(self.model, name, None)).get("choices") if isinstance(name, str) else None
        if rel is None and choices and hasattr(getattr(self.model, name), "property"):
            label = self.column_labels.get(name) or self.get_column_name(name)
            return choice_filters(getattr(self.model, name), label, choices)
        if rel is None or rel.uselist or len(rel.local_columns) != 1:
            return super().scaffold_filters(name)
        column = next(iter(rel.local_columns))
        target = rel.mapper.class_
        label = self.column_labels.get(name) or self.get_column_name(name)

        def options():
            query = db.session.query(target)
            clause = choice_clause(target)
            if clause is not None:
                query = query.filter(clause)
            order = [target.sort_order] if hasattr(target, "sort_order") else []
            return [(str(row.id), str(row)) for row in query.order_by(*order, target.id).limit(500)]

        # small tables: a drop-down kept per process; a big table's id is typed (views/crud/paging.py)
        kind = filter_options_kind(target)
        lazy = None if kind == "none" else LazyOptions(options, cached=target if kind == "kept" else None)
        return [
            sqla_filters.IntEqualFilter(column, label, options=lazy),
            sqla_filters.IntNotEqualFilter(column, label, options=lazy),
            sqla_filters.FilterEmpty(column, label),
        ]

    def _get_list_filter_args(self):
        """Flask-Admin's parsing of ``flt…=`` arguments, with one more check: a value the
        filter turns into a number beyond what its column holds (an id past 64 bits)
        is an invalid filter value — flashed and ignored like any other, never sent to
        the database to fail there."""
        if not self._filters:
            return None
        found = []
        for arg, value in request.args.items():
            if not arg.startswith("flt") or "_" not in arg:
                continue
            position, key = arg[3:].split("_", 1)
            if key not in self._filter_args:
                continue
            index, flt = self._filter_args[key]
            if flt.validate(value) and _fits_database(flt, value):
                found.append((position, (index, str(flt.name), value)))
            else:
                flash(self.get_invalid_value_msg(value, flt), "error")
        return [item for _, item in sorted(found, key=lambda pair: pair[0])]
