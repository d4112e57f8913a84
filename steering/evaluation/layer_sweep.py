"""Layer sweep: one strength at each of several layer sets, all in the same batched passes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from steering.engine.models import LoadedModel
from steering.evaluation.choice_table import choice_table
from steering.evaluation.questions import as_questions, choice_lists
from steering.evaluation.results import StrengthResult
from steering.evaluation.scoring import Condition
from steering.evaluation.summary import strength_result
from steering.progress import ProgressCallback
from steering.vectors import ControlVector


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
    table = choice_table(
        loaded, questions, conditions, choice_lists(questions), vector=vector, layers=None,
        batch_size=batch_size, progress=progress,
    )  # fmt: skip
    base = table[table.layers == ""].sort_values("question")
    return tuple(
        strength_result(
            base,
            table[table.layers == ",".join(map(str, layers))],
            float(alpha) if layers else 0.0,
            layers=layers,
        )
        for layers in [()] + sets
    )
