"""The writers every report shares: one :class:`Document` (title, the filters used, the
generation time, sections of typed columns, an optional bar chart) written as XLSX, PDF,
CSV, or drawn as a server-rendered SVG chart for the report page.

The report modules build a Document from their query results; the writers only lay it
out, so the page and the three downloads show the same figures:

* XLSX — amounts are numeric cells formatted ``"¥"#,##0.00``, dates are date cells;
* PDF — A4 landscape, Chinese text in the embedded WenQuanYi Zen Hei subset shipped in
  ``static/fonts`` (no system font needed; fpdf2 embeds only the glyphs printed);
* CSV — UTF-8 with a BOM (Excel opens Chinese text correctly), amounts as ``1234.50``.

Text that a spreadsheet would run as a formula (``=…``, ``+…``, ``-…``, ``@…``, a tab or
CR first) gets a leading apostrophe in XLSX and CSV: :func:`reports.csvfile.spreadsheet_safe`
is the one neutraliser and :func:`reports.csvfile.csv_bytes` the one CSV writer, also of
the model views' list exports and the import's error reports.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from itertools import chain, islice
from pathlib import Path

from markupsafe import Markup

from .csvfile import csv_bytes, spreadsheet_safe

ROOT = Path(__file__).resolve().parents[1]
#: the embedded CJK font (regenerate with tools/make_cjk_font.py)
CJK_FONT = ROOT / "static" / "fonts" / "wqy-zenhei-gb2312.ttf"

MONEY_FORMAT = '"¥"#,##0.00'
DATE_FORMAT = "yyyy-mm-dd"
PERCENT_FORMAT = '0.00"%"'
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
#: colours of the chart bars and PDF table headings
BAR_COLOURS = ("#95a5a6", "#18bc9c", "#3498db", "#f39c12", "#e74c3c", "#8e44ad")
HEADING_FILL = (224, 232, 240)
TOTAL_FILL = (245, 245, 245)


@dataclass
class Column:
    """One column: ``kind`` is text, code (a number such as a contract's: text that the PDF
    keeps on one line, in a smaller font where needed), money, date, int or percent (a
    Decimal number of hundredths, shown ``12.50%``). ``width`` is relative (PDF);
    ``in_pdf`` False leaves a column out of the (narrow) PDF page only."""

    key: str
    label: object
    kind: str = "text"
    width: float = 1.0
    in_pdf: bool = True


@dataclass
class Section:
    """A titled table; ``totals`` is one more row (a mapping like the rows)."""

    title: object | None
    columns: list[Column]
    rows: Sequence[Mapping]
    totals: Mapping | None = None
    empty_text: object = "—"


@dataclass
class Document:
    """What one download (or one sheet / one part of a PDF) shows."""

    title: object
    meta: list[tuple[object, object]] = field(default_factory=list)  # filters used, generated at …
    sections: list[Section] = field(default_factory=list)
    chart: list[tuple[object, Decimal]] | None = None  # (bar label, amount)
    chart_title: object | None = None
    chart_money: bool = True  # the chart's values are amounts (else counts)
    notes: list[object] = field(default_factory=list)
    sheet_name: str | None = None


# ------------------------------------------------------------------------ formatting
def money_text(value, *, grouped: bool = True) -> str:
    """``1,234.50`` (PDF, page) or ``1234.50`` (CSV); empty for None."""
    if value is None:
        return ""
    return f"{Decimal(value):,.2f}" if grouped else f"{Decimal(value):.2f}"


def cell_text(column: Column, value, *, grouped: bool = True) -> str:
    """A value as text for the PDF and the CSV (the same text in both but grouping)."""
    if value is None:
        return ""
    if column.kind == "money":
        return money_text(value, grouped=grouped)
    if column.kind == "date" and isinstance(value, (date, datetime)):
        return value.strftime("%Y-%m-%d")
    if column.kind == "percent":
        return f"{Decimal(value):.2f}%"
    return str(value)


def _value(row: Mapping, key: str):
    return row.get(key) if isinstance(row, Mapping) else getattr(row, key, None)


# ------------------------------------------------------------------------------ CSV
def write_csv(documents: Sequence[Document]) -> bytes:
    """UTF-8 with BOM: title, the meta lines (filters, generation time), then each section
    (title, header, rows, totals). Amounts ``1234.50``, dates ISO."""
    rows: list[list] = []
    for number, doc in enumerate(documents):
        if number:
            rows.append([])
        rows.append([str(doc.title)])
        rows.extend([str(label), str(value)] for label, value in doc.meta)
        rows.extend([str(note)] for note in doc.notes)
        for section in doc.sections:
            rows.append([])
            if section.title:
                rows.append([str(section.title)])
            rows.append([str(c.label) for c in section.columns])
            for row in list(section.rows) + ([section.totals] if section.totals else []):
                rows.append([_csv_value(c, _value(row, c.key)) for c in section.columns])
    return csv_bytes(rows)


def _csv_value(column: Column, value):
    """Figures as numbers (``1234.50``, a negative one is no formula), the rest as text."""
    if value is not None and column.kind == "money":
        return Decimal(money_text(value, grouped=False))
    if value is not None and column.kind == "percent":
        return Decimal(value).quantize(Decimal("0.01"))
    if column.kind == "int" and isinstance(value, int):
        return value
    return cell_text(column, value, grouped=False)


# ----------------------------------------------------------------------------- XLSX
def _sheet_title(name: str, taken: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", " ", name).strip()[:28] or "Sheet"
    title, n = base, 2
    while title.lower() in taken:
        title, n = f"{base[:25]} ({n})", n + 1
    taken.add(title.lower())
    return title


def write_xlsx(documents: Sequence[Document]) -> bytes:
    """One sheet per document: title, meta lines, then each section with a bold header
    and a bold totals row. Numbers are numbers, dates are dates. Written in openpyxl's
    write-only mode (rows stream out; no per-row look-ups of the sheet)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    bold, title_font = Font(bold=True), Font(bold=True, size=14)
    fill = PatternFill("solid", fgColor="E0E8F0")
    taken: set[str] = set()
    for doc in documents:
        sheet = book.create_sheet(_sheet_title(doc.sheet_name or str(doc.title), taken))

        def cell(value, *, font=None, number_format=None, fill_=None, text=False, sheet=sheet):
            c = WriteOnlyCell(sheet, value=spreadsheet_safe(value) if text else value)
            if font is not None:
                c.font = font
            if number_format:
                c.number_format = number_format
            if fill_ is not None:
                c.fill = fill_
            return c

        # column widths first (write-only sheets take them before any row)
        widths: dict[int, int] = {1: 14}
        for section in doc.sections:
            for index, column in enumerate(section.columns, start=1):
                width = min(len(str(column.label)) * 2 + 2, 30)
                for row in list(section.rows)[:500] + ([section.totals] if section.totals else []):
                    text = cell_text(column, _value(row, column.key))
                    width = max(width, min(display_width(text) + 2, 60))
                widths[index] = max(widths.get(index, 8), width + (2 if column.kind == "money" else 0))
        for index, width in widths.items():
            sheet.column_dimensions[get_column_letter(index)].width = width

        sheet.append([cell(str(doc.title), font=title_font, text=True)])
        for label, value in doc.meta:
            sheet.append([cell(str(label), text=True), cell(str(value), text=True)])
        for note in doc.notes:
            sheet.append([cell(str(note), text=True)])
        for section in doc.sections:
            sheet.append([])
            if section.title:
                sheet.append([cell(str(section.title), font=bold, text=True)])
            sheet.append([cell(str(c.label), font=bold, fill_=fill, text=True) for c in section.columns])
            rows = list(section.rows)
            if not rows:
                sheet.append([cell(str(section.empty_text), text=True)])
            formats = [
                MONEY_FORMAT
                if c.kind == "money"
                else DATE_FORMAT
                if c.kind == "date"
                else PERCENT_FORMAT
                if c.kind == "percent"
                else None
                for c in section.columns
            ]
            for row in rows:
                sheet.append(
                    [
                        cell(_xlsx_value(c, _value(row, c.key)), number_format=f, text=c.kind == "text")
                        for c, f in zip(section.columns, formats, strict=False)
                    ]
                )
            if section.totals:
                sheet.append(
                    [
                        cell(
                            _xlsx_value(c, _value(section.totals, c.key)),
                            number_format=f,
                            font=bold,
                            text=c.kind == "text",
                        )
                        for c, f in zip(section.columns, formats, strict=False)
                    ]
                )
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def display_width(text: str) -> int:
    """The width of ``text`` in a spreadsheet column, a Chinese character counting twice."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def write_table_xlsx(
    title: str, columns: Sequence[tuple[object, str]], rows: Iterable[Sequence], target=None
) -> bytes | None:
    """One sheet named ``title``: a bold header of the ``(label, kind)`` columns, then the
    rows, typed: numbers are numbers (``kind`` "money": the ¥ format), dates are dates,
    datetimes (naive, local) are datetimes, text is text that never runs as a formula.
    Written in openpyxl's write-only mode: ``rows`` may be any iterable (a streamed query),
    each row goes out to openpyxl's temporary file as it comes, strings inline, so memory
    stays flat whatever the row count. Saved to ``target`` (a path or a binary file) when
    given, else returned as bytes."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet(_sheet_title(title, set()))
    rows = iter(rows)
    first = list(islice(rows, 500))  # column widths from the first rows (set before any row)
    for index, (label, kind) in enumerate(columns, start=1):
        width = max(display_width(str(label)) + 2, {"money": 14, "datetime": 20, "date": 12}.get(kind, 8))
        for row in first:
            if isinstance(row[index - 1], str):
                width = max(width, min(display_width(row[index - 1]) + 2, 60))
        sheet.column_dimensions[get_column_letter(index)].width = width
    bold = Font(bold=True)
    kinds = [kind for _, kind in columns]

    def cell(value, kind):
        if isinstance(value, bool):
            value = int(value)
        elif not isinstance(value, int | float | Decimal | date) and value is not None:
            value = spreadsheet_safe(str(value))
        c = WriteOnlyCell(sheet, value=value)
        if isinstance(value, datetime):
            c.number_format = DATETIME_FORMAT
        elif isinstance(value, date):
            c.number_format = DATE_FORMAT
        elif kind == "money" and isinstance(value, int | float | Decimal):
            c.number_format = MONEY_FORMAT
        return c

    header = []
    for label, _ in columns:
        heading = WriteOnlyCell(sheet, value=spreadsheet_safe(str(label)))
        heading.font = bold
        header.append(heading)
    sheet.append(header)
    for row in chain(first, rows):
        sheet.append([cell(value, kind) for value, kind in zip(row, kinds, strict=False)])
    if target is not None:
        book.save(target)
        return None
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _xlsx_value(column: Column, value):
    if value is None:
        return None
    if column.kind == "money":
        return Decimal(value)
    if column.kind == "int":
        return int(value)
    if column.kind == "percent":
        return Decimal(value).quantize(Decimal("0.01"))
    if column.kind == "date":
        return value
    return str(value)


