"""CSV (and semicolon- or tab-separated text): a header row, then one example per row.

Rows are numbered as a spreadsheet shows the file: the header is row 1, the first example row 2.
A row Python's csv module cannot read (a cell over its field size limit) is named by that number.
"""

from __future__ import annotations

import csv
import io

from steering.data.example_set import RowError, file_error
from steering.data.read_common import (
    Parsed,
    decode_text,
    duplicate_columns,
    normalise_header,
    table_rows,
)


def parse_csv(data: bytes) -> Parsed:
    text, errors = decode_text(data)
    if text is None:
        return [], [], errors
    reader = csv.reader(io.StringIO(text, newline=""), dialect=_sniff_dialect(text))
    records: list[list[str]] = []
    try:
        for record in reader:
            records.append(record)
    except csv.Error as exc:  # the row being read is the one after the last complete record
        return [], [], [_unreadable_row(len(records) + 1, exc)]
    if not records or not any(c.strip() for c in records[0]):
        return (
            [],
            [],
            [file_error("the file is empty or its first line is blank; put the header there")],
        )
    header = normalise_header(records[0])
    # Numbered as a spreadsheet shows the file: the header is row 1, the first example row 2.
    body = list(enumerate(records[1:], start=2))
    return table_rows(header, body), header, duplicate_columns(header)


def _unreadable_row(number: int, exc: csv.Error) -> RowError:
    """A row Python's csv reader stops at, named as a spreadsheet shows it (the header is row 1)."""
    if "field limit" in str(exc):
        limit = csv.field_size_limit()
        message = (
            f"row {number}: a cell holds more than {limit:,} characters, far more than an example "
            'needs; shorten it, or look for a quote (") that opens a cell and is never closed, '
            "which runs the cell on to the end of the file"
        )
    else:
        message = f"row {number}: the CSV cannot be read there ({exc}); save it again as CSV UTF-8"
    return RowError(number, None, message)


def _sniff_dialect(text: str) -> type[csv.Dialect]:
    """Comma by default; semicolon or tab when the header uses them (European Excel, TSV)."""
    first_line = text.split("\n", 1)[0]
    if "," not in first_line:
        if ";" in first_line:
            return _Semicolon
        if "\t" in first_line:
            return csv.excel_tab
    return csv.excel


class _Semicolon(csv.excel):
    delimiter = ";"
