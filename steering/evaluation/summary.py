"""From an evaluation's table to numbers and words: results per strength, the choice, the verdict.

Accuracy with Wilson intervals, McNemar's exact test and a paired bootstrap interval, each against
strength 0 on the same questions; the strength chosen as the best one; the verdict sentence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from steering.evaluation.results import SideEffects, StrengthResult, Verdict
from steering.evaluation.stats import Paired, paired_bootstrap, paired_counts, wilson
from steering.evaluation.verdict import (
    disruption_note,
    side_effect_note,
    verdict_outcome,
    verdict_sentence,
)


def summarise(table: pd.DataFrame, *, seed: int = 0) -> tuple[StrengthResult, ...]:
    """One result per strength: accuracy with intervals, diagnostics, and the paired test vs 0."""
    base = table[table.alpha == 0.0].sort_values("question")
    if base.empty:
        raise ValueError("the table needs strength 0 rows to compare against")
    return tuple(
        strength_result(base, table[table.alpha == alpha], float(alpha), seed=seed)
        for alpha in sorted(table.alpha.unique(), key=float)
    )


def strength_result(
    base: pd.DataFrame,
    part: pd.DataFrame,
    alpha: float,
    *,
    layers: tuple[int, ...] | None = None,
    seed: int = 0,
) -> StrengthResult:
    """The result of the rows ``part`` (one condition), tested against ``base`` (strength 0)."""
    part = part.sort_values("question")
    n = len(part)
    correct = int(part.correct.sum())
    correct_norm = int(part.correct_norm.sum())
    low, high = wilson(correct, n)
    low_n, high_n = wilson(correct_norm, n)
    counts = paired_counts(base.correct.tolist(), part.correct.tolist())
    counts_n = paired_counts(base.correct_norm.tolist(), part.correct_norm.tolist())
    diff_low, diff_high = paired_bootstrap(base.correct.tolist(), part.correct.tolist(), seed=seed)
    return StrengthResult(
        alpha=alpha,
        accuracy=correct / n,
        accuracy_norm=correct_norm / n,
        ci_low=low,
        ci_high=high,
        kl=_mean(part.kl),
        entropy_bits=_mean(part.entropy_bits),
        mass_correct=_mean(part.mass_correct),
        mass_incorrect=_mean(part.mass_incorrect),
        mcnemar_p=counts.p_value,
        n=n,
        correct=correct,
        correct_norm=correct_norm,
        ci_norm_low=low_n,
        ci_norm_high=high_n,
        mcnemar_p_norm=counts_n.p_value,
        gained=counts.gained,
        lost=counts.lost,
        diff=(correct - counts.base_correct) / n,
        diff_low=diff_low,
        diff_high=diff_high,
        layers=layers,
    )


def _mean(column: pd.Series) -> float | None:
    # NaN (e.g. no candidate's first token survived the text rule) is "not measured": None.
    value = float(column.mean())
    return None if math.isnan(value) else value


def pick_alpha(results: Sequence[StrengthResult]) -> float:
    """The strength with the most correct answers; ties go to the smallest |alpha| (0 first)."""
    best = max(results, key=lambda r: (r.correct, -abs(r.alpha), r.alpha))
    return float(best.alpha)


def table_verdict(
    table: pd.DataFrame,
    alpha: float | None,
    *,
    questions: str,
    tried: int,
    chosen_on: str,
    results: Sequence[StrengthResult] = (),
    side_effects: SideEffects | None = None,
) -> tuple[str, Verdict]:
    """The verdict sentence and outcome about strength ``alpha`` against strength 0; with the
    table's ``results`` (``summarise``) a gain by disruption is named (``disruption_note``), and
    with the evaluation's ``side_effects`` (``SideEffects()`` when not measured) side effects
    beyond the lab's limits are (``side_effect_note``)."""
    base = table[table.alpha == 0.0].sort_values("question")
    if alpha is None:
        return "Only strength 0 was evaluated, so there is nothing to compare.", (
            Verdict.NOTHING_TO_COMPARE
        )
    part = table[table.alpha == alpha].sort_values("question")
    counts = paired_counts(base.correct.tolist(), part.correct.tolist())
    note = chosen_disruption(results, alpha)
    sentence = verdict_sentence(
        alpha, counts, questions=questions, tried=tried, chosen_on=chosen_on, disruption=note,
        side_effects=side_effects,
    )  # fmt: skip
    over = side_effects is not None and side_effect_note(side_effects, alpha) is not None
    outcome = verdict_outcome(
        counts, tried=tried, chosen_on=chosen_on, disrupted=note is not None,
        side_effects_over=over,
    )  # fmt: skip
    return sentence, outcome


def chosen_disruption(results: Sequence[StrengthResult], alpha: float | None) -> str | None:
    """``disruption_note`` of strength ``alpha`` against strength 0 among ``results``."""
    base = next((r for r in results if r.alpha == 0.0 and not r.layers), None)
    steered = next((r for r in results if alpha is not None and r.alpha == float(alpha)), None)
    if base is None or steered is None or alpha == 0.0:
        return None
    return disruption_note(base, steered)


def unchanged(correct: int, n: int) -> Paired:
    """The paired counts of a strength that changes nothing (strength 0 against itself)."""
    return Paired(n=n, base_correct=correct, steered_correct=correct, gained=0, lost=0)
