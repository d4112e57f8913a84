"""Steering strengths: the one parser for a list a user typed, and the rule that 0 is always in.

Strength 0 (the unsteered model) is the baseline every other strength is compared against, so every
evaluation includes it whether or not the user wrote it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from steering.errors import SteeringError

DEFAULT_ALPHAS = (0.0, 0.25, 0.5, 1.0)  # what an evaluation tries when not told
MAX_STRENGTH = 1000.0  # beyond this the model's activations are swamped; surely a typo
_SEPARATORS = re.compile(r"[,;\s]+")


def with_baseline(alphas: Iterable[float]) -> list[float]:
    """``alphas`` with 0 added, sorted and without repeats (``-0.0`` counts as 0)."""
    return sorted({float(a) + 0.0 for a in alphas} | {0.0})


def parse_strengths(text: str) -> list[float]:
    """``"0.5, 1; 2"`` -> ``[0.0, 0.5, 1.0, 2.0]``: the strengths to evaluate, with the baseline.

    Parts are separated by commas, semicolons or spaces; each must be a finite number no larger than
    ``MAX_STRENGTH`` in size, and at least one must differ from 0.
    """
    values: list[float] = []
    for part in _SEPARATORS.split(text or ""):
        if not part:
            continue
        try:
            value = float(part)
        except ValueError as error:
            raise SteeringError(
                f"Strength '{part}' is not a number: write them like 0, 0.25, 0.5, 1."
            ) from error
        if not math.isfinite(value):
            raise SteeringError(f"Strength '{part}' is not a finite number: use e.g. 0.5 or -1.")
        if abs(value) > MAX_STRENGTH:
            raise SteeringError(
                f"Strength '{part}' is too large: use values between -{MAX_STRENGTH:g} and "
                f"{MAX_STRENGTH:g} (typical strengths are below 10)."
            )
        values.append(value)
    strengths = with_baseline(values)
    if len(strengths) < 2:
        raise SteeringError("Give at least one strength besides 0, e.g. 0, 0.5, 1.")
    return strengths
