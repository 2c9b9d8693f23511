"""CSV and XLSX list exports, streamed: the rows the list shows (scope, filters, search,
sort), read in chunks from a server-side cursor and written as they come — through the
one CSV writer, or openpyxl's write-only sheet — so memory stays flat at any row count.

Each column's value function is resolved once per export (formatter or attribute path,
choice labels translated once, the mask rule for this user, type formatters by type),
then applied to every row. Up to the ``export_sync_rows`` setting the download streams
in the request; a larger export is never cut: it runs as a background job (``run-jobs``)
whose file the requester downloads from "My exports" (views/exports.py)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from flask import current_app, flash, redirect, request, send_file, stream_with_context, url_for
from flask_admin import expose
from flask_admin.model import typefmt
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy.orm import joinedload

from models import clock, db, settings
from models.base import Money
from reports.csvfile import csv_chunks
from reports.render import write_table_xlsx

from ..helpers import attachment
from .labels import attr_info, mask_value
from .scope import eager_option

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MIMETYPES = {"csv": "text/csv", "xlsx": XLSX_MIMETYPE}
#: rows fetched from the cursor at a time (and between two progress beats of a job)
CHUNK_ROWS = 1000
_UNSET = object()


@dataclass
class ExportColumn:
    """One exported column, resolved once: its label, kind and value function."""

    name: str
    label: str
    kind: str
    value: object  # model → cell value


def _path_getter(name: str):
    """``model.a.b`` (None as soon as a step is None), as Flask-Admin's rec_getattr."""
    parts = name.split(".")

    def get(model):
        for part in parts:
            model = getattr(model, part, None)
            if model is None:
                return None
        return model

    return get


def _by_type(formatters, view, name):
    """The column's type formatter, looked up once per value type (as Flask-Admin: the
    first declared type the value is an instance of)."""
    found: dict = {}

    def apply(value):
        formatter = found.get(type(value), _UNSET)
        if formatter is _UNSET:
            formatter = next((f for kind, f in formatters.items() if isinstance(value, kind)), None)
            found[type(value)] = formatter
        return value if formatter is None else formatter(view, value, name)

    return apply


def _remembered(function, limit: int = 1000):
    """``function`` of a label step remembered per value (statuses: a few distinct values,
    so each is translated once per export, not once per row)."""
    seen: dict = {}

    def apply(value):
        try:
            return seen[value]
        except KeyError:
            result = function(value)
            if len(seen) < limit:
                seen[value] = result
            return result
        except TypeError:  # unhashable
            return function(value)

    return apply


