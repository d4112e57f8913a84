"""The number format in words: what a vector was built in, what its evaluation ran in, and the
format the API serves an approved submission in (the evaluation's; see issue 24)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dashboard.views.common import md

UNRECORDED = (
    "not recorded (made before formats were recorded: float32 on a CPU, bfloat16 on a graphics "
    "card)"
)


def _why(reason: Any) -> str:
    """``"bfloat16: native on this CPU"`` -> ``"native on this CPU"``."""
    text = str(reason or "")
    return text.partition(": ")[2] or text


def format_words(dtype: Any, reason: Any) -> str:
    """``bfloat16 (native on this CPU)``, or the words for a format that was not recorded."""
    if not dtype:
        return UNRECORDED
    why = _why(reason)
    return f"{md(dtype)} ({md(why)})" if why else md(dtype)


def evaluated_format(results: Mapping[str, Any]) -> str | None:
    """The format an evaluation ran in, from its stored report (None: not recorded)."""
    value = results.get("dtype")
    return str(value) if value else None


def number_format_markdown(results: Mapping[str, Any], lineage: Mapping[str, Any]) -> str:
    """One paragraph: the evaluation's format (the one the API serves), the vector's, and that
    vector files hold float32 numbers whatever the model ran in."""
    evaluated = evaluated_format(results)
    served = (
        f"the API serves this submission in {md(evaluated)}, the format it was evaluated in"
        if evaluated
        else "the API serves it in the format the model is loaded in"
    )
    return (
        f"**Number format.** The evaluation ran in "
        f"{format_words(results.get('dtype'), results.get('dtype_reason'))}; {served}. The vector "
        f"was built in {format_words(lineage.get('dtype'), lineage.get('dtype_reason'))}; its "
        "file stores float32 numbers in any case."
    )
