"""Example sets: parse, validate and split files of example reasoning pairs.

The format is the pair format of ``docs/product.md`` (columns ``prompt``, ``positive``, ``negative``,
``answer``, ``choices``, ``split``) in CSV, JSONL, JSON or Excel. Files come from non-engineers, so
every problem is collected and reported at once with its row number and what to fix, and a file with
any problem is rejected whole: a half-accepted file would silently change what a vector is built from.

The parsed set has a content hash that depends only on the normalised rows (not on the file format,
the column order or the case of the column names), so the same examples saved from Excel or written
as JSONL are recognised as the same data in a vector's lineage.

Deliberately light: standard library plus openpyxl (imported only for .xlsx), no torch.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import random
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from steering.errors import SteeringError

REQUIRED_COLUMNS = ("prompt", "positive")
KNOWN_COLUMNS = ("prompt", "positive", "negative", "answer", "choices", "split")
SPLITS = ("build", "heldout")
# Spellings people use for the held-out split; all mean "heldout".
_SPLIT_ALIASES = {"held-out": "heldout", "held_out": "heldout", "held out": "heldout"}
SUPPORTED_EXTENSIONS = (".csv", ".jsonl", ".json", ".xlsx")
ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets" / "examples"
# When a bundled set exists in several formats, the first format here gets the plain name.
_BUNDLED_PREFERENCE = (".jsonl", ".json", ".csv", ".xlsx")

MAX_ROWS = 50_000
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

# A raw row: the row number as the file shows it (see ``Example.row``) and the cells by
# lower-cased column name.
RawRow = tuple[int, dict[str, object]]


@dataclass(frozen=True)
class Example:
    """One validated example pair; text cells are kept exactly as written (line endings unified)."""

    prompt: str
    positive: str
    negative: str | None = None
    answer: str | None = None
    choices: tuple[str, ...] | None = None
    split: str | None = None  # "build" | "heldout" | None
    # Where the example is, numbered as the file shows it to the person who wrote it: CSV and
    # Excel count the header as row 1 (the first example is row 2, as a spreadsheet shows it),
    # JSONL counts lines, JSON counts the array's items from 1.
    row: int = 0

    def canonical(self) -> dict[str, object]:
        """The content that identifies this example; the row number is where it was, not what."""
        return {
            "prompt": self.prompt,
            "positive": self.positive,
            "negative": self.negative,
            "answer": self.answer,
            "choices": list(self.choices) if self.choices is not None else None,
            "split": self.split,
        }


@dataclass(frozen=True)
class RowError:
    """One problem in an example file; ``row`` and ``column`` are None for file-level problems."""

    row: int | None
    column: str | None
    message: str  # complete and self-contained, e.g. "row 14: column 'positive' is empty"

    def __str__(self) -> str:
        return self.message


class ExampleSetError(SteeringError):
    """An example file was rejected; ``errors`` holds every problem found, not just the first."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors: list[RowError] = list(errors)
        super().__init__(self._describe())

    def _describe(self) -> str:
        if len(self.errors) == 1:
            return f"The example file was rejected: {self.errors[0]}"
        lines = [f"The example file was rejected; fix these {len(self.errors)} problems:"]
        lines += [f"- {error}" for error in self.errors]
        return "\n".join(lines)


