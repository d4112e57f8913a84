"""Building a vector's gate: which block and threshold tell the task's prompts from everyday ones.

From the build rows' prompts (the task) and the building half of the bundled everyday prompts
(steering.data.everyday), at every block the condition direction is the difference of the two
groups' mean readings (steering.engine.gate) and a prompt's score is the cosine of its reading with
that direction. The threshold candidates at a block are the midpoints between consecutive sorted
scores; the block and threshold kept are those with the highest balanced accuracy (the mean of
the share of task prompts that open the gate and the share of everyday prompts that do not) on
these prompts alone; ties go to the earlier block, then the lower threshold. Held-out rows and the
held-out everyday half are never looked at here: they measure the gate afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from steering.engine.gate import prompt_readings, similarities
from steering.engine.models import LoadedModel
from steering.errors import SteeringError
from steering.vectors import GateCondition

CONDITION_CHOICES = ("auto", "off")
MIN_CONDITION_ROWS = 16  # fewer task prompts than this give too noisy a direction to gate on


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    balanced_accuracy: float


@dataclass(frozen=True)
class ConditionBuild:
    """The gate chosen, with the scores it was chosen on (for the Build tab's chart)."""

    condition: GateCondition
    task_scores: tuple[float, ...]
    everyday_scores: tuple[float, ...]
    block_accuracies: dict[int, float]  # the best balanced accuracy at each block

    def lineage(self) -> dict[str, object]:
        """What the vector file keeps besides the gate itself, so a reopened vector shows it."""
        return {
            "condition_task_scores": [round(s, 5) for s in self.task_scores],
            "condition_everyday_scores": [round(s, 5) for s in self.everyday_scores],
            "condition_task_prompts": len(self.task_scores),
            "condition_everyday_prompts": len(self.everyday_scores),
        }


def balanced_accuracy(task: Sequence[float], everyday: Sequence[float], threshold: float) -> float:
    """Mean of the share of task scores at or above ``threshold`` and everyday scores below it."""
    opened = sum(1 for s in task if s >= threshold) / len(task)
    closed = sum(1 for s in everyday if s < threshold) / len(everyday)
    return (opened + closed) / 2


def choose_threshold(task: Sequence[float], everyday: Sequence[float]) -> ThresholdChoice:
    """The midpoint between consecutive sorted scores with the best balanced accuracy (ties: the
    lower threshold)."""
    if not task or not everyday:
        raise SteeringError("Choosing a gate needs task prompts and everyday prompts.")
    ordered = sorted({*task, *everyday})
    candidates = [(a + b) / 2 for a, b in zip(ordered, ordered[1:], strict=False)]
    if not candidates:  # every score equal: nothing separates the groups
        return ThresholdChoice(ordered[0], 0.5)
    best = ThresholdChoice(candidates[0], balanced_accuracy(task, everyday, candidates[0]))
    for threshold in candidates[1:]:  # ascending, so only a strictly better one replaces
        score = balanced_accuracy(task, everyday, threshold)
        if score > best.balanced_accuracy:
            best = ThresholdChoice(threshold, score)
    return best


def build_condition(
    loaded: LoadedModel,
    task_prompts: Sequence[str],
    everyday_prompts: Sequence[str],
    *,
    batch_size: int = 16,
) -> ConditionBuild:
    """The gate that best separates ``task_prompts`` from ``everyday_prompts`` (see module)."""
    if len(task_prompts) < MIN_CONDITION_ROWS:
        raise SteeringError(
            f"A gate needs at least {MIN_CONDITION_ROWS} build rows; this set has "
            f"{len(task_prompts)}. Add rows, or build without the gate."
        )
    if not everyday_prompts:
        raise SteeringError("A gate needs everyday prompts to tell the task from.")
    blocks = list(range(loaded.num_layers))
    task = prompt_readings(loaded, task_prompts, blocks, batch_size=batch_size)
    everyday = prompt_readings(loaded, everyday_prompts, blocks, batch_size=batch_size)
    best: tuple[int, torch.Tensor, ThresholdChoice, list[float], list[float]] | None = None
    accuracies: dict[int, float] = {}
    for block in blocks:
        direction = task[block].mean(dim=0) - everyday[block].mean(dim=0)
        if float(direction.norm()) == 0.0:
            accuracies[block] = 0.5
            continue
        task_scores = similarities(task[block], direction)
        everyday_scores = similarities(everyday[block], direction)
        choice = choose_threshold(task_scores, everyday_scores)
        accuracies[block] = choice.balanced_accuracy
        if best is None or choice.balanced_accuracy > best[2].balanced_accuracy:
            best = (block, direction, choice, task_scores, everyday_scores)
    if best is None:
        raise SteeringError("The task's prompts read exactly like everyday prompts at every block.")
    block, direction, choice, task_scores, everyday_scores = best
    condition = GateCondition(block, direction.float(), choice.threshold, choice.balanced_accuracy)
    return ConditionBuild(condition, tuple(task_scores), tuple(everyday_scores), accuracies)
