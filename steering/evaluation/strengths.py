"""Steering strengths: the one parser for a list a user typed, the rule that 0 is always in, and
the strengths worth trying first for a given vector.

Strength 0 (the unsteered model) is the baseline every other strength is compared against, so every
evaluation includes it whether or not the user wrote it.

What a strength does depends on the model: ``alpha * v`` is added to a residual stream whose size
differs from model to model (measured on the bundled arithmetic set at the middle block: about 26
times the mean-difference vector's norm in SmolLM2-135M, about 64 times in Gemma 3 270M). So the
suggested strengths are set from the vector's own numbers, recorded at build time: each adds the
vector at a fixed share of the typical residual-stream norm (``RESIDUAL_SHARES``).
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from steering.errors import SteeringError

DEFAULT_ALPHAS = (0.0, 0.25, 0.5, 1.0)  # what an evaluation tries when not told
MAX_STRENGTH = 1000.0  # beyond this the model's activations are swamped; surely a typo
_SEPARATORS = re.compile(r"[,;\s]+")
# Shares of the residual-stream norm the suggested strengths add: 2.5 %, 5 % and 10 %. On the
# bundled model, 10 % already moves the first answer token's distribution clearly (KL about 0.5
# nats) and 40 % ruins fluency (neutral perplexity up a hundredfold): docs/results.md.
RESIDUAL_SHARES = (0.025, 0.05, 0.1)


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


def _two_digits(value: float) -> float:
    return float(f"{value:.2g}")


def suggested_strengths(
    metadata: Mapping[str, Any], layers: Sequence[int] | None = None
) -> tuple[float, ...]:
    """0 and the strengths that add the vector at ``RESIDUAL_SHARES`` of the residual norm.

    Reads ``norms`` and ``residual_norms`` from a vector's lineage (the median ratio over
    ``layers``, default all); a vector without them (e.g. imported) gets ``DEFAULT_ALPHAS``.
    """
    norms, residual = metadata.get("norms") or {}, metadata.get("residual_norms") or {}
    keys = [str(i) for i in layers] if layers is not None else list(residual)
    ratios = [
        float(residual[k]) / float(norms[k])
        for k in keys
        if k in residual and k in norms and float(norms[k]) > 0
    ]
    if not ratios:
        return DEFAULT_ALPHAS
    ratio = statistics.median(ratios)
    return (0.0, *(_two_digits(share * ratio) for share in RESIDUAL_SHARES))
