"""Reading an uploaded file as a table: CSV (encoding and delimiter recognised) or XLSX,
read as a stream and refused at the first size limit with a message that says what to do."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import date, datetime, time
from pathlib import Path

from flask_babel import gettext

#: more data rows than this are refused (split the file)
MAX_ROWS = 50_000
#: more filled columns than this are refused (the client has 26 fields)
MAX_COLUMNS = 200
#: Excel's own limit for one cell; a longer cell is refused
MAX_CELL_CHARS = 32_767
#: one physical line of a CSV file (MAX_COLUMNS cells and their quotes fit easily)
MAX_LINE_CHARS = 4_000_000
#: all cells together; bounds the memory of a workbook whose XML inflates a lot
MAX_TABLE_CHARS = 60_000_000
#: the workbook's shared string table is loaded whole by openpyxl: refuse a huge one
MAX_SHARED_STRINGS_BYTES = 40 * 1024 * 1024
#: bytes used to recognise the encoding and the delimiter of a CSV file
_SNIFF_BYTES = 64 * 1024


class ImportFileError(ValueError):
    """The file cannot be read as a table (wrong type, broken file, unknown encoding)."""


def read_table(filename: str, data) -> tuple[list[str], list[list[str]]]:
    """The headings (first row) and the data rows of a .csv or .xlsx file, every cell a
    stripped string, every row as long as the headings. ``data`` is the file's bytes or
    a binary file object (read as a stream: nothing beyond the limits is read).
    CSV may be UTF-8 (with or without BOM), UTF-16 with BOM or GB18030; delimiter comma,
    semicolon or tab. Reading stops at :data:`MAX_ROWS` rows, :data:`MAX_COLUMNS`
    columns and the cell/line sizes, with a refusal that says what to do.
    Raises :class:`ImportFileError` with a message for the user otherwise."""
    suffix = Path(filename or "").suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        if suffix in (".xls", ".et", ".ods", ".numbers", ".wps"):
            raise ImportFileError(
                gettext(
                    "%(name)s: this spreadsheet format cannot be read. Save it as Excel workbook (.xlsx) "
                    "or CSV and upload it again.",
                    name=filename,
                )
            )
        raise ImportFileError(
            gettext("%(name)s: only CSV (.csv) and Excel (.xlsx) files can be imported.", name=filename or "?")
        )
    stream = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    collector = _Collector()
    if suffix == ".csv":
        _read_csv(stream, collector)
    else:
        _read_xlsx(stream, collector)
    return collector.table()


class _Collector:
    """Receives the rows as they are read and refuses the file at the first limit."""

    def __init__(self):
        self.clear()

    def clear(self) -> None:
        self.headers: list[str] | None = None
        self.rows: list[list[str]] = []
        self.blank_tail = 0  # blank rows not stored yet (harmless unless data follows)
        self.chars = 0

    def add(self, cells: list[str]) -> None:
        while cells and not cells[-1]:
            cells.pop()
        row = len(self.rows) + self.blank_tail + (1 if self.headers is not None else 0) + 1
        if len(cells) > MAX_COLUMNS:
            raise ImportFileError(
                gettext(
                    "Row %(row)s has %(count)s columns; at most %(max)s columns can be imported. Delete the "
                    "columns you do not need (only client fields are imported) and upload the file again.",
                    row=row,
                    count=len(cells),
                    max=MAX_COLUMNS,
                )
            )
        for cell in cells:
            if len(cell) > MAX_CELL_CHARS:
                raise ImportFileError(_cell_too_long(row))
            self.chars += len(cell)
        if self.chars > MAX_TABLE_CHARS:
            raise _too_much_text()
        if self.headers is None:
            self.headers = cells
            return
        if not cells:
            self.blank_tail += 1
            if self.blank_tail > MAX_ROWS:
                raise _too_many_rows()
            return
        if len(self.rows) + self.blank_tail >= MAX_ROWS:
            raise _too_many_rows()
        self.rows.extend([] for _ in range(self.blank_tail))
        self.blank_tail = 0
        self.rows.append(cells)

    def table(self) -> tuple[list[str], list[list[str]]]:
        if self.headers is None:
            raise ImportFileError(gettext("The file is empty."))
        if not any(self.headers):
            raise ImportFileError(gettext("The first row must hold the column headings."))
        width = len(self.headers)
        return self.headers, [(row + [""] * (width - len(row)))[:width] for row in self.rows]


def _too_many_rows() -> ImportFileError:
    return ImportFileError(
        gettext(
            "The file has more than %(max)s rows; at most %(max)s rows can be imported at once. Split the "
            "file into parts of at most %(max)s rows and import them one after another.",
            max=MAX_ROWS,
        )
    )


def _too_much_text() -> ImportFileError:
    return ImportFileError(
        gettext(
            "The file holds more than %(max)s characters of text; split it into smaller files and "
            "import them one after another.",
            max=f"{MAX_TABLE_CHARS:,}",
        )
    )


def _cell_too_long(row: int) -> str:
    return gettext(
        "A cell in row %(row)s is longer than %(max)s characters (the limit of an Excel cell). "
        "Shorten it and upload the file again.",
        row=row,
        max=MAX_CELL_CHARS,
    )


def _encoding(head: bytes) -> tuple[str, int]:
    """(encoding, bytes to skip) of a CSV file from its first bytes; UTF-8 unless those
    bytes are not UTF-8 (GB18030 then)."""
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8", 3
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16", 0
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            return "gb18030", 0
    return "utf-8", 0


def _lines(text):
    """The physical lines of a text stream, each at most MAX_LINE_CHARS long (a file
    without line breaks is refused before it is read whole)."""
    number = 0
    while True:
        line = text.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_CHARS:
            raise ImportFileError(
                gettext(
                    "Line %(line)s of the file is longer than %(max)s characters. Check that the file is a "
                    "table with one client per line, and split or shorten it.",
                    line=number,
                    max=f"{MAX_LINE_CHARS:,}",
                )
            )
        yield line


def _read_csv(stream, collector: _Collector) -> None:
    head = stream.read(_SNIFF_BYTES)
    if b"\x00" in head[:4096] and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportFileError(gettext("The file is not a text CSV file. Save it as CSV or .xlsx."))
    encoding, skip = _encoding(head)
    first_line = head[skip:].split(b"\n", 1)[0].decode(encoding, errors="ignore")
    delimiter = max(",;\t", key=first_line.count) if first_line else ","
    for attempt in (encoding, "gb18030"):
        stream.seek(skip)
        text = io.TextIOWrapper(stream, encoding=attempt, newline="")
        try:
            for cells in csv.reader(_lines(text), delimiter=delimiter):
                collector.add([cell.strip() for cell in cells])
            return
        except UnicodeDecodeError:
            if attempt == "gb18030" or encoding != "utf-8":
                break
            collector.clear()  # not UTF-8 after all: read again as GB18030
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise ImportFileError(_cell_too_long(len(collector.rows) + 2)) from None
            raise ImportFileError(gettext("The CSV file is malformed: %(detail)s", detail=str(exc))) from None
        finally:
            text.detach()
    raise ImportFileError(
        gettext('The CSV file is neither UTF-8 nor GB18030 text. Save it as "CSV UTF-8" and upload it again.')
    )


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # phone numbers typed as numbers come back as 13812345678.0
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d" if value.time() == time(0) else "%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


_ROW_TAG = re.compile(rb"<(?:[\w.-]+:)?row\b[^>]*?(/?)>")


def _first_sheet_path(archive: zipfile.ZipFile) -> str | None:
    """The part name of the workbook's first sheet (what openpyxl opens as worksheets[0])."""
    from xml.etree import ElementTree

    try:
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError):
        return None
    sheet = next((el for el in workbook.iter() if el.tag.endswith("}sheet")), None)
    rel_id = next((v for k, v in (sheet.attrib.items() if sheet is not None else ()) if k.endswith("}id")), None)
    target = next((el.get("Target") for el in rels.iter() if el.get("Id") == rel_id), None)
    if not target:
        return None
    return target.lstrip("/") if target.startswith("/") else f"xl/{target}"


