"""What the Build tab shows for a vector: the layer chart and the summary of a build, an import or
a reopened vector, the recommended layers in plain words, the strengths Compare should test, and
its gate (whether it steers only questions like its examples): the choice offered before a build,
then a chart of the scores it was chosen on and one plain sentence, the figures folded away."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

from dashboard import charts
from dashboard.views.common import md, vector_origin
from steering.build import BuildResult, LayerRecommendation, LayerScore
from steering.condition import MIN_CONDITION_ROWS
from steering.evaluation.strengths import suggested_strengths
from steering.layers import layers_text, parse_layers
from steering.vectors import ControlVector, GateCondition

# Each build method as a plain phrase; the paper's short name (``steering.build.METHODS``: R-C, R,
# PCA-C) follows in brackets on the tab for those who know the paper.
METHOD_NAMES = {
    "mean_diff": "average difference between good and flawed answers (recommended)",
    "reading": "average of the good answers only (needs no flawed answers)",
    "pca_diff": "main direction of the differences between good and flawed answers",
}


NO_GATE = "This vector has no gate: it applies to every prompt."


@dataclass(frozen=True)
class GateView:
    """A vector's gate as the Build tab shows it."""

    sentence: str  # Markdown: in plain words, whether and when the vector applies
    figure: go.Figure | None = None  # the scores it was chosen on and the threshold line
    details: str = ""  # Markdown: block, threshold, balanced accuracy (folded away)


@dataclass(frozen=True)
class BuildView:
    figure: go.Figure | None  # None without layer scores (imported, or built without held-out rows)
    summary: str
    layers_text: str  # the layers to steer: recommended, else all the vector's layers
    gate: GateView = GateView(NO_GATE)


@dataclass(frozen=True)
class ConditionChoice:
    """The Build tab's "Steer only questions like these examples" box: its default and why."""

    value: bool
    info: str


def condition_choice(build_rows: int | None) -> ConditionChoice:
    """On when the rows a build would use are enough for a gate (``MIN_CONDITION_ROWS``), off
    and said why otherwise; ``None``: no example set chosen yet."""
    if build_rows is None:
        return ConditionChoice(
            True,
            f"Needs an example set with at least {MIN_CONDITION_ROWS} build rows; choose one on "
            "tab 2 (Examples).",
        )
    if build_rows >= MIN_CONDITION_ROWS:
        return ConditionChoice(
            True,
            f"The vector then steers only questions that read like your {build_rows} build "
            "rows; everyday requests get the model's own answer.",
        )
    return ConditionChoice(
        False,
        f"Off: telling your questions from everyday ones needs at least {MIN_CONDITION_ROWS} "
        f"build rows and this build would use {build_rows}, so the vector steers every prompt.",
    )


def _scores(metadata: Mapping[str, Any], key: str) -> list[float]:
    values = metadata.get(key)
    if not isinstance(values, list):
        return []
    return [float(v) for v in values if isinstance(v, int | float)]


def _threshold_text(threshold: float) -> str:
    return f"{threshold:.4g}"


def gate_view(
    condition: GateCondition | None, metadata: Mapping[str, Any], note: str = ""
) -> GateView:
    """A vector's gate, from its condition and the scores its metadata keeps
    (``condition_task_scores``, ``condition_everyday_scores``), so a reopened vector shows the
    same as one just built. ``note``: the build's own sentence (``BuildResult.condition_note``),
    which says why a vector has no gate; with a gate it goes with the technical figures."""
    if condition is None:
        return GateView(md(note) if note else NO_GATE)
    task = _scores(metadata, "condition_task_scores")
    everyday = _scores(metadata, "condition_everyday_scores")
    threshold = condition.threshold
    figure = None
    if task and everyday:
        opened = sum(1 for s in task if s >= threshold)
        leaked = sum(1 for s in everyday if s >= threshold)
        sentence = (
            "**The vector steers only questions that read like your examples:** the gate opens "
            f"for {opened} of your {len(task)} build questions and for {leaked} of "
            f"{len(everyday)} everyday requests (the prompts it was chosen on); the rest get the "
            "model's own answer."
        )
        figure = charts.gate_chart(task, everyday, threshold)
    else:  # a file whose metadata lost the scores: the gate itself still decides
        sentence = (
            "**The vector steers only questions that read like its examples;** the rest get the "
            "model's own answer."
        )
    details = [
        f"- **Block the gate reads:** {condition.layer} (the prompt's hidden state at that "
        "block's output, averaged over the prompt's own words)",
        f"- **Threshold:** cosine similarity {_threshold_text(threshold)} or more opens the gate",
        "- **Balanced accuracy on the build prompts:** "
        f"{condition.build_balanced_accuracy:.0%} (the mean of the share of build questions "
        "that open it and the share of everyday requests that do not)",
    ]
    if task and everyday:
        details.append(
            f"- **Chosen on:** {len(task)} build prompts and {len(everyday)} everyday prompts; "
            "the held-out evaluation measures it on prompts it never saw"
        )
    if note:
        details.append(f"- **Build note:** {md(note)}")
    return GateView(sentence, figure, "\n".join(details))


