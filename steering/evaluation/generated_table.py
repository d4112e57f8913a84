"""Generated answers as a table: each question answered in words at each strength, then graded.

The answer is extracted from the text (see ``steering.evaluation.answers``); the diagnostics (KL,
entropy, probability masses) come from one multiple-choice scoring pass over the choices, or over
the answer alone when a question has none.

With a conditional vector the scoring pass decides each question's gate once; a question whose
gate is closed is answered unsteered at every strength (its unsteered answer, not generated
again), an open one steered as without a gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pandas as pd

from steering.engine.generate import generate_answers
from steering.engine.models import LoadedModel
from steering.evaluation.answers import expected_form, extract_answer, is_correct
from steering.evaluation.choice_table import choice_table
from steering.evaluation.questions import Question
from steering.evaluation.scoring import Condition
from steering.progress import ProgressCallback
from steering.vectors import ControlVector


def generated_table(
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
    """The choice table's columns, graded on the generated answers, plus generated, extracted
    and cut (the answer stopped at the token limit)."""
    # Diagnostics from one scoring pass over the choices (or the answer alone).
    candidates = [q.choices or (q.answer,) for q in questions]
    table = choice_table(
        loaded,
        questions,
        [Condition(float(a)) for a in alphas],
        candidates,
        vector=vector,
        layers=layers,
        batch_size=batch_size,
        progress=None,
    )
    opened = _gates(table)
    if opened is not None and vector is not None:
        vector = replace(vector, condition=None)  # the gate is decided: steer the open rows
    # A closed question's steered answers are its unsteered one, so that one is always made.
    strengths = [float(a) for a in alphas]
    if opened is not None and 0.0 not in strengths:
        strengths.insert(0, 0.0)
    units = [
        (q, a)
        for a in strengths
        for q in range(len(questions))
        if a == 0 or opened is None or opened[q]
    ]
    answers = []
    for start in range(0, len(units), batch_size):
        chunk = units[start : start + batch_size]
        answers += generate_answers(
            loaded,
            [questions[q].prompt for q, _ in chunk],
            vector=vector,
            alphas=[a for _, a in chunk],
            layers=layers,
            max_new_tokens=max_new_tokens,
        )
        if progress is not None:
            progress(start + len(chunk), len(units))
    by_unit = dict(zip(units, answers, strict=True))
    if opened is not None:
        for a in strengths:
            for q in range(len(questions)):
                by_unit.setdefault((q, float(a)), by_unit[(q, 0.0)])
    generated = {}
    for (q, a), answer in by_unit.items():
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


def _gates(table: pd.DataFrame) -> dict[int, bool] | None:
    """Each question's gate from the scoring table (None: the vector is unconditional)."""
    if "gate_open" not in table:
        return None
    return {int(q): bool(o) for q, o in zip(table.question, table.gate_open, strict=True)}
