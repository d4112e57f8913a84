"""The Examples tab's presenters: a preview of an example set and the rows to fix."""

from __future__ import annotations

from collections.abc import Sequence

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
