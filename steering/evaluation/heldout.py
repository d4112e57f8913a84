"""Held-out evaluation: the strength is chosen on build rows and reported on held-out rows.

Choosing and reporting on different rows keeps the verdict honest without a correction for the
number of strengths tried (``evaluate`` on one set of rows needs that correction).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from steering.engine.models import LoadedModel
from steering.errors import SteeringError
from steering.evaluation.questions import resolve_mode
from steering.evaluation.report import build_report, evaluation_table, measured_side_effects
from steering.evaluation.results import EvaluationReport, Verdict
from steering.evaluation.strengths import DEFAULT_ALPHAS, with_baseline
from steering.evaluation.summary import pick_alpha, summarise, table_verdict, unchanged
from steering.evaluation.verdict import no_strength_chosen
from steering.progress import ProgressCallback
from steering.vectors import ControlVector


def evaluate_heldout(
    loaded: LoadedModel,
    vector: ControlVector,
    build_rows: Sequence[Any],
    heldout_rows: Sequence[Any],
    *,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    layers: Sequence[int] | None = None,
    mode: str | None = None,
    batch_size: int = 32,
    progress: ProgressCallback | None = None,
    side_effects: bool = True,
    max_new_tokens: int = 48,
) -> EvaluationReport:
    """Choose the strength on ``build_rows`` (best accuracy, ties to the smallest |alpha|) and
    report every strength on ``heldout_rows``; the verdict is about the chosen strength there."""
    if not heldout_rows:
        raise SteeringError("No held-out rows: keep some rows out of the build to evaluate on.")
    mode = resolve_mode(list(build_rows) + list(heldout_rows), mode)
    strengths = with_baseline(alphas)
    total = len(build_rows) + len(heldout_rows)

    def part_progress(offset: int) -> ProgressCallback | None:
        if progress is None:
            return None
        return lambda done, n: progress(
            offset + round(done / max(n, 1) * (len(build_rows) if offset == 0 else total - offset)),
            total,
        )

    build_results = None
    if build_rows:
        build_table = evaluation_table(
            loaded, vector, build_rows, strengths, mode, layers, batch_size, max_new_tokens,
            part_progress(0),
        )  # fmt: skip
        build_results = summarise(build_table)
        chosen = pick_alpha(build_results)
    else:
        chosen = 0.0
    table = evaluation_table(
        loaded, vector, heldout_rows, strengths, mode, layers, batch_size, max_new_tokens,
        part_progress(len(build_rows)),
    )  # fmt: skip
    results = summarise(table)
    effects = measured_side_effects(loaded, vector, strengths, layers, side_effects)
    if chosen == 0.0:
        base = table[table.alpha == 0.0].sort_values("question")
        held = unchanged(int(base.correct.sum()), len(base))
        if build_results is not None:
            b0 = next(r for r in build_results if r.alpha == 0.0)
            build_counts = unchanged(b0.correct or 0, b0.n or 0)
            verdict = no_strength_chosen(build_counts, held), Verdict.NO_STRENGTH_CHOSEN
        else:
            verdict = "There are no build rows to choose a strength on.", Verdict.NOTHING_TO_COMPARE
    else:
        verdict = table_verdict(
            table, chosen, questions="held-out questions", tried=1, chosen_on="build",
            results=results, side_effects=effects,
        )  # fmt: skip
    return build_report(
        loaded,
        vector,
        heldout_rows,
        table,
        results,
        verdict,
        chosen=chosen,
        chosen_on="build",
        layers=layers,
        mode=mode,
        effects=effects,
        build_results=build_results,
    )
