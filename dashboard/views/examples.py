"""The Examples tab's presenters: a preview of an example set, the rows to fix, and the rows
its builder chose to skip (said again wherever the set's evidence is shown)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from steering.data.examples import ExampleSet, RowError

ERROR_COLUMNS = ["row", "column", "what to fix"]
# Every column of the pair format, in the order the Examples tab documents them, after the row
# number as the file shows it (a spreadsheet's row, a JSONL line, a JSON item).
PREVIEW_COLUMNS = ["row", "prompt", "positive", "negative", "answer", "choices", "split"]


def preview_table(example_set: ExampleSet, limit: int = 200) -> pd.DataFrame:
    """The first rows of a set with every column of the format (empty where the file has none).

    Always the same columns, so the table's column widths fit them and none hides off screen.
    """
    rows = [
        [
            e.row,
            e.prompt,
            e.positive,
            e.negative or "",
            e.answer or "",
            " | ".join(e.choices) if e.choices else "",
            e.split or "",
        ]
        for e in example_set.examples[:limit]
    ]
    return pd.DataFrame(rows, columns=PREVIEW_COLUMNS)


def row_errors_table(errors: Sequence[RowError]) -> pd.DataFrame:
    return pd.DataFrame([[e.row, e.column or "", e.message] for e in errors], columns=ERROR_COLUMNS)


# Beyond this many row numbers a sentence says how many more there are.
LISTED_ROWS = 20


def row_list(rows: Iterable[int]) -> str:
    """Row numbers as people write them: "4", "4 and 9", "4, 9 and 12", then "and 30 more"."""
    numbers = [str(r) for r in sorted(set(rows))]
    if len(numbers) > LISTED_ROWS:
        shown = numbers[:LISTED_ROWS]
        return f"{', '.join(shown)} and {len(numbers) - LISTED_ROWS} more"
    if len(numbers) <= 1:
        return "".join(numbers)
    return f"{', '.join(numbers[:-1])} and {numbers[-1]}"


def skipped_rows_sentence(rows: Sequence[int] | None) -> str:
    """The sentence saying which rows of the file were left out (empty when none were)."""
    if not rows:
        return ""
    count = len(set(rows))
    noun = "row" if count == 1 else "rows"
    verb = "was" if count == 1 else "were"
    return (
        f"{count} {noun} of the file {verb} skipped because of problems, on its builder's "
        f"choice ({noun} {row_list(rows)}); the rest were used."
    )


def skip_offer(valid: int, bad: int) -> str:
    """The button that uses a file without its broken rows."""
    return f"Use the {valid} valid row{'s' if valid != 1 else ''} and skip {bad}"