def recommendation_markdown(recommendation: LayerRecommendation) -> str:
    """The recommended layers, the rule that picked them and its reason in plain words."""
    return (
        f"**Recommended layers: {layers_text(recommendation.layers)}** — "
        f"{md(recommendation.reason)} Picked by the {recommendation.rule} rule."
    )


def strengths_to_test(vector: ControlVector | None, layers: str) -> str:
    """The strengths Compare offers to test for ``vector`` at ``layers``: each adds the vector at
    a share of the residual stream it was built on (the scale differs per model), or the plain
    defaults for a vector without those numbers (an imported one)."""
    if vector is None:
        return ""
    chosen = parse_layers(layers, max(vector.layers) + 1) if layers.strip() else None
    return ", ".join(f"{a:g}" for a in suggested_strengths(vector.metadata, chosen))


def built_view(
    vector_id: int,
    result: BuildResult,
    *,
    estimated: str,
    method: str,
    negatives: str,
    position: str,
) -> BuildView:
    """A vector just built: its layer chart, how it was made, the layers recommended."""
    figure = charts.layer_chart(result.scores, result.recommended_layers)
    best = layers_text(result.recommended_layers) or layers_text(result.vector.layers)
    summary = (
        f"Vector #{vector_id} built from {result.pairs} build rows in {result.seconds:.0f} s "
        f"(estimated beforehand: {estimated}; {METHOD_NAMES.get(method, method)}, {negatives} "
        f"negatives, read at the {position} token). "
    )
    if result.recommendation is not None:
        summary += recommendation_markdown(result.recommendation) + " Use them on the Compare tab."
    gate = gate_view(result.vector.condition, result.vector.metadata, result.condition_note)
    return BuildView(figure, summary, best, gate)


def reopened_view(
    vector_id: int,
    label: str,
    steer: str,
    example_set_name: str | None,
    scores: Sequence[LayerScore] = (),
    recommended: Sequence[int] = (),
    vector: ControlVector | None = None,
) -> BuildView:
    """An earlier vector back in the session (``example_set_name``: its set, chosen again), with
    the layer chart of its build when its lineage kept the layer scores, and its gate (read from
    ``vector``, the file reopened)."""
    summary = f"Reopened vector #{vector_id} ({md(label)}); it steers layers {steer}."
    if example_set_name is not None:
        summary += (
            f" Its example set **{md(example_set_name)}** is chosen again, split as for the build."
        )
    figure = charts.layer_chart(scores, recommended) if scores else None
    gate = gate_view(vector.condition, vector.metadata) if vector is not None else GateView(NO_GATE)
    return BuildView(figure, summary, steer, gate)


def imported_view(
    vector_id: int, vector: ControlVector, model_name: str, has_example_set: bool
) -> BuildView:
    """A llama.cpp control vector just imported: where it came from and the layers it steers."""
    steer = layers_text(vector.layers)
    summary = (
        f"Vector #{vector_id}: {md(vector_origin(vector.metadata))}. It steers "
        f"layers {steer} of {md(model_name)}; the Compare tab uses them."
    )
    if not has_example_set:
        summary += " To evaluate it, choose an example set first (tab 2, Examples)."
    return BuildView(None, summary, steer)
