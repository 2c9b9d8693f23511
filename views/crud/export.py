"""CSV and XLSX list exports."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal

from flask import Response
from flask_admin.model import typefmt
from flask_babel import format_datetime

from reports.render import spreadsheet_safe

from ..helpers import attachment
from .labels import mask_value


class ExportMixin:
    """CSV and XLSX list exports: masked cells, never a formula, named after the list."""

    export_types = ["csv", "xlsx"]

    export_max_rows = 100_000

    column_type_formatters_export = {
        **typefmt.EXPORT_FORMATTERS,
        Decimal: lambda view, value, name: value,
        datetime: lambda view, value, name: format_datetime(value, "yyyy-MM-dd HH:mm:ss"),
        date: lambda view, value, name: value.isoformat(),
        bool: lambda view, value, name: "1" if value else "0",
    }

    def masked(self, name: str, value):
        return mask_value(self.model, name, value)

    def _export_csv(self, return_url):
        """CSV built inside the request (Flask-Admin streams it after the request ended,
        when the session is gone and unloaded relationships can no longer load). UTF-8
        with a BOM so Excel opens Chinese text correctly."""
        count, data = self._export_data()
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([str(label) for _, label in self._export_columns])
        for row in data:
            writer.writerow([self.get_export_value(row, name) for name, _ in self._export_columns])
        return Response(
            "\ufeff" + buffer.getvalue(),
            mimetype="text/csv",
            headers={"Content-Disposition": self.export_disposition("csv")},
        )

    def _export_tablib(self, export_type, return_url):
        response = super()._export_tablib(export_type, return_url)
        if "Content-Disposition" in response.headers:
            response.headers["Content-Disposition"] = self.export_disposition(export_type)
        return response

    def export_disposition(self, export_type: str) -> str:
        """The export's file name: the list's name (Chinese in a Chinese UI), with the
        endpoint as its ASCII fallback (``client_2026-12-01_09-30-00.csv``)."""
        name = self.get_export_name(export_type)
        return attachment(name, f"{self.endpoint}{name[len(str(self.name)) :]}")

    def get_export_value(self, model, name):
        """Every cell of the list's CSV and XLSX exports: masked, and never a formula."""
        return spreadsheet_safe(self.masked(name, super().get_export_value(model, name)))