# ------------------------------------------------------------------------------ PDF
def _new_pdf():
    from fpdf import FPDF

    class ReportPdf(FPDF):
        footer_text = ""

        def footer(self):
            self.set_y(-10)
            self.set_font("cjk", size=7)
            self.set_text_color(110)
            self.cell(0, 5, f"{self.footer_text}    {self.page_no()}/{{nb}}", align="R")
            self.set_text_color(0)

    pdf = ReportPdf(orientation="L", unit="mm", format="A4")
    pdf.set_margins(10, 10, 10)
    pdf.set_auto_page_break(True, margin=14)
    pdf.add_font("cjk", "", str(CJK_FONT))
    pdf.set_creator("CRM back office")
    return pdf


def write_pdf(documents: Sequence[Document], *, footer: str = "") -> bytes:
    """A4 landscape, each document from a new page: title, meta lines, chart, sections."""
    pdf = _new_pdf()
    pdf.footer_text = footer
    pdf.set_title(str(documents[0].title) if documents else "")
    for doc in documents:
        pdf.add_page()
        pdf.set_font("cjk", size=15)
        pdf.multi_cell(0, 8, str(doc.title), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("cjk", size=8.5)
        for label, value in doc.meta:
            pdf.multi_cell(0, 4.6, f"{label}: {value}", new_x="LMARGIN", new_y="NEXT")
        for note in doc.notes:
            pdf.set_text_color(90)
            pdf.multi_cell(0, 4.6, str(note), new_x="LMARGIN", new_y="NEXT")
            pdf.set_text_color(0)
        if doc.chart:
            _pdf_chart(pdf, doc.chart_title, doc.chart, money=doc.chart_money)
        for section in doc.sections:
            pdf.ln(3)
            if section.title:
                pdf.set_font("cjk", size=11)
                pdf.cell(0, 6, str(section.title), new_x="LMARGIN", new_y="NEXT")
            _pdf_table(pdf, section)
    return bytes(pdf.output())


class _Widths:
    """String widths from a per-character cache (the font has no kerning): fpdf2's own
    table and multi_cell measure every cell through its line breaker, ~5 ms a row."""

    def __init__(self, pdf):
        self.pdf = pdf
        self.cache: dict[tuple[float, str], float] = {}

    def char(self, ch: str) -> float:
        key = (self.pdf.font_size_pt, ch)
        if key not in self.cache:
            self.cache[key] = self.pdf.get_string_width(ch)
        return self.cache[key]

    def text(self, text: str) -> float:
        return sum(self.char(ch) for ch in text)

    def wrap(self, text: str, width: float) -> list[str]:
        """Greedy wrap: at spaces when a word fits, else between any two characters
        (Chinese has no spaces)."""
        lines: list[str] = []
        for paragraph in text.split("\n"):
            line, used = "", 0.0
            for ch in paragraph:
                w = self.char(ch)
                if used + w > width and line:
                    cut = line.rfind(" ")
                    if ch != " " and 0 < cut and all(ord(c) < 0x2E80 for c in line[cut + 1 :] + ch):
                        lines.append(line[:cut])
                        line = line[cut + 1 :]
                        used = self.text(line)
                    else:
                        lines.append(line)
                        line, used = "", 0.0
                    if ch == " ":
                        continue
                line += ch
                used += w
            lines.append(line)
        return lines or [""]


#: the kinds of column whose cells the PDF keeps on one line
UNBROKEN = ("money", "int", "percent", "code", "date")


def _pdf_table(pdf, section: Section) -> None:
    """A grid table: header row repeated on every page, wrapped text cells, amounts
    right-aligned, a shaded totals row."""
    columns = [c for c in section.columns if c.in_pdf]
    size = 7 if len(columns) > 10 else 8
    pad, line_h = 1.0, size * 0.42
    total_w = pdf.epw
    widths = [total_w * c.width / sum(c.width for c in columns) for c in columns]
    measure = _Widths(pdf)

    def draw(values, fill=None):
        pdf.set_font("cjk", size=size)
        cells = []
        for column, width, value in zip(columns, widths, values, strict=False):
            if column.kind in UNBROKEN and values is not header:
                cells.append([value])  # a figure, a code or a date is never broken
            else:
                cells.append(measure.wrap(value, width - 2 * pad))
        height = max(len(lines) for lines in cells) * line_h + 2 * pad
        if pdf.get_y() + height > pdf.page_break_trigger:
            pdf.add_page()
            if values is not header:
                draw(header, HEADING_FILL)
        x, y = pdf.l_margin, pdf.get_y()
        if fill:
            pdf.set_fill_color(*fill)
            pdf.rect(x, y, total_w, height, style="F")
        pdf.set_draw_color(120)
        pdf.set_line_width(0.15)
        for column, width, lines in zip(columns, widths, cells, strict=False):
            pdf.rect(x, y, width, height, style="D")
            for number, line in enumerate(lines):
                baseline = y + pad + line_h * number + line_h * 0.78
                if column.kind in ("money", "int", "percent"):
                    pdf.text(x + width - pad - measure.text(line), baseline, line)
                elif column.kind in UNBROKEN and values is not header:
                    fitted = size  # smaller until it fits its cell, never cut or split
                    while fitted > 4 and measure.text(line) > width - 2 * pad:
                        fitted -= 0.5
                        pdf.set_font_size(fitted)
                    pdf.text(x + pad, baseline, line)
                    pdf.set_font_size(size)
                else:
                    pdf.text(x + pad, baseline, line)
            x += width
        pdf.set_xy(pdf.l_margin, y + height)

    header = [str(c.label) for c in columns]
    draw(header, HEADING_FILL)
    rows = list(section.rows)
    if not rows:
        draw([str(section.empty_text)] + [""] * (len(columns) - 1))
    for row in rows:
        draw([cell_text(c, _value(row, c.key)) for c in columns])
    if section.totals:
        draw([cell_text(c, _value(section.totals, c.key)) for c in columns], TOTAL_FILL)
    pdf.set_fill_color(255)


def _pdf_chart(pdf, title, bars, *, money: bool = True) -> None:
    """Horizontal bars drawn with the PDF's own vector graphics."""
    pdf.ln(2)
    if title:
        pdf.set_font("cjk", size=10)
        pdf.cell(0, 6, str(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=8)
    largest = max([Decimal(v or 0) for _, v in bars] + [Decimal(0)])
    label_w, bar_w, row_h = 32, 150, 5.5
    for index, (label, value) in enumerate(bars):
        y = pdf.get_y()
        pdf.set_xy(pdf.l_margin, y)
        pdf.cell(label_w, row_h - 1, str(label), align="R")
        width = float(bar_w * Decimal(value or 0) / largest) if largest > 0 and value and value > 0 else 0
        colour = BAR_COLOURS[index % len(BAR_COLOURS)].lstrip("#")
        pdf.set_fill_color(*(int(colour[i : i + 2], 16) for i in (0, 2, 4)))
        if width > 0:
            pdf.rect(pdf.l_margin + label_w + 2, y + 0.5, max(width, 0.4), row_h - 2, style="F")
        pdf.set_xy(pdf.l_margin + label_w + 4 + width, y)
        pdf.cell(40, row_h - 1, money_text(value) if money else str(value or 0))
        pdf.set_xy(pdf.l_margin, y + row_h)
    pdf.set_fill_color(255)


# ------------------------------------------------------------------------------ SVG
def bar_chart_svg(
    bars: Sequence[tuple[object, Decimal]], *, title: object = "", width: int = 640, height: int = 240
) -> Markup:
    """A vertical bar chart as inline SVG (no script, no external asset: fits the CSP).
    Labels are escaped; amounts are printed above the bars."""
    left, right, top, bottom = 10, 10, 28, 40
    values = [Decimal(v or 0) for _, v in bars]
    largest = max(values + [Decimal(0)])
    slot = (width - left - right) / max(len(bars), 1)
    bar = slot * 0.6
    plot_h = height - top - bottom
    parts = [
        Markup(
            '<svg xmlns="http://www.w3.org/2000/svg" class="crm-chart" role="img" '
            'viewBox="0 0 {w} {h}" width="100%" preserveAspectRatio="xMidYMid meet" '
            'aria-label="{t}"><title>{t}</title>'
        ).format(w=width, h=height, t=title)
    ]
    parts.append(
        Markup('<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="#999" stroke-width="1"/>').format(
            x1=left, x2=width - right, y=top + plot_h
        )
    )
    for index, ((label, _), value) in enumerate(zip(bars, values, strict=False)):
        x = left + slot * index + (slot - bar) / 2
        h = float(plot_h * value / largest) if largest > 0 and value > 0 else 0.0
        y = top + plot_h - h
        colour = BAR_COLOURS[index % len(BAR_COLOURS)]
        parts.append(
            Markup(
                '<g class="crm-chart-bar" data-bucket="{i}"><rect x="{x:.1f}" y="{y:.1f}" '
                'width="{bw:.1f}" height="{h:.1f}" fill="{c}"><title>{label}: ¥{v}</title></rect>'
                '<text x="{cx:.1f}" y="{ty:.1f}" text-anchor="middle" font-size="12" '
                'fill="#333">¥{v}</text>'
                '<text x="{cx:.1f}" y="{ly:.1f}" text-anchor="middle" font-size="12" '
                'fill="#333">{label}</text></g>'
            ).format(
                i=index,
                x=x,
                y=y,
                bw=bar,
                h=h,
                c=colour,
                label=label,
                v=money_text(value),
                cx=x + bar / 2,
                ty=max(y - 6, 12),
                ly=top + plot_h + 18,
            )
        )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def html_cell(column: Column, value) -> str:
    """A value as shown in the page's table (amounts as ``¥1,234.50``)."""
    if value is None:
        return ""
    if column.kind == "money":
        return "¥" + money_text(value)
    return cell_text(column, value)


__all__ = [
    "Column",
    "Section",
    "Document",
    "write_csv",
    "write_xlsx",
    "write_table_xlsx",
    "write_pdf",
    "bar_chart_svg",
    "html_cell",
    "money_text",
    "cell_text",
    "spreadsheet_safe",
]
