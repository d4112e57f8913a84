"""Example sets as values: the pair format's columns, ``Example``, ``ExampleSet`` and their errors.

The format is the pair format of the README's "Example pairs" section (columns ``prompt``,
``positive``, ``negative``, ``answer``, ``choices``, ``split``). ``RowError`` is one problem found in a
file, ``ExampleSetError`` the rejection of a file with every problem found in it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from steering.errors import SteeringError

REQUIRED_COLUMNS = ("prompt", "positive")
KNOWN_COLUMNS = ("prompt", "positive", "negative", "answer", "choices", "split")
SPLITS = ("build", "heldout")
MAX_ROWS = 50_000

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
    """An example file was rejected; ``errors`` holds every problem found, not just the first.

    ``valid_rows`` counts the rows without a problem when every problem lies in a row (none in
    the file as a whole), else 0: then the file can be used without its ``bad_rows``
    (``load_examples(..., skip_rows=error.bad_rows)``), if its builder chooses to.
    """

    def __init__(self, errors: Sequence[RowError], valid_rows: int = 0) -> None:
        self.errors: list[RowError] = list(errors)
        self.valid_rows = valid_rows if self.bad_rows else 0
        super().__init__(self._describe())

    @property
    def bad_rows(self) -> tuple[int, ...]:
        """The rows with a problem, in order; empty when any problem is the whole file's."""
        rows = {e.row for e in self.errors}
        if not rows or None in rows:
            return ()
        return tuple(sorted(r for r in rows if r is not None))

    @property
    def can_skip(self) -> bool:
        """Whether leaving out the bad rows gives a usable set (at least one row remains)."""
        return self.valid_rows > 0

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
    # Row numbers of the file left out on its builder's choice (they had problems); not part of
    # the content hash, which depends only on the rows used.
    skipped_rows: tuple[int, ...] = ()

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


def file_error(message: str) -> RowError:
    return RowError(row=None, column=None, message=message)
