"""Building a control vector: the paper's three methods, per-layer scores and the layer advice.

Methods (Højer, Jarvis & Heinrich, ICLR 2025), per decoder block ``i``:
- ``reading`` (R): mean of the positive activations.
- ``mean_diff`` (R-C, the default): mean over pairs of positive minus negative.
- ``pca_diff`` (PCA-C): first principal component of the centred paired differences, its sign
  chosen so positives project higher than negatives, scaled to the norm of the mean difference.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import string
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from steering.condition import (
    CONDITION_CHOICES,
    MIN_CONDITION_ROWS,
    ConditionBuild,
    build_condition,
)
from steering.engine.activations import POSITIONS, iter_block_outputs
from steering.engine.models import LoadedModel, fingerprint
from steering.engine.text import encode
from steering.errors import SteeringError
from steering.layers import layers_text, parse_layers
from steering.progress import ProgressCallback
from steering.vectors import ControlVector
from steering.version import __version__

if TYPE_CHECKING:
    from steering.data.examples import Example

METHODS = {"reading": "R", "mean_diff": "R-C", "pca_diff": "PCA-C"}
NEGATIVE_STRATEGIES = ("column", "random")
RANDOM_NEGATIVE_LENGTH = 75  # characters, as in the paper


def random_negative(rng: random.Random, length: int = RANDOM_NEGATIVE_LENGTH) -> str:
    """A random string of letters, the paper's negative when none is given."""
    return "".join(rng.choice(string.ascii_letters) for _ in range(length))


def negatives_for(examples: Sequence[Example], strategy: str, seed: int) -> list[str]:
    """The negative completion of each example under the chosen strategy."""
    if strategy not in NEGATIVE_STRATEGIES:
        raise SteeringError(f"Negatives must be one of {NEGATIVE_STRATEGIES}, not '{strategy}'.")
    if strategy == "random":
        rng = random.Random(seed)
        return [random_negative(rng) for _ in examples]
    missing = [e.row for e in examples if not e.negative]
    if missing:
        shown = ", ".join(str(r) for r in missing[:10])
        raise SteeringError(
            f"Row(s) {shown} have no 'negative' column value. Fill it in, or choose random negatives."
        )
    return [e.negative or "" for e in examples]


@dataclass(frozen=True)
class LayerScore:
    """How well the layer's direction separates held-out positives from their negatives.

    ``separation`` is the share of pairs whose positive projects higher than its negative (0.5 is
    chance, 1 perfect); it saturates at 1 as soon as good and flawed texts differ visibly.
    ``effect_size`` is the mean projection gap over its standard deviation (Cohen's d of the paired
    gaps), which keeps growing with how cleanly the layer separates them: layers are ranked by it.
    """

    layer: int
    separation: float
    effect_size: float
    pairs: int = 0  # pairs scored

    @property
    def effect_size_error(self) -> float:
        """Approximate standard error of ``effect_size`` (paired d: sqrt(1/n + d^2 / 2n))."""
        n = max(self.pairs, 1)
        return math.sqrt(1.0 / n + self.effect_size**2 / (2.0 * n))

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "separation": round(self.separation, 6),
            "effect_size": round(self.effect_size, 6),
            "pairs": self.pairs,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerScore:
        return cls(
            int(data["layer"]),
            float(data["separation"]),
            float(data["effect_size"]),
            int(data.get("pairs") or 0),
        )


def stored_layer_scores(lineage: Mapping[str, Any]) -> list[LayerScore]:
    """The layer scores a vector's lineage keeps (``layer_scores``); none for a vector built
    without held-out rows, imported, or built before the scores were kept."""
    return [LayerScore.from_dict(item) for item in lineage.get("layer_scores") or []]


@dataclass(frozen=True)
class LayerRecommendation:
    """Which layers to steer, which rule picked them, and why, in plain words."""

    layers: list[int]
    rule: str  # EFFECT_SIZE_RULE or MIDDLE_LAYER_RULE
    reason: str


EFFECT_SIZE_RULE = "effect size"
MIDDLE_LAYER_RULE = "middle layer"


