"""The one CSV writer and the one formula neutraliser of every download: list exports,
report downloads and the import's error reports.

CSV as Excel opens it right: UTF-8 with a BOM (Chinese text), CRLF line ends. A text
cell that a spreadsheet would run as a formula gets a leading apostrophe, as OWASP
recommends for CSV injection; numbers and dates are written as they are, so a negative
amount stays a number.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from decimal import Decimal

_FORMULA = re.compile(r"^[=+\-@\t\r]")


def spreadsheet_safe(value):
    """``value`` as a spreadsheet cell that cannot run: text starting with ``=``, ``+``,
    ``-``, ``@``, a tab or a CR gets a leading apostrophe (Excel and LibreOffice then
    show it as text, a click never runs it); numbers, dates and None stay as they are,
    so -5 exported as a number is still a number. Other objects (related records) are
    judged by their text. Every export calls this."""
    if value is None or isinstance(value, int | float | Decimal | date):  # bool is an int, datetime a date
        return value
    text = str(value)  # a related record (a client in the contract list) is written by its name
    return "'" + text if _FORMULA.match(text) else value


def csv_chunks(rows: Iterable[Sequence], chunk_rows: int = 1000) -> Iterator[bytes]:
    """``rows`` (lists of cells) as CSV, encoded a chunk of ``chunk_rows`` rows at a time
    (a streamed download holds one chunk, never the file): UTF-8 with BOM, CRLF, every
    cell through :func:`spreadsheet_safe` (None is an empty cell)."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    for number, row in enumerate(rows, start=1):
        writer.writerow([spreadsheet_safe(cell) for cell in row])
        if number % chunk_rows == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


def csv_bytes(rows: Iterable[Sequence]) -> bytes:
    """``rows`` as one CSV document (see :func:`csv_chunks`)."""
    return b"".join(csv_chunks(rows))
