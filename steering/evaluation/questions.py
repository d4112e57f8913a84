"""The rows an evaluation asks about, checked once: each a ``Question`` with its answer and choices.

Rows are anything with ``prompt``, ``answer`` and optionally ``choices`` and ``row`` attributes (an
``Example``) or dict keys. A row that cannot be evaluated is a user error naming the row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from steering.errors import SteeringError
from steering.evaluation.answers import normalise_text


@dataclass(frozen=True)
class Question:
    prompt: str
    answer: str
    choices: tuple[str, ...] | None
    row: int


def row_field(row: Any, name: str) -> Any:
    """A row's ``name``, whether the row is a dict or an object such as an ``Example``."""
    return row.get(name) if isinstance(row, dict) else getattr(row, name, None)


def as_questions(rows: Sequence[Any], *, need_choices: bool) -> list[Question]:
    """Rows with an answer, checked: a user error names the row and what to fix."""
    questions = []
    for i, row in enumerate(rows):
        number = row_field(row, "row") or i + 1
        answer = row_field(row, "answer")
        if answer is None or not str(answer).strip():
            raise SteeringError(f"Row {number}: no 'answer' to evaluate against.")
        choices = row_field(row, "choices")
        choices = tuple(str(c) for c in choices) if choices else None
        if need_choices:
            if not choices:
                raise SteeringError(f"Row {number}: no 'choices' for multiple-choice scoring.")
            if answer_index(str(answer), choices) is None:
                raise SteeringError(
                    f"Row {number}: the answer '{answer}' is not one of its choices "
                    f"({', '.join(choices)})."
                )
        questions.append(Question(str(row_field(row, "prompt")), str(answer), choices, int(number)))
    if not questions:
        raise SteeringError("No rows to evaluate: the rows need an 'answer' column.")
    return questions


def answer_index(answer: str, choices: Sequence[str]) -> int | None:
    """Which choice is the answer: exactly (spaces aside), else after normalising the text."""
    for i, choice in enumerate(choices):
        if choice.strip() == answer.strip():
            return i
    for i, choice in enumerate(choices):
        if normalise_text(choice) == normalise_text(answer):
            return i
    return None


def choice_lists(questions: Sequence[Question]) -> list[tuple[str, ...]]:
    """Each question's choices; only for questions checked with ``need_choices=True``."""
    return [q.choices or () for q in questions]


def resolve_mode(rows: Sequence[Any], mode: str | None) -> str:
    """``choice`` when every row has choices, else ``generate``; a given mode is checked."""
    if mode is None:
        has_choices = all(row_field(r, "choices") for r in rows)
        return "choice" if has_choices else "generate"
    if mode not in ("choice", "generate"):
        raise SteeringError(f"Mode must be 'choice' or 'generate', not '{mode}'.")
    return mode


def chance(questions: Sequence[Question]) -> tuple[float | None, tuple[int, int] | None]:
    """Accuracy by guessing (mean of 1 / options per question) and the fewest and most options."""
    counts = [len(q.choices) for q in questions if q.choices]
    if not counts or len(counts) != len(questions):
        return None, None
    return sum(1 / c for c in counts) / len(counts), (min(counts), max(counts))