@dataclass(frozen=True)
class ExampleSet:
    """A validated, immutable set of examples with a format-independent content hash."""

    name: str
    examples: tuple[Example, ...]

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self) -> Iterator[Example]:
        return iter(self.examples)

    @property
    def has_negatives(self) -> bool:
        """True when every row has a negative, so the 'column' negative strategy can be used."""
        return bool(self.examples) and all(e.negative is not None for e in self.examples)

    @property
    def content_hash(self) -> str:
        """sha256 of the canonical JSON of the rows: same content, same hash, whatever the file."""
        canonical = [example.canonical() for example in self.examples]
        text = json.dumps(canonical, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def to_records(self) -> list[dict[str, object]]:
        """Plain rows for previews and tables; choices joined with '|' as in a CSV file."""
        records = []
        for e in self.examples:
            records.append(
                {
                    "row": e.row,
                    "prompt": e.prompt,
                    "positive": e.positive,
                    "negative": e.negative,
                    "answer": e.answer,
                    "choices": "|".join(e.choices) if e.choices is not None else None,
                    "split": e.split,
                }
            )
        return records


# --------------------------------------------------------------------------- loading


def load_examples(
    source: str | Path | bytes,
    filename: str | None = None,
    name: str | None = None,
    max_bytes: int = 20_000_000,
    max_rows: int = MAX_ROWS,
    max_seconds: float = XLSX_SECONDS,
) -> ExampleSet:
    """Read and validate an example file; raise ExampleSetError listing every problem found.

    ``source`` is a path, or the file's bytes (an upload) together with its ``filename``, whose
    extension (.csv, .jsonl, .json, .xlsx) decides the format. ``name`` defaults to the file's stem.
    """
    data, filename = _read_source(source, filename, max_bytes)
    suffix = Path(filename).suffix.lower()
    if suffix not in SUPPORTED_EXTENSIONS:
        raise ExampleSetError([_file_error(_unsupported_extension(suffix))])
    if not data.strip():
        raise ExampleSetError([_file_error("the file is empty; add a header row and examples")])
    if suffix == ".xlsx":  # the one format whose parse time a small file can blow up
        rows, columns, errors = _parse_xlsx(data, max_rows, max_seconds)
    else:
        rows, columns, errors = _PARSERS[suffix](data)
    if errors:  # the file could not be read as a table; row checks would only add noise
        raise ExampleSetError(errors)
    examples, errors = _validate(rows, columns, max_rows)
    if errors:
        raise ExampleSetError(errors)
    return ExampleSet(name=name or Path(filename).stem, examples=tuple(examples))


def _file_error(message: str) -> RowError:
    return RowError(row=None, column=None, message=message)


def _unsupported_extension(suffix: str) -> str:
    shown = f"'{suffix}' files" if suffix else "files without an extension"
    hint = " (for an old .xls workbook, save it as .xlsx)" if suffix == ".xls" else ""
    return f"{shown} are not supported; save the examples as .csv, .jsonl, .json or .xlsx{hint}"


def _read_source(
    source: str | Path | bytes, filename: str | None, max_bytes: int
) -> tuple[bytes, str]:
    """The file's bytes and name, refusing oversized files before reading them into memory."""
    too_large = (
        f"the file is larger than the limit of {max_bytes:,} bytes; "
        "split it into smaller files or remove rows"
    )
    if isinstance(source, bytes | bytearray):
        if not filename:
            raise ExampleSetError(
                [
                    _file_error(
                        "the file name is missing, so its format (.csv, .jsonl, ...) is unknown"
                    )
                ]
            )
        if len(source) > max_bytes:
            raise ExampleSetError([_file_error(too_large)])
        return bytes(source), filename
    path = Path(source)
    try:
        if path.stat().st_size > max_bytes:
            raise ExampleSetError([_file_error(too_large)])
        return path.read_bytes(), filename or path.name
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise ExampleSetError([_file_error(f"there is no file at {path}")]) from None
    except PermissionError:
        raise ExampleSetError(
            [_file_error(f"the file {path} cannot be read (permission denied)")]
        ) from None


def _decode(data: bytes) -> tuple[str | None, list[RowError]]:
    """UTF-8 text (a leading byte-order mark is accepted), or a message saying how to fix it."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        message = (
            f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line} cannot be "
            "read); save it as UTF-8, e.g. in Excel 'Save As' > 'CSV UTF-8'"
        )
        return None, [_file_error(message)]
    return text.replace("\r\n", "\n").replace("\r", "\n"), []


def _normalise_header(cells: Iterable[object]) -> list[str]:
    return [str(c).strip().lower() if c is not None else "" for c in cells]


def _duplicate_columns(header: list[str]) -> list[RowError]:
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


def _table_rows(header: list[str], body: Iterable[tuple[int, Sequence[object]]]) -> list[RawRow]:
    """Cells of a header + rows table keyed by column; blank rows are skipped but still counted."""
    rows = []
    for number, cells in body:
        if all(_is_blank(c) for c in cells):
            continue
        record = {col: cells[i] if i < len(cells) else None for i, col in enumerate(header) if col}
        rows.append((number, record))
    return rows


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _parse_csv(data: bytes) -> tuple[list[RawRow], list[str], list[RowError]]:
    text, errors = _decode(data)
    if text is None:
        return [], [], errors
    records = list(csv.reader(io.StringIO(text, newline=""), dialect=_sniff_dialect(text)))
    if not records or not any(c.strip() for c in records[0]):
        return (
            [],
            [],
            [_file_error("the file is empty or its first line is blank; put the header there")],
        )
    header = _normalise_header(records[0])
    # Numbered as a spreadsheet shows the file: the header is row 1, the first example row 2.
    body = list(enumerate(records[1:], start=2))
    return _table_rows(header, body), header, _duplicate_columns(header)


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
                    f"found {_json_type(obj)}",
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


def _json_type(value: object) -> str:
    names = {list: "a list", str: "text", bool: "true/false", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _parse_jsonl(data: bytes) -> tuple[list[RawRow], list[str], list[RowError]]:
    """One JSON object per line; the line number is the row number, blank lines are skipped."""
    text, errors = _decode(data)
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


def _parse_json(data: bytes) -> tuple[list[RawRow], list[str], list[RowError]]:
    """A list of objects, or an object holding that list under "examples"."""
    text, errors = _decode(data)
    if text is None:
        return [], [], errors
    try:
        document = _loads(text)
    except RecursionError:
        where = _deep_nesting_at(text)
        at = f" (at line {where[0]}, column {where[1]})" if where else ""
        return [], [], [_file_error(f"{_TOO_DEEP}{at}")]
    except json.JSONDecodeError as exc:
        message = (
            f"the JSON is malformed at line {exc.lineno}, column {exc.colno} ({exc.msg}); "
            "check for a missing comma, quote or bracket there"
        )
        return [], [], [_file_error(message)]
    if isinstance(document, dict) and isinstance(document.get("examples"), list):
        document = document["examples"]
    if not isinstance(document, list):
        message = (
            'the JSON must be a list of examples like [{"prompt": "...", "positive": "..."}], '
            f"found {_json_type(document)}"
        )
        return [], [], [_file_error(message)]
    rows, row_errors = _json_rows(enumerate(document, start=1), "row")
    return rows, _columns_of(rows), row_errors


_TOO_DEEP = (
    "the JSON is nested hundreds of levels deep; an example is a flat object of text fields "
    'like {"prompt": "...", "positive": "..."}'
)
# Floats at least this large lose digits or turn into "1e+16"-style text: not a usable answer.
_LARGEST_FLOAT = 1e15
_LONGEST_INT = 100  # digits


class _BadNumber(str):
    """A JSON number (or NaN/Infinity) that cannot stand for text; keeps what the file said."""


def _parse_float(text: str) -> float | _BadNumber:
    value = float(text)
    return value if math.isfinite(value) and abs(value) < _LARGEST_FLOAT else _BadNumber(text)


def _parse_int(text: str) -> int | _BadNumber:
    return int(text) if len(text.lstrip("-")) <= _LONGEST_INT else _BadNumber(text[:20] + "…")


def _loads(text: str) -> object:
    """json.loads, with NaN, infinities and absurd numbers kept aside to be reported by field."""
    return json.loads(
        text, parse_constant=_BadNumber, parse_float=_parse_float, parse_int=_parse_int
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


def _parse_xlsx(
    data: bytes, max_rows: int = MAX_ROWS, max_seconds: float = XLSX_SECONDS
) -> tuple[list[RawRow], list[str], list[RowError]]:
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
        return [], [], [_file_error(_XLSX_TOO_BIG.format(limit=XLSX_MAX_UNPACKED // 1_000_000))]
    deadline = time.monotonic() + max_seconds
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        message = (
            f"the Excel file could not be read ({type(exc).__name__}); open it in Excel and save "
            "it again as an .xlsx workbook, or export it as CSV UTF-8"
        )
        return [], [], [_file_error(message)]
    except Exception as exc:  # openpyxl raises its own types for corrupt parts
        message = f"the Excel file could not be read ({exc}); save it again as .xlsx"
        return [], [], [_file_error(message)]
    try:
        sheet = workbook.worksheets[0]
        if hasattr(sheet, "reset_dimensions"):
            sheet.reset_dimensions()  # trust the cells, not the size the file claims
        return _stream_sheet(sheet.iter_rows(values_only=True), max_rows, deadline, max_seconds)
    except Exception as exc:  # a corrupt sheet part fails while streaming, not at load
        if isinstance(exc, ExampleSetError):
            raise
        message = f"the Excel file could not be read ({type(exc).__name__}); save it again as .xlsx"
        return [], [], [_file_error(message)]
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
) -> tuple[list[RawRow], list[str], list[RowError]]:
    """Header and example rows from a stream of cell tuples, within the row and time limits."""
    header: list[str] | None = None
    width = 0
    body: list[tuple[int, tuple[str | None, ...]]] = []
    examples = 0
    for index, cells in enumerate(rows):
        if index % 256 == 0 and time.monotonic() > deadline:
            return [], [], [_file_error(_XLSX_TOO_SLOW.format(seconds=max_seconds, rows=examples))]
        if header is None:
            if all(_is_blank(c) for c in cells[:_MAX_HEADER_CELLS]):
                continue  # tolerate empty rows above the header
            texts = [_cell_text(c) for c in cells[:_MAX_HEADER_CELLS]]
            while texts and _is_blank(texts[-1]):
                texts.pop()
            header, width = _normalise_header(texts), len(texts)
            continue
        record = tuple(_cell_text(c) for c in cells[:width])
        if all(_is_blank(c) for c in record):
            continue
        examples += 1
        if examples > max_rows:
            return [], [], [_file_error(_too_many_rows(max_rows))]
        body.append((index + 1, record))  # the sheet's own row number, as Excel shows it
    if header is None:
        return [], [], [_file_error("the first worksheet is empty; put the header in row 1")]
    return _table_rows(header, body), header, _duplicate_columns(header)


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


_PARSERS = {".csv": _parse_csv, ".jsonl": _parse_jsonl, ".json": _parse_json, ".xlsx": _parse_xlsx}


# --------------------------------------------------------------------------- validation


def _validate(
    rows: list[RawRow], columns: list[str], max_rows: int
) -> tuple[list[Example], list[RowError]]:
    """Check the table as a whole, then every row; collect every problem."""
    errors = _missing_columns(columns)
    if not rows:
        errors.append(_file_error("the file has no example rows; add at least one example"))
    if len(rows) > max_rows:
        errors.append(_file_error(_too_many_rows(max_rows)))
    if errors:
        return [], errors
    examples = []
    for number, record in rows:
        example, row_errors = _validate_row(number, record)
        errors += row_errors
        if example is not None:
            examples.append(example)
    errors += _duplicate_rows(examples)
    errors.sort(key=lambda e: e.row or 0)
    return examples, errors


def _too_many_rows(max_rows: int) -> str:
    return (
        f"the file has more than {max_rows:,} example rows (the limit); split it into smaller files"
    )


def _missing_columns(columns: list[str]) -> list[RowError]:
    found = ", ".join(f"'{c}'" for c in columns if c) or "none"
    return [
        RowError(
            None,
            column,
            f"the file has no '{column}' column (found: {found}); add a column named '{column}'",
        )
        for column in REQUIRED_COLUMNS
        if column not in columns
    ]


def _text(
    number: int, record: dict[str, object], column: str, errors: list[RowError]
) -> str | None:
    """A cell as text (None when empty); numbers written in JSON become their usual text."""
    value = record.get(column)
    if value is None:
        return None
    if isinstance(value, _BadNumber):
        errors.append(
            RowError(
                number,
                column,
                f"row {number}: column '{column}' holds the number {value}, which is infinite, "
                f'not a number or too large to use; if you mean the text, put it in quotes ("'
                f'{value}")',
            )
        )
        return None
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        value = str(int(value))
    elif isinstance(value, int | float):
        value = str(value)
    elif not isinstance(value, str):
        errors.append(
            RowError(
                number,
                column,
                f"row {number}: column '{column}' must be text, found {_json_type(value)}",
            )
        )
        return None
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value if value.strip() else None


def _choices(
    number: int, record: dict[str, object], errors: list[RowError]
) -> tuple[str, ...] | None:
    """Choices from a JSON list or a '|'-separated cell, stripped; empty pieces are dropped."""
    value = record.get("choices")
    if isinstance(value, list):
        items = []
        for item in value:
            text = _text(number, {"choices": item}, "choices", errors)
            if text is not None:
                items.append(text.strip())
    else:
        text = _text(number, record, "choices", errors)
        if text is None:
            return None
        items = [piece.strip() for piece in text.split("|") if piece.strip()]
    if not items:
        return None
    repeated = sorted({c for c in items if items.count(c) > 1})
    if repeated:
        errors.append(
            RowError(
                number,
                "choices",
                f"row {number}: choice '{repeated[0]}' is listed more than once in 'choices'",
            )
        )
    if len(items) < 2:
        errors.append(
            RowError(
                number,
                "choices",
                f"row {number}: 'choices' has only one option; give at least two, separated by '|'",
            )
        )
    return tuple(items)


def _split(number: int, record: dict[str, object], errors: list[RowError]) -> str | None:
    text = _text(number, record, "split", errors)
    if text is None:
        return None
    split = text.strip().lower()
    split = _SPLIT_ALIASES.get(split, split)
    if split not in SPLITS:
        errors.append(
            RowError(
                number,
                "split",
                f"row {number}: split '{text.strip()}' is not allowed; "
                "use 'build', 'heldout' or leave it empty",
            )
        )
        return None
    return split


def _validate_row(number: int, record: dict[str, object]) -> tuple[Example | None, list[RowError]]:
    errors: list[RowError] = []
    required = {}
    for column in REQUIRED_COLUMNS:
        if _is_blank(record.get(column)):
            errors.append(RowError(number, column, f"row {number}: column '{column}' is empty"))
        required[column] = _text(number, record, column, errors)
    negative = _text(number, record, "negative", errors)
    answer = _text(number, record, "answer", errors)
    answer = answer.strip() if answer is not None else None
    choices = _choices(number, record, errors)
    split = _split(number, record, errors)
    if choices is not None:
        errors += _check_answer(number, answer, choices)
    if errors:
        return None, errors
    prompt, positive = required["prompt"], required["positive"]
    assert prompt is not None and positive is not None  # blank ones were reported above
    example = Example(
        prompt=prompt,
        positive=positive,
        negative=negative,
        answer=answer,
        choices=choices,
        split=split,
        row=number,
    )
    return example, []


def _check_answer(number: int, answer: str | None, choices: tuple[str, ...]) -> list[RowError]:
    """Multiple-choice scoring needs the correct answer to be one of the candidates."""
    if answer is None:
        return [
            RowError(
                number,
                "answer",
                f"row {number}: column 'answer' is empty but 'choices' is filled; "
                "give the correct answer, which must be one of the choices",
            )
        ]
    if answer not in choices:
        listed = " | ".join(choices)
        return [
            RowError(
                number,
                "answer",
                f"row {number}: the answer '{answer}' is not one of the choices ({listed}); "
                "add it to 'choices' or correct 'answer'",
            )
        ]
    return []


def _duplicate_rows(examples: list[Example]) -> list[RowError]:
    """Repeated pairs would weigh double in a vector; name both rows so one can be removed."""
    first_seen: dict[tuple[str, str, str | None], int] = {}
    errors = []
    for example in examples:
        key = (example.prompt, example.positive, example.negative)
        if key in first_seen:
            first = first_seen[key]
            errors.append(
                RowError(
                    example.row,
                    None,
                    f"row {example.row}: duplicate of row {first} (same prompt, positive and "
                    "negative); remove one of them",
                )
            )
        else:
            first_seen[key] = example.row
    return errors


# --------------------------------------------------------------------------- split


def split_examples(
    examples: ExampleSet | Sequence[Example], heldout_fraction: float = 0.3, seed: int = 0
) -> tuple[list[Example], list[Example]]:
    """(build, heldout): rows with a ``split`` go where they say, the rest by a seeded shuffle.

    ``random.Random(seed)`` does not depend on hash randomisation, so the same seed gives the same
    split in every process. Both lists keep the file's order. When the fraction is strictly between
    0 and 1 and at least two rows are unassigned, each side gets at least one of them.
    """
    if not 0.0 <= heldout_fraction <= 1.0:
        raise ExampleSetError(
            [_file_error(f"the held-out fraction must be between 0 and 1, not {heldout_fraction}")]
        )
    rows = list(examples.examples if isinstance(examples, ExampleSet) else examples)
    free = [i for i, e in enumerate(rows) if e.split is None]
    count = _heldout_count(len(free), heldout_fraction)
    order = list(free)
    random.Random(seed).shuffle(order)
    heldout = {i for i, e in enumerate(rows) if e.split == "heldout"} | set(order[:count])
    build = [e for i, e in enumerate(rows) if i not in heldout]
    return build, [e for i, e in enumerate(rows) if i in heldout]


def _heldout_count(n: int, fraction: float) -> int:
    count = round(n * fraction)
    if n >= 2 and 0.0 < fraction < 1.0:
        count = min(max(count, 1), n - 1)
    return count


# --------------------------------------------------------------------------- bundled sets


def bundled_example_sets(directory: Path = ASSETS_DIR) -> dict[str, Path]:
    """Name -> file of the sets shipped in assets/examples/, sorted by name.

    The name is the file's stem (``arithmetic``); when a set also ships in another format, that
    copy is listed under its full file name (``arithmetic.csv``).
    """
    files = [p for p in directory.glob("*") if p.suffix.lower() in SUPPORTED_EXTENSIONS]
    files.sort(key=lambda p: (p.stem, _BUNDLED_PREFERENCE.index(p.suffix.lower())))
    sets: dict[str, Path] = {}
    for path in files:
        sets[path.name if path.stem in sets else path.stem] = path
    return dict(sorted(sets.items()))
