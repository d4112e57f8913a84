"""One evaluation's table in its mode, and the ``EvaluationReport`` assembled from it.

Shared by ``evaluate`` (chosen on the same rows) and ``evaluate_heldout`` (chosen on build rows):
the table by mode, side effects (measured before the verdict, which applies the lab's limits on
them), sample answers for a reviewer and the lineage of the vector; for
a conditional vector the gate as measured (``GateReport``: on the questions reported on, from the
table, and on the held-out everyday half), and the disruption note of the chosen strength.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pandas as pd

from steering.engine.gate import decisions_for
from steering.engine.models import LoadedModel
from steering.evaluation.choice_table import choice_table
from steering.evaluation.generated_table import generated_table
from steering.evaluation.questions import Question, as_questions, chance, choice_lists
from steering.evaluation.results import (
    EvaluationReport,
    GateReport,
    Sample,
    SideEffects,
    StrengthResult,
    VectorSummary,
    Verdict,
)
from steering.evaluation.scoring import Condition
from steering.evaluation.side_effects import answer_prompts
from steering.evaluation.side_effects import side_effects as measure_side_effects
from steering.evaluation.summary import chosen_disruption
from steering.progress import ProgressCallback
from steering.vectors import ControlVector

SAMPLES = 4  # sample questions kept at each evaluated strength


def evaluation_table(
    loaded: LoadedModel,
    vector: ControlVector,
    rows: Sequence[Any],
    alphas: Sequence[float],
    mode: str,
    layers: Sequence[int] | None,
    batch_size: int,
    max_new_tokens: int,
    progress: ProgressCallback | None,
) -> pd.DataFrame:
    """The per-(question, strength) table: choices scored (``choice``) or answers generated."""
    questions = as_questions(rows, need_choices=mode == "choice")
    if mode == "choice":
        conditions = [Condition(a) for a in alphas]
        return choice_table(
            loaded, questions, conditions, choice_lists(questions), vector=vector, layers=layers,
            batch_size=batch_size, progress=progress,
        )  # fmt: skip
    return generated_table(
        loaded,
        questions,
        alphas,
        vector=vector,
        layers=layers,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        progress=progress,
    )


def _vector_info(vector: ControlVector, layers: Sequence[int] | None) -> VectorSummary:
    meta = vector.metadata
    return VectorSummary(
        hash=vector.content_hash(),
        method=meta.get("method"),
        negatives=meta.get("negatives"),
        layers=tuple(layers) if layers is not None else tuple(vector.layers),
        dataset_hash=meta.get("dataset_hash"),
        model_id=meta.get("model_id"),
    )


def _samples(table: pd.DataFrame, questions: Sequence[Question], mode: str) -> tuple[Sample, ...]:
    """A few questions at every evaluated strength, each next to its answer without the vector.

    Kept at every strength, not only the chosen one, so a reviewer can read the answers at the
    strength that was submitted, also when the evaluation chose none or nothing changed. At each
    strength the questions whose answer changed come first: they are what a reviewer wants to read.
    """
    base = table[table.alpha == 0.0].set_index("question")
    generated = mode == "generate"
    samples = []
    for alpha in sorted({float(a) for a in table.alpha if a != 0.0}, key=abs):
        steered = table[table.alpha == alpha].set_index("question")
        changed = [q for q in base.index if base.predicted[q] != steered.predicted[q]]
        picks = (changed + [q for q in base.index if q not in changed])[:SAMPLES]
        samples += [
            Sample(
                row=questions[q].row,
                prompt=questions[q].prompt,
                answer=questions[q].answer,
                unsteered=base.predicted[q],
                steered=steered.predicted[q],
                alpha=alpha,
                unsteered_text=base.generated[q] if generated else None,
                steered_text=steered.generated[q] if generated else None,
                unsteered_correct=bool(base.correct[q]),
                steered_correct=bool(steered.correct[q]),
                unsteered_cut=bool(base.cut[q]) if generated else None,
                steered_cut=bool(steered.cut[q]) if generated else None,
            )
            for q in picks
        ]
    return tuple(samples)


def _with_side_effects(
    results: tuple[StrengthResult, ...], effects: SideEffects
) -> tuple[StrengthResult, ...]:
    """Each strength's row with its side effects filled in (unchanged when none were measured)."""
    if not effects.measured:
        return results
    return tuple(
        replace(
            r,
            perplexity=effects.perplexity.get(r.alpha),
            neutral_changed=effects.changed_share.get(r.alpha),
        )
        for r in results
    )


def gate_report(
    loaded: LoadedModel, vector: ControlVector, table: pd.DataFrame
) -> GateReport | None:
    """The gate as measured: its open rate on the table's questions and on the held-out everyday
    half (the prompts "answers changed" is measured on); None for an unconditional vector."""
    condition = vector.condition
    if condition is None:
        return None
    # The scoring decided each question's gate from its prompt (the same at every strength).
    questions = table.drop_duplicates("question")
    task = questions.gate_open.astype(bool).tolist() if "gate_open" in table else []
    everyday = decisions_for(loaded, vector, answer_prompts(vector)) or []
    return GateReport(
        task_open_rate=sum(task) / len(task) if task else 0.0,
        everyday_open_rate=sum(d.applied for d in everyday) / len(everyday) if everyday else 0.0,
        task_rows=len(task),
        everyday_rows=len(everyday),
        layer=condition.layer,
        threshold=float(condition.threshold),
    )


def measured_side_effects(
    loaded: LoadedModel,
    vector: ControlVector,
    strengths: Sequence[float],
    layers: Sequence[int] | None,
    side_effects: bool,
) -> SideEffects:
    """The side effects at every strength (a conditional vector's gate deciding), or
    ``SideEffects()`` when not asked for; measured before the verdict, which applies the lab's
    limits on them."""
    if not side_effects:
        return SideEffects()
    return measure_side_effects(loaded, vector, strengths, layers=layers)


def build_report(
    loaded: LoadedModel,
    vector: ControlVector,
    rows: Sequence[Any],
    table: pd.DataFrame,
    results: tuple[StrengthResult, ...],
    verdict: tuple[str, Verdict],
    *,
    chosen: float | None,
    chosen_on: str,
    layers: Sequence[int] | None,
    mode: str,
    effects: SideEffects,
    build_results: tuple[StrengthResult, ...] | None = None,
) -> EvaluationReport:
    """Assemble the report of an evaluation from its table, verdict and side effects."""
    questions = as_questions(rows, need_choices=mode == "choice")
    sentence, outcome = verdict
    guessed, options = chance(questions)
    return EvaluationReport(
        model=loaded.name,
        vector=_vector_info(vector, layers),
        rows=len(questions),
        mode=mode,
        results=_with_side_effects(results, effects),
        verdict=sentence,
        outcome=outcome,
        chosen_alpha=chosen,
        chosen_on=chosen_on,
        side_effects=effects,
        samples=_samples(table, questions, mode),
        build_results=build_results,
        chance=guessed,
        options=options,
        dtype=loaded.precision.name,
        dtype_reason=loaded.precision.reason,
        gate=gate_report(loaded, vector, table),
        disruption=chosen_disruption(results, chosen),
        table=table,
    )
