"""JSONL (one object per line) and JSON (a list of objects, or one under "examples").

Numbers that cannot stand for text (NaN, infinities, absurdly large values) are kept aside as
``BadNumber`` (see ``read_common``) so that validation names them by row and field instead of failing the whole file.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable

from steering.data.example_set import KNOWN_COLUMNS, RawRow, RowError, file_error
from steering.data.read_common import BadNumber, Parsed, decode_text, json_type


def _json_rows(
    objects: Iterable[tuple[int, object]], unit: str
) -> tuple[list[RawRow], list[RowError]]:
    """Objects keyed by normalised column names; anything but an object is reported."""
    rows, errors = [], []
    for number, obj in objects:
        if not isinstance(obj, dict):
            errors.append(
                RowError(
                    number,
                    None,
                    f"{unit} {number}: expected an object like "
                    '{"prompt": "...", "positive": "..."}, '
                    f"found {json_type(obj)}",
                )
            )
            continue
        record: dict[str, object] = {}
        for key, value in obj.items():
            column = str(key).strip().lower()
            if column in record and column in KNOWN_COLUMNS:
                errors.append(
                    RowError(number, column, f"{unit} {number}: column '{column}' appears twice")
                )
            record[column] = value
        rows.append((number, record))
    return rows, errors


def parse_jsonl(data: bytes) -> Parsed:
    """One JSON object per line; the line number is the row number, blank lines are skipped."""
    text, errors = decode_text(data)
    if text is None:
        return [], [], errors
    objects = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            objects.append((number, _loads(line)))
        except RecursionError:
            errors.append(RowError(number, None, f"line {number}: {_TOO_DEEP}"))
        except json.JSONDecodeError as exc:
            errors.append(
                RowError(
                    number,
                    None,
                    f"line {number}: not valid JSON ({exc.msg} at column {exc.colno}); "
                    "each line must be one complete JSON object",
                )
            )
    rows, row_errors = _json_rows(objects, "line")
    return rows, _columns_of(rows), errors + row_errors


def parse_json(data: bytes) -> Parsed:
    """A list of objects, or an object holding that list under "examples"."""
    text, errors = decode_text(data)
    if text is None:
        return [], [], errors
    try:
        document = _loads(text)
    except RecursionError:
        where = _deep_nesting_at(text)
        at = f" (at line {where[0]}, column {where[1]})" if where else ""
        return [], [], [file_error(f"{_TOO_DEEP}{at}")]
    except json.JSONDecodeError as exc:
        message = (
            f"the JSON is malformed at line {exc.lineno}, column {exc.colno} ({exc.msg}); "
            "check for a missing comma, quote or bracket there"
        )
        return [], [], [file_error(message)]
    if isinstance(document, dict) and isinstance(document.get("examples"), list):
        document = document["examples"]
    if not isinstance(document, list):
        message = (
            'the JSON must be a list of examples like [{"prompt": "...", "positive": "..."}], '
            f"found {json_type(document)}"
        )
        return [], [], [file_error(message)]
    rows, row_errors = _json_rows(enumerate(document, start=1), "row")
    return rows, _columns_of(rows), row_errors


_TOO_DEEP = (
    "the JSON is nested hundreds of levels deep; an example is a flat object of text fields "
    'like {"prompt": "...", "positive": "..."}'
)
# Floats at least this large lose digits or turn into "1e+16"-style text: not a usable answer.
_LARGEST_FLOAT = 1e15
_LONGEST_INT = 100  # digits


def _parse_float(text: str) -> float | BadNumber:
    value = float(text)
    return value if math.isfinite(value) and abs(value) < _LARGEST_FLOAT else BadNumber(text)


def _parse_int(text: str) -> int | BadNumber:
    return int(text) if len(text.lstrip("-")) <= _LONGEST_INT else BadNumber(text[:20] + "…")


def _loads(text: str) -> object:
    """json.loads, with NaN, infinities and absurd numbers kept aside to be reported by field."""
    return json.loads(
        text, parse_constant=BadNumber, parse_float=_parse_float, parse_int=_parse_int
    )


def _deep_nesting_at(text: str, limit: int = 100) -> tuple[int, int] | None:
    """Line and column where brackets first nest deeper than ``limit`` (strings skipped)."""
    depth = 0
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                line = text.count("\n", 0, match.start()) + 1
                return line, match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
        elif token in "]}":
            depth -= 1
    return None


def _columns_of(rows: list[RawRow]) -> list[str]:
    """Every column used by at least one JSON object, in order of first appearance."""
    columns: dict[str, None] = {}
    for _, record in rows:
        columns.update(dict.fromkeys(record))
    return list(columns)
