"""The statistics behind a verdict: Wilson intervals, McNemar's exact test, a paired bootstrap.

All three are about the same data: for each question, whether the model answered it correctly
without the vector (``base``) and with it (``steered``). The questions are the same in both arms, so
the honest comparison is paired: only the *discordant* questions (right in one arm, wrong in the
other) carry information about the difference.

- ``wilson``: the Wilson score interval for one proportion (better than ``p +- 1.96 se`` near 0 or
  1 and for small ``n``).
- ``mcnemar_exact``: two-sided exact McNemar test. Under "the vector makes no difference" each
  discordant question is equally likely to go either way, so the number gained is
  Binomial(gained + lost, 1/2); the p-value is twice the smaller tail, capped at 1.
- ``paired_bootstrap``: percentile interval for ``mean(steered) - mean(base)``, resampling
  questions (pairs) with replacement from a seeded generator, so the same inputs give the same
  interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054  # the 97.5% quantile of the standard normal


def wilson(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for ``correct / n``; ``(0.0, 1.0)`` when ``n`` is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = correct / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if correct == 0 else max(0.0, centre - half)
    high = 1.0 if correct == n else min(1.0, centre + half)
    return low, high


def mcnemar_exact(gained: int, lost: int) -> float:
    """Two-sided exact McNemar p-value from the two discordant counts (1.0 when there are none)."""
    n = gained + lost
    if n == 0:
        return 1.0
    k = min(gained, lost)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


@dataclass(frozen=True)
class Paired:
    """Counts of a paired comparison: ``gained`` = wrong before, right with the vector."""

    n: int
    base_correct: int
    steered_correct: int
    gained: int
    lost: int

    @property
    def discordant(self) -> int:
        return self.gained + self.lost

    @property
    def p_value(self) -> float:
        return mcnemar_exact(self.gained, self.lost)


def paired_counts(base: Sequence[bool], steered: Sequence[bool]) -> Paired:
    """Tabulate paired outcomes of the same questions in the same order."""
    if len(base) != len(steered):
        raise ValueError("paired outcomes must have the same length")
    b = np.asarray(base, dtype=bool)
    s = np.asarray(steered, dtype=bool)
    return Paired(
        n=len(b),
        base_correct=int(b.sum()),
        steered_correct=int(s.sum()),
        gained=int((~b & s).sum()),
        lost=int((b & ~s).sum()),
    )


def paired_bootstrap(
    base: Sequence[bool],
    steered: Sequence[bool],
    *,
    samples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the accuracy difference ``steered - base`` over questions."""
    b = np.asarray(base, dtype=np.float64)
    s = np.asarray(steered, dtype=np.float64)
    if len(b) != len(s):
        raise ValueError("paired outcomes must have the same length")
    if len(b) == 0:
        return 0.0, 0.0
    diff = s - b
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(diff), size=(samples, len(diff)))
    means = diff[picks].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)
