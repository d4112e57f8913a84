"""Excel (.xlsx): the first worksheet, streamed in read-only mode within size, row and time limits.

openpyxl is imported only when an Excel file is read.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterable

from steering.data.example_set import MAX_ROWS, ExampleSetError, file_error
from steering.data.read_common import (
    Parsed,
    duplicate_columns,
    is_blank,
    normalise_header,
    table_rows,
    too_many_rows,
)

# Reading stops after this many seconds: a small .xlsx can unpack into gigabytes of XML.
XLSX_SECONDS = 20.0
# The most the parts of a workbook may unpack to (a 20 MB workbook of text is about 100 MB).
XLSX_MAX_UNPACKED = 400_000_000
_MAX_HEADER_CELLS = 1_000  # header cells looked at; a table of examples has a handful
_XLSX_TOO_BIG = (
    "the Excel file unpacks to more than {limit:,} MB, far more than a table of examples needs; "
    "remove unused sheets and formatting, or export the examples as CSV UTF-8"
)
_XLSX_TOO_SLOW = (
    "reading the Excel file was stopped after {seconds:g} seconds ({rows:,} example rows read); "
    "it holds far more cells than a table of examples needs. Delete unused rows and columns, "
    "or export the examples as CSV UTF-8"
)


def parse_xlsx(data: bytes, max_rows: int = MAX_ROWS, max_seconds: float = XLSX_SECONDS) -> Parsed:
    """The first worksheet, streamed; cells are read as values, never as formulas.

    A small .xlsx can unpack into gigabytes of XML (cells compress extremely well), so the sheet is
    read row by row in openpyxl's read-only mode, its declared size is ignored (a sheet claiming
    column XFD would otherwise pad every row to 16,384 cells), rows are cut to the header's width,
    and reading stops after ``max_rows`` example rows or ``max_seconds`` seconds.
    """
    import zipfile

    from openpyxl import load_workbook  # only Excel users pay for the import

    unpacked = _xlsx_unpacked_size(data)
    if unpacked is not None and unpacked > XLSX_MAX_UNPACKED:
        return [], [], [file_error(_XLSX_TOO_BIG.format(limit=XLSX_MAX_UNPACKED // 1_000_000))]
    deadline = time.monotonic() + max_seconds
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        message = (
            f"the Excel file could not be read ({type(exc).__name__}); open it in Excel and save "
            "it again as an .xlsx workbook, or export it as CSV UTF-8"
        )
        return [], [], [file_error(message)]
    except Exception as exc:  # openpyxl raises its own types for corrupt parts
        message = f"the Excel file could not be read ({exc}); save it again as .xlsx"
        return [], [], [file_error(message)]
    try:
        sheet = workbook.worksheets[0]
        if hasattr(sheet, "reset_dimensions"):
            sheet.reset_dimensions()  # trust the cells, not the size the file claims
        return _stream_sheet(sheet.iter_rows(values_only=True), max_rows, deadline, max_seconds)
    except Exception as exc:  # a corrupt sheet part fails while streaming, not at load
        if isinstance(exc, ExampleSetError):
            raise
        message = f"the Excel file could not be read ({type(exc).__name__}); save it again as .xlsx"
        return [], [], [file_error(message)]
    finally:
        workbook.close()


def _xlsx_unpacked_size(data: bytes) -> int | None:
    """The bytes the workbook's parts unpack to (sizes the zip declares, which zipfile enforces)."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None  # load_workbook reports it in words


def _stream_sheet(
    rows: Iterable[tuple[object, ...]], max_rows: int, deadline: float, max_seconds: float
) -> Parsed:
    """Header and example rows from a stream of cell tuples, within the row and time limits."""
    header: list[str] | None = None
    width = 0
    body: list[tuple[int, tuple[str | None, ...]]] = []
    examples = 0
    for index, cells in enumerate(rows):
        if index % 256 == 0 and time.monotonic() > deadline:
            return [], [], [file_error(_XLSX_TOO_SLOW.format(seconds=max_seconds, rows=examples))]
        if header is None:
            if all(is_blank(c) for c in cells[:_MAX_HEADER_CELLS]):
                continue  # tolerate empty rows above the header
            texts = [_cell_text(c) for c in cells[:_MAX_HEADER_CELLS]]
            while texts and is_blank(texts[-1]):
                texts.pop()
            header, width = normalise_header(texts), len(texts)
            continue
        record = tuple(_cell_text(c) for c in cells[:width])
        if all(is_blank(c) for c in record):
            continue
        examples += 1
        if examples > max_rows:
            return [], [], [file_error(too_many_rows(max_rows))]
        body.append((index + 1, record))  # the sheet's own row number, as Excel shows it
    if header is None:
        return [], [], [file_error("the first worksheet is empty; put the header in row 1")]
    return table_rows(header, body), header, duplicate_columns(header)


def _cell_text(value: object) -> str | None:
    """Excel cell as the text the user sees: 42 and 42.0 become "42", not "42.0"."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