@dataclass
class BuildResult:
    vector: ControlVector
    scores: list[LayerScore]
    recommendation: LayerRecommendation | None
    seconds: float
    pairs: int
    gate: ConditionBuild | None = None
    condition_note: str = ""

    @property
    def recommended_layers(self) -> list[int]:
        return list(self.recommendation.layers) if self.recommendation else []


def _pair_texts(
    loaded: LoadedModel, examples: Sequence[Example], negatives: Sequence[str]
) -> tuple[list, list]:
    tok = loaded.tokenizer
    positives = [encode(tok, e.prompt, e.positive) for e in examples]
    negs = [encode(tok, e.prompt, n) for e, n in zip(examples, negatives, strict=True)]
    return positives, negs


def build_vector(
    loaded: LoadedModel,
    examples: Sequence[Example],
    *,
    method: str = "mean_diff",
    negatives: str = "column",
    position: str = "last",
    layers: str | Sequence[int] | None = "all",
    batch_size: int = 16,
    seed: int = 0,
    heldout: Sequence[Example] | None = None,
    padding_side: str = "right",
    progress: ProgressCallback | None = None,
    lineage: dict[str, Any] | None = None,
    condition: str = "off",
    everyday: Sequence[str] | None = None,
) -> BuildResult:
    """Read activations on ``examples`` and turn them into a control vector.

    ``heldout`` pairs, when given, are read after the vector is known to score each layer.
    ``lineage`` adds to the file's metadata (e.g. ``created_by``, ``dataset_hash``, ``model_id``).
    ``condition="auto"`` also gives the vector a gate (steering.condition) chosen on the build
    rows' prompts against ``everyday`` prompts (default: the building half of the bundled
    everyday set); with fewer than ``MIN_CONDITION_ROWS`` build rows it makes none and
    ``BuildResult.condition_note`` says so.
    """
    if condition not in CONDITION_CHOICES:
        raise SteeringError(
            f"condition must be one of {list(CONDITION_CHOICES)}, not '{condition}'."
        )
    if method not in METHODS:
        raise SteeringError(f"Method must be one of {list(METHODS)}, not '{method}'.")
    if position not in POSITIONS:
        raise SteeringError(f"Position must be one of {list(POSITIONS)}, not '{position}'.")
    if not examples:
        raise SteeringError("No build rows: the example set needs at least one row to build from.")
    started = time.perf_counter()
    chosen = parse_layers(layers, loaded.num_layers)
    heldout = list(heldout or [])
    total = len(examples) * (1 if method == "reading" else 2) + 2 * len(heldout)
    offset = [0]

    def report(done: int, _total: int) -> None:
        if progress is not None:
            progress(offset[0] + done, total)

    if method == "reading":
        texts = [encode(loaded.tokenizer, e.prompt, e.positive) for e in examples]
    else:
        positives, negative_texts = _pair_texts(
            loaded, examples, negatives_for(examples, negatives, seed)
        )
        texts = positives + negative_texts
    n = len(examples)
    sums = {i: torch.zeros(loaded.hidden_size, dtype=torch.float64) for i in chosen}
    # The typical size of the residual stream at each block, to scale strengths per model.
    residual_sums = dict.fromkeys(chosen, 0.0)
    # PCA needs each pair's difference; the other methods only running sums.
    per_text: dict[int, torch.Tensor] | None = None
    if method == "pca_diff":
        per_text = {i: torch.zeros(len(texts), loaded.hidden_size) for i in chosen}
    for indices, readings in iter_block_outputs(
        loaded,
        texts,
        chosen,
        position=position,
        batch_size=batch_size,
        padding_side=padding_side,
        progress=report,
    ):
        sign = torch.tensor([1.0 if j < n else -1.0 for j in indices], dtype=torch.float64)
        positive = sign > 0
        for i in chosen:
            reading = readings[i].cpu()
            sums[i] += sign @ reading.double()
            residual_sums[i] += float(reading[positive].double().norm(dim=-1).sum())
            if per_text is not None:
                per_text[i][indices] = reading
    offset[0] = len(texts)

    directions = {}
    for i in chosen:
        mean = (sums[i] / n).float()
        if method == "pca_diff" and per_text is not None:
            mean = _first_component(per_text[i][:n] - per_text[i][n:], mean)
        directions[i] = mean
    vector = ControlVector(directions)
    gate, condition_note = _gate(loaded, examples, condition, everyday, batch_size)
    vector.condition = gate.condition if gate else None

    scores: list[LayerScore] = []
    if heldout:
        scores = score_layers(
            loaded,
            vector,
            heldout,
            negatives=negatives,
            position=position,
            batch_size=batch_size,
            seed=seed + 1,
            padding_side=padding_side,
            progress=report,
        )
    recommendation = recommend_layers(scores, loaded.num_layers) if scores else None
    recommended = recommendation.layers if recommendation else []
    vector.metadata = {
        "model_id": loaded.spec,
        "model_name": loaded.name,
        "model_fingerprint": fingerprint(loaded),
        "model_architecture": loaded.model.config.model_type or "unknown",
        **loaded.precision.lineage(),  # dtype and dtype_reason: the format it was read in
        "method": method,
        "method_paper_name": METHODS[method],
        "negatives": negatives,
        "position": position,
        "layers": chosen,
        "norms": {str(i): round(v, 6) for i, v in vector.norms().items()},
        "residual_norms": {str(i): round(residual_sums[i] / n, 6) for i in chosen},
        "build_rows": n,
        "seed": seed,
        "tool_version": __version__,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "created_by": "",
        "dataset_hash": "",
        **({"recommended_layers": recommended} if recommended else {}),
        # Kept so that a vector reopened later shows its layer chart again.
        **({"layer_scores": [score.to_dict() for score in scores]} if scores else {}),
        **({"layer_rule": recommendation.rule} if recommendation else {}),
        **(gate.lineage() if gate else {}),
        **(lineage or {}),
    }
    seconds = time.perf_counter() - started
    return BuildResult(vector, scores, recommendation, seconds, n, gate, condition_note)


