"""Example sets: parse, validate and split files of example reasoning pairs.

The format is the pair format of the README's "Example pairs" section (columns ``prompt``,
``positive``, ``negative``, ``answer``, ``choices``, ``split``) in CSV, JSONL, JSON or Excel. Files come from non-engineers, so
every problem is collected and reported at once with its row number and what to fix, and a file with
any problem is rejected whole: a half-accepted file would silently change what a vector is built from.

The parsed set has a content hash that depends only on the normalised rows (not on the file format,
the column order or the case of the column names), so the same examples saved from Excel or written
as JSONL are recognised as the same data in a vector's lineage.

Deliberately light: standard library plus openpyxl (imported only for .xlsx), no torch.

This module is the entry point; the parts live in their own modules: ``example_set`` (the values
and errors), ``read_csv``, ``read_json`` and ``read_xlsx`` (one parser per format, sharing
``read_common``) and ``validate`` (the checks of every row).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

from steering.data.example_set import (
    KNOWN_COLUMNS,
    MAX_ROWS,
    REQUIRED_COLUMNS,
    SPLITS,
    Example,
    ExampleSet,
    ExampleSetError,
    RawRow,
    RowError,
    file_error,
)
from steering.data.read_common import Parsed
from steering.data.read_csv import parse_csv
from steering.data.read_json import parse_json, parse_jsonl
from steering.data.read_xlsx import XLSX_MAX_UNPACKED, XLSX_SECONDS, parse_xlsx
from steering.data.validate import validate_rows

__all__ = [
    "ASSETS_DIR",
    "KNOWN_COLUMNS",
    "MAX_ROWS",
    "REQUIRED_COLUMNS",
    "SPLITS",
    "SUPPORTED_EXTENSIONS",
    "XLSX_MAX_UNPACKED",
    "XLSX_SECONDS",
    "Example",
    "ExampleSet",
    "ExampleSetError",
    "RawRow",
    "RowError",
    "bundled_example_sets",
    "load_examples",
    "split_examples",
]

SUPPORTED_EXTENSIONS = (".csv", ".jsonl", ".json", ".xlsx")
ASSETS_DIR = Path(__file__).resolve().parents[2] / "assets" / "examples"
# When a bundled set exists in several formats, the first format here gets the plain name.
_BUNDLED_PREFERENCE = (".jsonl", ".json", ".csv", ".xlsx")


# --------------------------------------------------------------------------- loading


def load_examples(
    source: str | Path | bytes,
    filename: str | None = None,
    name: str | None = None,
    max_bytes: int = 20_000_000,
    max_rows: int = MAX_ROWS,
    max_seconds: float = XLSX_SECONDS,
    skip_rows: Collection[int] = (),
) -> ExampleSet:
    """Read and validate an example file; raise ExampleSetError listing every problem found.

    ``source`` is a path, or the file's bytes (an upload) together with its ``filename``, whose
    extension (.csv, .jsonl, .json, .xlsx) decides the format. ``name`` defaults to the file's stem.
    ``skip_rows`` are row numbers (as the file shows them) to leave out, problems and all: the
    ``bad_rows`` of an earlier refusal, when the builder chose to use the other rows. The set
    records them as its ``skipped_rows``.
    """
    data, filename = _read_source(source, filename, max_bytes)
    suffix = Path(filename).suffix.lower()
    if suffix not in SUPPORTED_EXTENSIONS:
        raise ExampleSetError([file_error(_unsupported_extension(suffix))])
    if not data.strip():
        raise ExampleSetError([file_error("the file is empty; add a header row and examples")])
    if suffix == ".xlsx":  # the one format whose parse time a small file can blow up
        rows, columns, errors = parse_xlsx(data, max_rows, max_seconds)
    else:
        rows, columns, errors = _PARSERS[suffix](data)
    skip = frozenset(skip_rows)
    errors = [e for e in errors if e.row is None or e.row not in skip]
    if any(e.row is None for e in errors) or (errors and not rows):
        # The file could not be read as a table; row checks would only add noise.
        raise ExampleSetError(errors)
    # Rows that could not be parsed (a broken JSONL line) are reported with those that break a
    # rule, so one refusal names every row to fix or skip.
    examples, row_errors = validate_rows([r for r in rows if r[0] not in skip], columns, max_rows)
    errors = sorted(errors + row_errors, key=lambda e: e.row or 0)
    if errors:
        bad = {e.row for e in errors}
        raise ExampleSetError(errors, valid_rows=sum(e.row not in bad for e in examples))
    skipped = tuple(sorted(skip))
    return ExampleSet(
        name=name or Path(filename).stem, examples=tuple(examples), skipped_rows=skipped
    )


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
                    file_error(
                        "the file name is missing, so its format (.csv, .jsonl, ...) is unknown"
                    )
                ]
            )
        if len(source) > max_bytes:
            raise ExampleSetError([file_error(too_large)])
        return bytes(source), filename
    path = Path(source)
    try:
        if path.stat().st_size > max_bytes:
            raise ExampleSetError([file_error(too_large)])
        return path.read_bytes(), filename or path.name
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise ExampleSetError([file_error(f"there is no file at {path}")]) from None
    except PermissionError:
        raise ExampleSetError(
            [file_error(f"the file {path} cannot be read (permission denied)")]
        ) from None


_PARSERS: dict[str, Callable[[bytes], Parsed]] = {
    ".csv": parse_csv,
    ".jsonl": parse_jsonl,
    ".json": parse_json,
    ".xlsx": parse_xlsx,
}


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
            [file_error(f"the held-out fraction must be between 0 and 1, not {heldout_fraction}")]
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
