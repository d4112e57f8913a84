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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from steering.engine.generate import generate_answers
from steering.engine.models import LoadedModel
from steering.errors import SteeringError
from steering.evaluation.answers import expected_form, extract_answer, is_correct, normalise_text
from steering.evaluation.results import (
    EvaluationReport,
    Sample,
    SideEffects,
    StrengthResult,
    VectorSummary,
    Verdict,
)
from steering.evaluation.scoring import Condition, UnitScores, first_answer_tokens, score_units
from steering.evaluation.side_effects import side_effects as measure_side_effects
from steering.evaluation.stats import Paired, paired_bootstrap, paired_counts, wilson
from steering.evaluation.strengths import DEFAULT_ALPHAS, with_baseline
from steering.evaluation.verdict import no_strength_chosen, verdict_outcome, verdict_sentence
from steering.progress import ProgressCallback
from steering.vectors import ControlVector

SAMPLES = 4  # sample questions kept at each evaluated strength


@dataclass(frozen=True)
class Question:
    prompt: str
    answer: str
    choices: tuple[str, ...] | None
    row: int


def _field(row: Any, name: str) -> Any:
    return row.get(name) if isinstance(row, dict) else getattr(row, name, None)


def as_questions(rows: Sequence[Any], *, need_choices: bool) -> list[Question]:
    """Rows with an answer, checked: a user error names the row and what to fix."""
    questions = []
    for i, row in enumerate(rows):
        number = _field(row, "row") or i + 1
        answer = _field(row, "answer")
        if answer is None or not str(answer).strip():
            raise SteeringError(f"Row {number}: no 'answer' to evaluate against.")
        choices = _field(row, "choices")
        choices = tuple(str(c) for c in choices) if choices else None
        if need_choices:
            if not choices:
                raise SteeringError(f"Row {number}: no 'choices' for multiple-choice scoring.")
            if _answer_index(str(answer), choices) is None:
                raise SteeringError(
                    f"Row {number}: the answer '{answer}' is not one of its choices "
                    f"({', '.join(choices)})."
                )
        questions.append(Question(str(_field(row, "prompt")), str(answer), choices, int(number)))
    if not questions:
        raise SteeringError("No rows to evaluate: the rows need an 'answer' column.")
    return questions


def _answer_index(answer: str, choices: Sequence[str]) -> int | None:
    for i, choice in enumerate(choices):
        if choice.strip() == answer.strip():
            return i
    for i, choice in enumerate(choices):
        if normalise_text(choice) == normalise_text(answer):
            return i
    return None


def _masses(unit: UnitScores, first_ids: Sequence[int | None], correct: int) -> tuple[float, float]:
    correct_token = first_ids[correct]
    mass_correct = unit.first_probs[correct] if correct_token is not None else math.nan
    seen: set[int] = set()
    mass_incorrect = 0.0
    for c, token in enumerate(first_ids):
        if c == correct or token is None or token == correct_token or token in seen:
            continue
        seen.add(token)
        mass_incorrect += unit.first_probs[c]
    return mass_correct, mass_incorrect


def _choice_table(
    loaded: LoadedModel,
    questions: Sequence[Question],
    conditions: Sequence[Condition],
    candidates: Sequence[Sequence[str]],
    *,
    vector: ControlVector | None,
    layers: Sequence[int] | None,
    batch_size: int,
    progress: ProgressCallback | None,
) -> pd.DataFrame:
    scores = score_units(
        loaded,
        [q.prompt for q in questions],
        candidates,
        conditions,
        vector=vector,
        layers=layers,
        batch_size=batch_size,
        progress=progress,
    )
    records = []
    for q, (question, cands, per_condition) in enumerate(
        zip(questions, candidates, scores, strict=True)
    ):
        correct = _answer_index(question.answer, cands)
        if correct is None:  # as_questions(need_choices=True) refused such rows already
            raise SteeringError(f"Row {question.row}: the answer is not one of its choices.")
        first_ids = first_answer_tokens(loaded.tokenizer, question.prompt, cands)
        for condition, unit in zip(conditions, per_condition, strict=True):
            predicted = int(np.argmax(unit.logprobs))
            predicted_norm = int(np.argmax(unit.mean_logprobs))
            mass_correct, mass_incorrect = _masses(unit, first_ids, correct)
            records.append(
                {
                    "question": q,
                    "row": question.row,
                    "alpha": condition.alpha,
                    "layers": ",".join(map(str, condition.layers)) if condition.layers else "",
                    "answer": cands[correct],
                    "predicted": cands[predicted],
                    "predicted_norm": cands[predicted_norm],
                    "correct": predicted == correct,
                    "correct_norm": predicted_norm == correct,
                    "kl": unit.kl,
                    "entropy_bits": unit.entropy_bits,
                    "mass_correct": mass_correct,
                    "mass_incorrect": mass_incorrect,
                    "logprobs": tuple(unit.logprobs),
                    "logprobs_norm": tuple(unit.mean_logprobs),
                }
            )
    return pd.DataFrame.from_records(records)