def _gate(
    loaded: LoadedModel,
    examples: Sequence[Example],
    condition: str,
    everyday: Sequence[str] | None,
    batch_size: int,
) -> tuple[ConditionBuild | None, str]:
    """The gate ``condition`` asks for, and a plain sentence about it."""
    if condition == "off":
        return None, "Built without a gate: the vector applies to every prompt."
    if len(examples) < MIN_CONDITION_ROWS:
        return None, (
            f"No gate: it needs at least {MIN_CONDITION_ROWS} build rows and this set has "
            f"{len(examples)}, so the vector applies to every prompt."
        )
    if everyday is None:
        from steering.data.everyday import everyday_prompts

        everyday = everyday_prompts("build")
    prompts = list(dict.fromkeys(e.prompt for e in examples))  # a prompt shared by rows counts once
    gate = build_condition(loaded, prompts, everyday, batch_size=batch_size)
    chosen = gate.condition
    return gate, (
        f"Gate at block {chosen.layer}: it told the {len(gate.task_scores)} build prompts from "
        f"{len(gate.everyday_scores)} everyday prompts with a balanced accuracy of "
        f"{chosen.build_balanced_accuracy:.0%}."
    )


def _first_component(differences: torch.Tensor, mean_diff: torch.Tensor) -> torch.Tensor:
    centred = (differences - differences.mean(dim=0)).double()
    if differences.shape[0] < 2 or float(centred.abs().max()) == 0.0:
        return mean_diff  # one pair (or identical pairs): the mean difference is the only direction
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    component = vh[0]
    if float((differences.double() @ component).mean()) < 0:
        component = -component
    return (component * mean_diff.double().norm()).float()


