"""What the Build tab shows for a vector: the layer chart and the summary of a build, an import or
a reopened vector, the recommended layers in plain words, and the strengths Compare should test."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go

from dashboard import charts
from dashboard.views.common import md, vector_origin
from steering.build import BuildResult, LayerRecommendation, LayerScore
from steering.evaluation.strengths import suggested_strengths
from steering.layers import layers_text, parse_layers
from steering.vectors import ControlVector

# Each build method as a plain phrase; the paper's short name (``steering.build.METHODS``: R-C, R,
# PCA-C) follows in brackets on the tab for those who know the paper.
METHOD_NAMES = {
    "mean_diff": "average difference between good and flawed answers (recommended)",
    "reading": "average of the good answers only (needs no flawed answers)",
    "pca_diff": "main direction of the differences between good and flawed answers",
}


@dataclass(frozen=True)
class BuildView:
    figure: go.Figure | None  # None without layer scores (imported, or built without held-out rows)
    summary: str
    layers_text: str  # the layers to steer: recommended, else all the vector's layers


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
    return BuildView(figure, summary, best)


def reopened_view(
    vector_id: int,
    label: str,
    steer: str,
    example_set_name: str | None,
    scores: Sequence[LayerScore] = (),
    recommended: Sequence[int] = (),
) -> BuildView:
    """An earlier vector back in the session (``example_set_name``: its set, chosen again), with
    the layer chart of its build when its lineage kept the layer scores."""
    summary = f"Reopened vector #{vector_id} ({md(label)}); it steers layers {steer}."
    if example_set_name is not None:
        summary += (
            f" Its example set **{md(example_set_name)}** is chosen again, split as for the build."
        )
    figure = charts.layer_chart(scores, recommended) if scores else None
    return BuildView(figure, summary, steer)


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
