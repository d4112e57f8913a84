"""Evaluation: accuracy at several strengths, the paper's diagnostics, statistics and a verdict.

- ``score_choices``: multiple-choice scoring of many questions at many strengths, batched (see
  ``steering.evaluation.scoring`` for exactly what is computed), as a tidy table.
- ``evaluate``: accuracy per strength (multiple choice, or generated answers with extraction, see
  ``steering.evaluation.answers``), Wilson intervals, McNemar's exact test and a paired bootstrap interval
  against strength 0, side effects on neutral text, and a verdict sentence.
- ``evaluate_heldout``: the strength is chosen on build rows and reported on held-out rows.
- ``layer_sweep``: one strength at each of several layer sets, all in the same batched passes.

Rows are anything with ``prompt``, ``answer`` and optionally ``choices`` and ``row`` attributes (an
``Example``) or dict keys.

This module is the entry point; the steps live in their own modules: ``questions`` (rows checked),
``choice_table`` and ``generated_table`` (the table per mode), ``summary`` (results and verdict),
``report`` (the assembled report), ``heldout`` and ``layer_sweep``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from steering.engine.models import LoadedModel
from steering.errors import SteeringError
from steering.evaluation.choice_table import score_choices
from steering.evaluation.heldout import evaluate_heldout
from steering.evaluation.layer_sweep import layer_sweep
from steering.evaluation.questions import Question, as_questions, resolve_mode
from steering.evaluation.report import (
    SAMPLES,
    build_report,
    evaluation_table,
    measured_side_effects,
)
from steering.evaluation.results import EvaluationReport
from steering.evaluation.strengths import DEFAULT_ALPHAS, with_baseline
from steering.evaluation.summary import pick_alpha, summarise, table_verdict
from steering.progress import ProgressCallback
from steering.vectors import ControlVector

__all__ = [
    "SAMPLES",
    "Question",
    "as_questions",
    "evaluate",
    "evaluate_heldout",
    "layer_sweep",
    "score_choices",
    "summarise",
]


def evaluate(
    loaded: LoadedModel,
    vector: ControlVector,
    rows: Sequence[Any],
    *,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    layers: Sequence[int] | None = None,
    mode: str | None = None,
    batch_size: int = 32,
    progress: ProgressCallback | None = None,
    side_effects: bool = True,
    max_new_tokens: int = 48,
    chosen_alpha: float | None = None,
) -> EvaluationReport:
    """Accuracy at every strength on ``rows`` (strength 0 is always included), with statistics.

    The verdict is about ``chosen_alpha`` when given; otherwise about the best strength on these
    same rows, with its p-value corrected for the number of strengths tried (use
    ``evaluate_heldout`` to choose on other rows instead).
    """
    mode = resolve_mode(rows, mode)
    strengths = with_baseline(alphas)
    table = evaluation_table(
        loaded, vector, rows, strengths, mode, layers, batch_size, max_new_tokens, progress
    )
    results = summarise(table)
    tried = [r for r in results if r.alpha != 0.0]
    if chosen_alpha is not None:
        chosen, chosen_on = float(chosen_alpha), "given"
        if chosen not in strengths:
            raise SteeringError(f"The chosen strength {chosen:g} is not among {strengths}.")
    elif tried:
        chosen, chosen_on = pick_alpha(tried), "same"
    else:
        chosen, chosen_on = None, "same"
    effects = measured_side_effects(loaded, vector, strengths, layers, side_effects)
    verdict = table_verdict(
        table, chosen, questions="questions", tried=len(tried), chosen_on=chosen_on,
        results=results, side_effects=effects,
    )  # fmt: skip
    return build_report(
        loaded,
        vector,
        rows,
        table,
        results,
        verdict,
        chosen=chosen,
        chosen_on=chosen_on,
        layers=layers,
        mode=mode,
        effects=effects,
    )