def score_layers(
    loaded: LoadedModel,
    vector: ControlVector,
    pairs: Sequence[Example],
    *,
    negatives: str = "column",
    position: str = "last",
    batch_size: int = 16,
    seed: int = 1,
    padding_side: str = "right",
    progress: ProgressCallback | None = None,
) -> list[LayerScore]:
    """Per-layer separation of ``pairs`` along the vector's directions (one pass, scalars kept)."""
    negs = negatives_for(pairs, negatives, seed)
    positives, negative_texts = _pair_texts(loaded, pairs, negs)
    texts = positives + negative_texts
    n = len(pairs)
    units = {i: v / v.norm().clamp_min(1e-12) for i, v in vector.items()}
    projections = {i: torch.zeros(len(texts), dtype=torch.float64) for i in units}
    for indices, readings in iter_block_outputs(
        loaded,
        texts,
        list(units),
        position=position,
        batch_size=batch_size,
        padding_side=padding_side,
        progress=progress,
    ):
        for i, unit in units.items():
            projections[i][indices] = (readings[i].cpu() @ unit).double()
    scores = []
    for i in sorted(units):
        gap = projections[i][:n] - projections[i][n:]
        spread = float(gap.std()) if n > 1 else 0.0
        effect = float(gap.mean()) / spread if spread > 0 else 0.0
        scores.append(LayerScore(i, float((gap > 0).double().mean()), effect, n))
    return scores


def recommend_layers(
    scores: Sequence[LayerScore], num_layers: int, most: int = 3
) -> LayerRecommendation:
    """The layers that separate good from flawed answers best, or the paper's middle layer.

    Candidates skip the earliest fifth of the blocks (early blocks separate almost anything, even
    random strings, by surface form; block 0 cannot be exported to llama.cpp) and the last block.
    They are ranked by effect size, which does not saturate. When the best candidate is not clearly
    better than the typical other one (its lead over their median is within two standard errors) or no
    candidate separates at all, the layers cannot be told apart on these examples and the paper's
    choice is used: the one middle block. Otherwise the best block and those neighbours whose effect
    size is within one standard error of it, at most ``most`` blocks.
    """
    low, high = max(1, num_layers // 5), max(1, num_layers - 2)
    candidates = [s for s in scores if low <= s.layer <= high] or [s for s in scores if s.layer > 0]
    candidates = candidates or list(scores)
    middle = num_layers // 2
    if not candidates:
        return LayerRecommendation(
            [middle],
            MIDDLE_LAYER_RULE,
            f"No layer scores, so the paper's choice is used: the middle layer, {middle}.",
        )
    # The vector may not cover the middle block: then the scored block nearest to it.
    nearest = min((s.layer for s in candidates), key=lambda i: (abs(i - middle), i))
    paper = (
        f"the middle layer, {middle}"
        if nearest == middle
        else f"layer {nearest}, nearest the middle"
    )
    middle = nearest
    best = max(candidates, key=lambda s: (s.effect_size, -abs(s.layer - middle)))
    others = sorted(s.effect_size for s in candidates if s is not best)
    median = others[len(others) // 2] if others else 0.0
    span = f"layers {candidates[0].layer}-{candidates[-1].layer}"
    if best.effect_size <= 2 * LayerScore(0, 0.5, 0.0, best.pairs).effect_size_error:
        return LayerRecommendation(
            [middle],
            MIDDLE_LAYER_RULE,
            f"No layer among {span} separates good from flawed answers beyond chance (best effect "
            f"size {best.effect_size:.2f}), so the paper's choice is used: {paper}.",
        )
    if len(candidates) > 1 and best.effect_size - median <= 2 * best.effect_size_error:
        return LayerRecommendation(
            [middle],
            MIDDLE_LAYER_RULE,
            f"The layers cannot be told apart on these examples: the best, {best.layer}, separates "
            f"good from flawed answers with effect size {best.effect_size:.2f} against a median of "
            f"{median:.2f} across {span}, within the uncertainty of {best.pairs} pairs. So the "
            f"paper's choice is used: {paper}.",
        )
    by_layer = {s.layer: s for s in candidates}
    chosen = [best.layer]
    for step in (1, -1):
        neighbour = by_layer.get(best.layer + step)
        if len(chosen) >= most or neighbour is None:
            continue
        if neighbour.effect_size >= best.effect_size - best.effect_size_error:
            chosen.append(neighbour.layer)
    chosen.sort()
    shown = layers_text(chosen)
    return LayerRecommendation(
        chosen,
        EFFECT_SIZE_RULE,
        f"Layer{'s' if len(chosen) > 1 else ''} {shown} separate{'' if len(chosen) > 1 else 's'} "
        f"good from flawed answers best (effect size {best.effect_size:.2f}, against a median of "
        f"{median:.2f} across {span}).",
    )