def _count_rows(archive: zipfile.ZipFile, path: str, limit: int) -> int:
    """How many non-empty ``<row>`` elements the sheet holds, counted on the inflated XML
    without parsing it (fast), stopping once ``limit`` is passed."""
    count, tail = 0, b""
    with archive.open(path) as part:
        while count <= limit:
            block = part.read(1 << 16)
            if not block:
                break
            data = tail + block
            cut = data.rfind(b"<")
            data, tail = data[:cut], data[cut:]
            count += sum(1 for match in _ROW_TAG.finditer(data) if not match.group(1))
    return count


def _read_xlsx(stream, collector: _Collector) -> None:
    from openpyxl import load_workbook

    if not zipfile.is_zipfile(stream):
        raise ImportFileError(gettext("The file is not a valid Excel workbook (.xlsx)."))
    stream.seek(0)
    try:
        archive = zipfile.ZipFile(stream)
        sizes = {info.filename: info.file_size for info in archive.infolist()}
        path = _first_sheet_path(archive)
        # openpyxl would parse the whole sheet (to find its size) and load every shared
        # string before the first row: count the rows on the raw XML first
        if path in sizes and _count_rows(archive, path, MAX_ROWS + 1) > MAX_ROWS + 1:
            raise _too_many_rows()
        if sizes.get("xl/sharedStrings.xml", 0) > MAX_SHARED_STRINGS_BYTES:
            raise _too_much_text()
        stream.seek(0)
        workbook = load_workbook(stream, read_only=True, data_only=True)
    except ImportFileError:
        raise
    except Exception:  # noqa: BLE001 - openpyxl and zipfile raise many kinds for broken files
        raise ImportFileError(gettext("The file is not a valid Excel workbook (.xlsx).")) from None
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is not None:
            for values in sheet.iter_rows(values_only=True):
                collector.add([_cell(v) for v in values])
    except ImportFileError:
        raise
    except Exception:  # noqa: BLE001 - a damaged sheet part
        raise ImportFileError(gettext("The file is not a valid Excel workbook (.xlsx).")) from None
    finally:
        workbook.close()
