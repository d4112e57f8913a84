"""Multiple-choice scoring as a tidy table: one row per (question, condition), batched.

See ``steering.evaluation.scoring`` for exactly what is computed; this module turns its scores into
predictions, correctness and first-token diagnostics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from steering.engine.models import LoadedModel
from steering.errors import SteeringError
from steering.evaluation.questions import Question, answer_index, as_questions, choice_lists
from steering.evaluation.scoring import Condition, UnitScores, first_answer_tokens, score_units
from steering.progress import ProgressCallback
from steering.vectors import ControlVector


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


def choice_table(
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
    """Score ``candidates[q]`` for every question under every condition (the columns of
    :func:`score_choices`)."""
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
        correct = answer_index(question.answer, cands)
        if correct is None:  # as_questions(need_choices=True) refused such rows already
            raise SteeringError(f"Row {question.row}: the answer is not one of its choices.")
        first_ids = first_answer_tokens(loaded.tokenizer, question.prompt, cands)
        for condition, unit in zip(conditions, per_condition, strict=True):
            predicted = int(np.argmax(unit.logprobs))
            predicted_norm = int(np.argmax(unit.mean_logprobs))
            mass_correct, mass_incorrect = _masses(unit, first_ids, correct)
            gate = (
                {}
                if unit.gate is None
                else {"gate_open": unit.gate.applied, "gate_similarity": unit.gate.similarity}
            )
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
                    **gate,
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
    correct_norm, kl (nats), entropy_bits, mass_correct, mass_incorrect, logprobs, logprobs_norm;
    with a conditional vector also gate_open and gate_similarity (the question's gate, decided
    from its prompt, the same at every strength).
    """
    questions = as_questions(rows, need_choices=True)
    conditions = [Condition(float(a)) for a in alphas]
    return choice_table(
        loaded, questions, conditions, choice_lists(questions), vector=vector, layers=layers,
        batch_size=batch_size, progress=progress,
    )  # fmt: skip