def score_choices(
    loaded: LoadedModel,
    rows: Sequence[Any],
    *,
    vector: ControlVector | None = None,
    alphas: Sequence[float] = (0.0,),
    layers: Sequence[int] | None = None,
    batch_size: int = 32,
    progress: ProgressCallback | None = None,
) -> pd.DataFrame:
    """One row per (question, strength): prediction, correctness and first-token diagnostics.

    Columns: question, row, alpha, layers, answer, predicted, predicted_norm, correct,
    correct_norm, kl (nats), entropy_bits, mass_correct, mass_incorrect, logprobs, logprobs_norm.
    """
    questions = as_questions(rows, need_choices=True)
    conditions = [Condition(float(a)) for a in alphas]
    return _choice_table(
        loaded, questions, conditions, _choices(questions), vector=vector, layers=layers,
        batch_size=batch_size, progress=progress,
    )  # fmt: skip


def _choices(questions: Sequence[Question]) -> list[tuple[str, ...]]:
    # Only called on questions checked with ``need_choices=True``: every one has choices.
    return [q.choices or () for q in questions]


def _generated_table(
    loaded: LoadedModel,
    questions: Sequence[Question],
    alphas: Sequence[float],
    *,
    vector: ControlVector | None,
    layers: Sequence[int] | None,
    batch_size: int,
    max_new_tokens: int,
    progress: ProgressCallback | None,
) -> pd.DataFrame:
    # Diagnostics from one scoring pass over the choices (or the answer alone).
    candidates = [q.choices or (q.answer,) for q in questions]
    table = _choice_table(
        loaded,
        questions,
        [Condition(float(a)) for a in alphas],
        candidates,
        vector=vector,
        layers=layers,
        batch_size=batch_size,
        progress=None,
    )
    units = [(q, a) for a in alphas for q in range(len(questions))]
    answers = []
    for start in range(0, len(units), batch_size):
        chunk = units[start : start + batch_size]
        answers += generate_answers(
            loaded,
            [questions[q].prompt for q, _ in chunk],
            vector=vector,
            alphas=[float(a) for _, a in chunk],
            layers=layers,
            max_new_tokens=max_new_tokens,
        )
        if progress is not None:
            progress(start + len(chunk), len(units))
    generated = {}
    for (q, a), answer in zip(units, answers, strict=True):
        question = questions[q]
        extracted = extract_answer(answer.text, question.answer, question.choices)
        generated[(q, float(a))] = (
            answer.text,
            extracted,
            is_correct(extracted, question.answer),
            answer.cut,
        )
    keys = [(int(q), float(a)) for q, a in zip(table.question, table.alpha, strict=True)]
    # object columns: an answer that could not be extracted stays None, not NaN
    table["generated"] = pd.Series([generated[k][0] for k in keys], index=table.index, dtype=object)
    table["extracted"] = pd.Series([generated[k][1] for k in keys], index=table.index, dtype=object)
    table["predicted"] = table["extracted"]
    table["correct"] = [generated[k][2] for k in keys]
    table["cut"] = [generated[k][3] for k in keys]
    table["correct_norm"] = table["correct"]
    table["answer"] = [expected_form(questions[q].answer) for q in table.question]
    return table


def summarise(table: pd.DataFrame, *, seed: int = 0) -> tuple[StrengthResult, ...]:
    """One result per strength: accuracy with intervals, diagnostics, and the paired test vs 0."""
    base = table[table.alpha == 0.0].sort_values("question")
    if base.empty:
        raise ValueError("the table needs strength 0 rows to compare against")
    return tuple(
        _strength_result(base, table[table.alpha == alpha], float(alpha), seed=seed)
        for alpha in sorted(table.alpha.unique(), key=float)
    )