class ExportMixin:
    """Streamed CSV and XLSX list exports: masked cells, never a formula, named after the
    list and the local time (``企业客户-20261201-203015.xlsx``); big ones as a job."""

    export_types = ["csv", "xlsx"]
    export_template = "admin/crm/export_large.html"

    column_type_formatters_export = {
        **typefmt.EXPORT_FORMATTERS,
        Decimal: lambda view, value, name: value,
        datetime: lambda view, value, name: clock.to_local(value).strftime("%Y-%m-%d %H:%M:%S"),
        date: lambda view, value, name: value.isoformat(),
        bool: lambda view, value, name: "1" if value else "0",
    }
    #: XLSX cells keep their type (amounts, counts, dates); datetimes as local wall-clock time
    column_type_formatters_xlsx = {
        **typefmt.EXPORT_FORMATTERS,
        type(None): lambda view, value, name: None,
        datetime: lambda view, value, name: clock.to_local(value).replace(tzinfo=None),
    }

    def masked(self, name: str, value):
        return mask_value(self.model, name, value)

    def export_value_steps(self) -> dict:
        """column → a function of its value applied after the choice labels (a workflow's
        state labels); declared by mixins, applied once per distinct value."""
        return {}

    # -- the page ----------------------------------------------------------------
    @expose("/export/<export_type>/", methods=("GET", "POST"))
    def export(self, export_type):
        """Stream the list as ``export_type``; above ``export_sync_rows`` rows offer (GET)
        and queue (POST) a background export instead of cutting the file."""
        if not self.can_export or export_type not in self.export_types:
            flash(gettext("Permission denied."), "error")
            return redirect(self.get_url(".index_view"))
        query = self.export_query()
        limit = settings.export_sync_rows()
        if (
            len(query.enable_eagerloads(False).with_entities(self.model.id).order_by(None).limit(limit + 1).all())
            <= limit
        ):
            return self.stream_export(export_type, query)
        if request.method == "POST":
            from ..exports import queue_export

            job = queue_export(self, export_type)
            db.session.commit()
            flash(gettext("The export is being prepared in the background; download it here when it is ready."))
            return redirect(url_for("my_exports.index_view", job=job.id))
        return self.render(self.export_template, export_type=export_type, limit=limit)

    # -- the rows ------------------------------------------------------------------
    def export_query(self):
        """The list's query as the request asks for it (scope, recycle bin, filters,
        search, sort), with no count and no page: every matching row."""
        args = self._get_list_extra_args()
        sort = self._get_column_by_idx(args.sort)
        query, joins = self.get_query(), {}
        if self._search_supported and args.search:
            query, _, joins, _ = self._apply_search(query, None, joins, {}, args.search)
        if args.filters and self._filters:
            query, _, joins, _ = self._apply_filters(query, None, joins, {}, args.filters)
        for join in self._auto_joins:
            query = query.options(joinedload(join))
        query = query.options(*self._export_eager())
        query, joins = self._apply_sorting(query, joins, sort[0] if sort else None, args.sort_desc)
        return query

    def _export_eager(self):
        """Eager loads of the export's related columns not loaded with the list (no N+1)."""
        covered = {join.key for join in self._auto_joins}
        covered |= {str(name).split(".")[0] for name in self.column_list or () if isinstance(name, str)}
        covered |= {item.split(".")[0] for item in self.list_eager if isinstance(item, str)}
        options = []
        for name, _ in self._export_columns:
            cls, path = self.model, []
            for part in str(name).split("."):
                target = getattr(getattr(getattr(cls, part, None), "property", None), "mapper", None)
                if target is None:
                    break
                path.append(part)
                cls = target.class_
            if path and path[0] not in covered:
                covered.add(path[0])
                options.append(eager_option(self.model, ".".join(path)))
        return options

    def export_columns(self, export_type: str) -> list[ExportColumn]:
        """The exported columns with their value functions, resolved once."""
        formatters = self.column_type_formatters_xlsx if export_type == "xlsx" else self.column_type_formatters_export
        steps = self.export_value_steps()
        return [
            ExportColumn(name, str(label), self.export_kind(name), self._value_function(name, formatters, steps))
            for name, label in self._export_columns
        ]

    def _value_function(self, name, type_formatters, steps):
        """What the list's value chain does to a cell (formatter or attribute, choices,
        type formatter, mask, choice label, state label, mask), decided once."""
        formatter = self.column_formatters_export.get(name)
        get = (lambda model: formatter(self, None, model, name)) if formatter else _path_getter(name)
        fa_choices = {k: str(v) for k, v in (self._column_choices_map.get(name) or {}).items()}
        typed = _by_type(type_formatters, self, name)
        info = attr_info(getattr(self.model, name, None)) if "." not in name else {}
        right = info.get("sensitive_right", "")
        mask = info.get("mask") if info.get("mask") and not current_user.can(right) else None
        labels = {k: str(v) for k, v in dict(info.get("choices") or ()).items()} if formatter is None else {}
        step = _remembered(steps[name]) if name in steps else None

        def value(model):
            cell = get(model)
            cell = (fa_choices.get(cell) or cell) if fa_choices else typed(cell)
            if formatter is None:
                if mask and cell:
                    cell = mask(cell)
                if labels and cell is not None:
                    cell = labels.get(cell, cell)
            if step and cell:
                cell = step(cell)
            return mask(cell) if mask and cell else cell  # as every export did, formatters too

        return value

    def export_rows(self, query, columns, progress=None):
        """The cell rows of ``query``, fetched :data:`CHUNK_ROWS` at a time (a server-side
        cursor on PostgreSQL); ``progress(rows so far)`` after every chunk."""
        functions = [column.value for column in columns]
        count = 0
        for model in query.yield_per(CHUNK_ROWS):
            yield [function(model) for function in functions]
            count += 1
            if progress is not None and count % CHUNK_ROWS == 0:
                progress(count)

    def write_export(self, export_type, query, target, progress=None) -> int:
        """Write the export to the binary file ``target``; returns the rows written."""
        columns = self.export_columns(export_type)
        written = [0]

        def counted():
            for row in self.export_rows(query, columns, progress):
                written[0] += 1
                yield row

        if export_type == "xlsx":
            write_table_xlsx(str(self.name), [(c.label, c.kind) for c in columns], counted(), target)
        else:
            for chunk in csv_chunks(_chained([[c.label for c in columns]], counted()), CHUNK_ROWS):
                target.write(chunk)
        return written[0]

    def stream_export(self, export_type, query):
        """The download inside the request: CSV streamed chunk by chunk, XLSX through a
        temporary file (a zip is only complete at its end)."""
        headers = {"Content-Disposition": self.export_disposition(export_type)}
        if export_type == "xlsx":
            target = tempfile.TemporaryFile()
            self.write_export("xlsx", query, target)
            target.seek(0)
            response = send_file(target, mimetype=XLSX_MIMETYPE, max_age=0)
            response.headers.update(headers)
            return response
        columns = self.export_columns("csv")
        header = [[c.label for c in columns]]
        body = stream_with_context(csv_chunks(_chained(header, self.export_rows(query, columns)), CHUNK_ROWS))
        return current_app.response_class(body, mimetype="text/csv", headers=headers)

    def export_kind(self, name: str) -> str:
        """``"money"`` for a column of the Money type (the ¥ format), else ``"value"``."""
        attr = getattr(self.model, name, None) if "." not in name else None
        columns = getattr(getattr(attr, "property", None), "columns", None) or [None]
        return "money" if isinstance(getattr(columns[0], "type", None), Money) else "value"

    def get_export_name(self, export_type: str = "csv") -> str:
        """``<list>-<local date and time>.<ext>`` (the list's name in the UI language)."""
        return f"{self.name}-{clock.local_now():%Y%m%d-%H%M%S}.{export_type}"

    def export_fallback_name(self, export_type: str) -> str:
        """The ASCII name of the export: the endpoint for the list's name."""
        name = self.get_export_name(export_type)
        return f"{self.endpoint}_{name[len(str(self.name)) + 1 :]}"

    def export_disposition(self, export_type: str) -> str:
        """The export's file name, with the endpoint as its ASCII fallback
        (``client_20261201-203015.csv``) when the list's name is not plain ASCII."""
        return attachment(self.get_export_name(export_type), self.export_fallback_name(export_type))


def more_than(query, model, limit: int) -> bool:
    """Whether ``query`` has more than ``limit`` rows (reads at most limit + 1 ids)."""
    ids = query.enable_eagerloads(False).with_entities(model.id).order_by(None).limit(limit + 1)
    return len(ids.all()) > limit


def _chained(first, rest):
    yield from first
    yield from rest


__all__ = ["ExportColumn", "ExportMixin", "more_than"]
