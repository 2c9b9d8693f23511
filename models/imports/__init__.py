"""Import of clients from CSV and XLSX files (SPEC §4.3 "Import"): read a table, guess
which column holds which client field, validate every row, commit all or nothing.

No Flask request code here: the view, the benchmark and tests call the same functions —
:func:`read_table` (a stream, stopped at the size limits), :func:`guess_mapping`,
:func:`validate` and :func:`queue_import`, whose background job (models/jobs.py,
``run-jobs``) saves the rows in short transactions and shows them only once all are in.

Row numbers are the file's row numbers as a spreadsheet shows them: the headings are
row 1, the first data row is row 2.

One module a step: :mod:`.mapping` (the client fields and the guess of which column holds
which), :mod:`.reading` (the file as a table, within the size limits), :mod:`.validation`
(every row checked, duplicates looked up in bulk) and :mod:`.job` (the background job that
saves the rows, the error report).
"""

from .job import (
    CHUNK_ROWS,
    ERRORS_KEPT,
    IMPORT_JOB,
    discard_import,
    error_report,
    import_folder,
    queue_import,
    register_jobs,
    run_import,
)
from .leads import LEADS  # the lead import, declared like the client one
from .mapping import (
    ALIASES,
    CLIENTS,
    DOCUMENT_HEADINGS,
    FIELDS,
    KINDS,
    REQUIRED,
    ImportKind,
    field_label,
    guess_mapping,
)
from .reading import (
    MAX_CELL_CHARS,
    MAX_COLUMNS,
    MAX_LINE_CHARS,
    MAX_ROWS,
    MAX_SHARED_STRINGS_BYTES,
    MAX_TABLE_CHARS,
    ImportFileError,
    read_table,
)
from .validation import RowError, existing_duplicates, validate

register_jobs()

__all__ = [
    "ALIASES",
    "CLIENTS",
    "KINDS",
    "LEADS",
    "ImportKind",
    "CHUNK_ROWS",
    "DOCUMENT_HEADINGS",
    "ERRORS_KEPT",
    "FIELDS",
    "IMPORT_JOB",
    "MAX_CELL_CHARS",
    "MAX_COLUMNS",
    "MAX_LINE_CHARS",
    "MAX_ROWS",
    "MAX_SHARED_STRINGS_BYTES",
    "MAX_TABLE_CHARS",
    "REQUIRED",
    "ImportFileError",
    "RowError",
    "discard_import",
    "error_report",
    "existing_duplicates",
    "field_label",
    "guess_mapping",
    "import_folder",
    "queue_import",
    "read_table",
    "run_import",
    "validate",
]
