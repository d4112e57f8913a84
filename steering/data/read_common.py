"""What every format's parser shares: UTF-8 text, the header, blank rows, the table's rows.

A parser returns ``(rows, columns, errors)`` (``Parsed``): raw rows keyed by lower-cased column
name, the columns in file order, and the problems that stopped the file being read as a table.
A cell is text, a JSON value, or a ``BadNumber`` that validation reports by row and field.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from steering.data.example_set import KNOWN_COLUMNS, RawRow, RowError, file_error

# A parser's result: the raw rows, the columns in file order, and the problems found.
Parsed = tuple[list[RawRow], list[str], list[RowError]]


def decode_text(data: bytes) -> tuple[str | None, list[RowError]]:
    """UTF-8 text (a leading byte-order mark is accepted), or a message saying how to fix it."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        message = (
            f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line} cannot be "
            "read); save it as UTF-8, e.g. in Excel 'Save As' > 'CSV UTF-8'"
        )
        return None, [file_error(message)]
    return text.replace("\r\n", "\n").replace("\r", "\n"), []


def normalise_header(cells: Iterable[object]) -> list[str]:
    return [str(c).strip().lower() if c is not None else "" for c in cells]


def duplicate_columns(header: list[str]) -> list[RowError]:
    """Two columns that differ only by case or spaces would make a cell ambiguous."""
    seen: set[str] = set()
    errors = []
    for column in header:
        if column in KNOWN_COLUMNS and column in seen:
            errors.append(
                RowError(None, column, f"column '{column}' appears more than once; keep only one")
            )
        seen.add(column)
    return errors


def table_rows(header: list[str], body: Iterable[tuple[int, Sequence[object]]]) -> list[RawRow]:
    """Cells of a header + rows table keyed by column; blank rows are skipped but still counted."""
    rows = []
    for number, cells in body:
        if all(is_blank(c) for c in cells):
            continue
        record = {col: cells[i] if i < len(cells) else None for i, col in enumerate(header) if col}
        rows.append((number, record))
    return rows


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def too_many_rows(max_rows: int) -> str:
    return (
        f"the file has more than {max_rows:,} example rows (the limit); split it into smaller files"
    )


class BadNumber(str):
    """A JSON number (or NaN/Infinity) that cannot stand for text; keeps what the file said."""


def json_type(value: object) -> str:
    names = {list: "a list", str: "text", bool: "true/false", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