def _strength_result(
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


def _pick_alpha(results: Sequence[StrengthResult]) -> float:
    """The strength with the most correct answers; ties go to the smallest |alpha| (0 first)."""
    best = max(results, key=lambda r: (r.correct, -abs(r.alpha), r.alpha))
    return float(best.alpha)


def _resolve_mode(questions_rows: Sequence[Any], mode: str | None) -> str:
    if mode is None:
        has_choices = all(_field(r, "choices") for r in questions_rows)
        return "choice" if has_choices else "generate"
    if mode not in ("choice", "generate"):
        raise SteeringError(f"Mode must be 'choice' or 'generate', not '{mode}'.")
    return mode


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


def _table(
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
    questions = as_questions(rows, need_choices=mode == "choice")
    if mode == "choice":
        conditions = [Condition(a) for a in alphas]
        return _choice_table(
            loaded, questions, conditions, _choices(questions), vector=vector, layers=layers,
            batch_size=batch_size, progress=progress,
        )  # fmt: skip
    return _generated_table(
        loaded,
        questions,
        alphas,
        vector=vector,
        layers=layers,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        progress=progress,
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


def _chance(questions: Sequence[Question]) -> tuple[float | None, tuple[int, int] | None]:
    """Accuracy by guessing (mean of 1 / options per question) and the fewest and most options."""
    counts = [len(q.choices) for q in questions if q.choices]
    if not counts or len(counts) != len(questions):
        return None, None
    return sum(1 / c for c in counts) / len(counts), (min(counts), max(counts))


def _report(
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
    strengths: Sequence[float],
    side_effects: bool,
    build_results: tuple[StrengthResult, ...] | None = None,
) -> EvaluationReport:
    """Measure side effects (when asked) and assemble the report of an evaluation."""
    questions = as_questions(rows, need_choices=mode == "choice")
    effects = (
        measure_side_effects(loaded, vector, strengths, layers=layers)
        if side_effects
        else SideEffects()
    )
    sentence, outcome = verdict
    chance, options = _chance(questions)
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
        chance=chance,
        options=options,
        table=table,
    )


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
    mode = _resolve_mode(rows, mode)
    strengths = with_baseline(alphas)
    table = _table(
        loaded, vector, rows, strengths, mode, layers, batch_size, max_new_tokens, progress
    )
    results = summarise(table)
    tried = [r for r in results if r.alpha != 0.0]
    if chosen_alpha is not None:
        chosen, chosen_on = float(chosen_alpha), "given"
        if chosen not in strengths:
            raise SteeringError(f"The chosen strength {chosen:g} is not among {strengths}.")
    elif tried:
        chosen, chosen_on = _pick_alpha(tried), "same"
    else:
        chosen, chosen_on = None, "same"
    verdict = _verdict(table, chosen, questions="questions", tried=len(tried), chosen_on=chosen_on)
    return _report(
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
        strengths=strengths,
        side_effects=side_effects,
    )


def _verdict(
    table: pd.DataFrame, alpha: float | None, *, questions: str, tried: int, chosen_on: str
) -> tuple[str, Verdict]:
    base = table[table.alpha == 0.0].sort_values("question")
    if alpha is None:
        return "Only strength 0 was evaluated, so there is nothing to compare.", (
            Verdict.NOTHING_TO_COMPARE
        )
    part = table[table.alpha == alpha].sort_values("question")
    counts = paired_counts(base.correct.tolist(), part.correct.tolist())
    sentence = verdict_sentence(
        alpha, counts, questions=questions, tried=tried, chosen_on=chosen_on
    )
    return sentence, verdict_outcome(counts, tried=tried, chosen_on=chosen_on)


def _unchanged(correct: int, n: int) -> Paired:
    return Paired(n=n, base_correct=correct, steered_correct=correct, gained=0, lost=0)


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
    mode = _resolve_mode(list(build_rows) + list(heldout_rows), mode)
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
        build_table = _table(
            loaded, vector, build_rows, strengths, mode, layers, batch_size, max_new_tokens,
            part_progress(0),
        )  # fmt: skip
        build_results = summarise(build_table)
        chosen = _pick_alpha(build_results)
    else:
        chosen = 0.0
    table = _table(
        loaded, vector, heldout_rows, strengths, mode, layers, batch_size, max_new_tokens,
        part_progress(len(build_rows)),
    )  # fmt: skip
    results = summarise(table)
    if chosen == 0.0:
        base = table[table.alpha == 0.0].sort_values("question")
        held = _unchanged(int(base.correct.sum()), len(base))
        if build_results is not None:
            b0 = next(r for r in build_results if r.alpha == 0.0)
            build_counts = _unchanged(b0.correct or 0, b0.n or 0)
            verdict = no_strength_chosen(build_counts, held), Verdict.NO_STRENGTH_CHOSEN
        else:
            verdict = "There are no build rows to choose a strength on.", Verdict.NOTHING_TO_COMPARE
    else:
        verdict = _verdict(
            table, chosen, questions="held-out questions", tried=1, chosen_on="build"
        )
    return _report(
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
        strengths=strengths,
        side_effects=side_effects,
        build_results=build_results,
    )


def layer_sweep(
    loaded: LoadedModel,
    vector: ControlVector,
    rows: Sequence[Any],
    *,
    alpha: float,
    layer_sets: Sequence[Sequence[int]] | None = None,
    batch_size: int = 32,
    progress: ProgressCallback | None = None,
) -> tuple[StrengthResult, ...]:
    """Multiple-choice accuracy with the vector at ``alpha`` applied at each layer set in turn.

    Default: each of the vector's layers alone. All layer sets share the batched passes (each row
    steered only at its own layers). The first result is the unsteered model (``layers == ()``,
    strength 0), then one per layer set, each tested against it.
    """
    questions = as_questions(rows, need_choices=True)
    sets = [tuple(s) for s in layer_sets] if layer_sets else [(i,) for i in vector.layers]
    conditions = [Condition(0.0)] + [Condition(float(alpha), s) for s in sets]
    table = _choice_table(
        loaded, questions, conditions, _choices(questions), vector=vector, layers=None,
        batch_size=batch_size, progress=progress,
    )  # fmt: skip
    base = table[table.layers == ""].sort_values("question")
    return tuple(
        _strength_result(
            base,
            table[table.layers == ",".join(map(str, layers))],
            float(alpha) if layers else 0.0,
            layers=layers,
        )
        for layers in [()] + sets
    )
