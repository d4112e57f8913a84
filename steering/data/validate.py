"""Validation of raw rows: the table as a whole, then every row; every problem is collected.

Each problem names its row and what to fix; duplicates name both rows. Text cells are kept exactly
as written (line endings unified); numbers written in JSON become their usual text.
"""

from __future__ import annotations

from steering.data.example_set import (
    REQUIRED_COLUMNS,
    SPLITS,
    Example,
    RawRow,
    RowError,
    file_error,
)
from steering.data.read_common import BadNumber, is_blank, json_type, too_many_rows

# Spellings people use for the held-out split; all mean "heldout".
_SPLIT_ALIASES = {"held-out": "heldout", "held_out": "heldout", "held out": "heldout"}


def validate_rows(
    rows: list[RawRow], columns: list[str], max_rows: int
) -> tuple[list[Example], list[RowError]]:
    """Check the table as a whole, then every row; collect every problem."""
    errors = _missing_columns(columns)
    if not rows:
        errors.append(file_error("the file has no example rows; add at least one example"))
    if len(rows) > max_rows:
        errors.append(file_error(too_many_rows(max_rows)))
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
    if isinstance(value, BadNumber):
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
                f"row {number}: column '{column}' must be text, found {json_type(value)}",
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
        if is_blank(record.get(column)):
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
