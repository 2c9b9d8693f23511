"""CSV and XLSX list exports: the one CSV writer, a typed XLSX sheet, file names in local time."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask import Response
from flask_admin.model import typefmt
from flask_babel import format_datetime

from models import clock
from models.base import Money
from reports.csvfile import csv_bytes, spreadsheet_safe
from reports.render import write_table_xlsx

from ..helpers import attachment
from .labels import mask_value

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ExportMixin:
    """CSV and XLSX list exports: masked cells, never a formula, named after the list and
    the local time (``企业客户-20261201-203015.xlsx``)."""

    export_types = ["csv", "xlsx"]

    export_max_rows = 100_000

    column_type_formatters_export = {
        **typefmt.EXPORT_FORMATTERS,
        Decimal: lambda view, value, name: value,
        datetime: lambda view, value, name: format_datetime(value, "yyyy-MM-dd HH:mm:ss"),
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

    def _export_csv(self, return_url):
        """CSV built inside the request (Flask-Admin streams it after the request ended,
        when the session is gone and unloaded relationships can no longer load), written
        by the one CSV writer (UTF-8 with BOM, CRLF, formulas neutralised)."""
        count, data = self._export_data()
        rows = [[str(label) for _, label in self._export_columns]]
        rows += [[self.get_export_value(row, name) for name, _ in self._export_columns] for row in data]
        return Response(
            csv_bytes(rows), mimetype="text/csv", headers={"Content-Disposition": self.export_disposition("csv")}
        )

    def _export_tablib(self, export_type, return_url):
        if export_type == "xlsx":
            return self._export_xlsx()
        response = super()._export_tablib(export_type, return_url)
        if "Content-Disposition" in response.headers:
            response.headers["Content-Disposition"] = self.export_disposition(export_type)
        return response

    def _export_xlsx(self):
        """One typed sheet: amounts are numbers in the ¥ format, dates and datetimes are
        date cells, counts integers, text never runs as a formula."""
        count, data = self._export_data()
        columns = [(label, self.export_kind(name)) for name, label in self._export_columns]
        rows = [[self.get_xlsx_value(row, name) for name, _ in self._export_columns] for row in data]
        return Response(
            write_table_xlsx(str(self.name), columns, rows),
            mimetype=XLSX_MIMETYPE,
            headers={"Content-Disposition": self.export_disposition("xlsx")},
        )

    def export_kind(self, name: str) -> str:
        """``"money"`` for a column of the Money type (the ¥ format), else ``"value"``."""
        attr = getattr(self.model, name, None) if "." not in name else None
        columns = getattr(getattr(attr, "property", None), "columns", None) or [None]
        return "money" if isinstance(getattr(columns[0], "type", None), Money) else "value"

    def get_export_name(self, export_type: str = "csv") -> str:
        """``<list>-<local date and time>.<ext>`` (the list's name in the UI language)."""
        return f"{self.name}-{clock.local_now():%Y%m%d-%H%M%S}.{export_type}"

    def export_disposition(self, export_type: str) -> str:
        """The export's file name, with the endpoint as its ASCII fallback
        (``client_20261201-203015.csv``) when the list's name is not plain ASCII."""
        name = self.get_export_name(export_type)
        return attachment(name, f"{self.endpoint}_{name[len(str(self.name)) + 1 :]}")

    def get_export_value(self, model, name):
        """Every cell of the list's CSV export: masked, and never a formula."""
        return spreadsheet_safe(self.masked(name, super().get_export_value(model, name)))

    def get_xlsx_value(self, model, name):
        """A cell of the XLSX export, masked and typed (write_table_xlsx neutralises text)."""
        return self.masked(
            name,
            self._get_list_value(None, model, name, self.column_formatters_export, self.column_type_formatters_xlsx),
        )
