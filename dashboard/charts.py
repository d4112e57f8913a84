"""Plotly figures: per-layer effect size and a gate's scores (Build), accuracy against strength
(Compare, Review)."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from steering.build import LayerScore
from steering.evaluation.results import StrengthResult

BLUE, ORANGE, GREY = "#2563eb", "#ea580c", "#9ca3af"
RED, GREEN = "#dc2626", "#15803d"


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01, "font": {"size": 15}},
        xaxis_title=x,
        yaxis_title=y,
        template="plotly_white",
        margin={"l": 50, "r": 15, "t": 45, "b": 45},
        height=340,
        legend={"orientation": "h", "y": -0.22, "x": 0},
        autosize=True,
    )
    return fig


def layer_chart(scores: Sequence[LayerScore], recommended: Sequence[int]) -> go.Figure:
    """Bars: each layer's effect size with a one-standard-error whisker; recommended in orange.

    Effect size (the paired gap between good and flawed answers over its spread) is what layers
    are ranked by, because the share of pairs separated saturates at 1 as soon as good and flawed
    texts differ visibly; that share stays in the hover. Overlapping whiskers mean the layers
    cannot be told apart on these examples.
    """
    fig = go.Figure()
    layers = [s.layer for s in scores]
    chosen = set(recommended)
    fig.add_bar(
        x=layers,
        y=[s.effect_size for s in scores],
        error_y={
            "type": "data",
            "array": [s.effect_size_error for s in scores],
            "color": GREY,
            "thickness": 1,
        },
        marker_color=[ORANGE if i in chosen else BLUE for i in layers],
        customdata=[[s.separation, s.pairs] for s in scores],
        hovertemplate="layer %{x}<br>effect size %{y:.2f}<br>pairs told apart "
        "%{customdata[0]:.0%} of %{customdata[1]}<extra></extra>",
        name="effect size",
        showlegend=False,
    )
    fig.add_hline(y=0, line_color=GREY, line_width=1)
    for i in recommended:
        score = next((s for s in scores if s.layer == i), None)
        if score is not None:
            fig.add_annotation(
                x=i,
                y=score.effect_size + score.effect_size_error,
                text="★",
                showarrow=False,
                yshift=12,
                font_color=ORANGE,
            )
    title = "How clearly each layer tells good from flawed reasoning"
    if recommended:
        title += f" (★ recommended: {', '.join(str(i) for i in recommended)})"
    _layout(fig, title, "layer", "effect size (gap ÷ spread)")
    return fig


def gate_chart(
    task_scores: Sequence[float], everyday_scores: Sequence[float], threshold: float
) -> go.Figure:
    """Each prompt the gate was chosen on as a dot at its similarity to the task, task prompts on
    one row and everyday prompts on the other, with the threshold as a vertical line.

    A dot right of the line opens the gate (the vector applies), one left of it does not; the
    legend says how many of each row do. The rows spread their dots up and down by a fixed
    pattern (not at random), so the same vector draws the same picture.
    """
    fig = go.Figure()
    groups = (
        (0, "everyday requests", everyday_scores, GREY),
        (1, "your examples' questions", task_scores, BLUE),
    )
    for row, name, scores, color in groups:
        opened = sum(1 for s in scores if s >= threshold)
        fig.add_scatter(
            x=list(scores),
            y=[row + _spread(i) for i in range(len(scores))],
            mode="markers",
            marker={"color": color, "size": 7, "opacity": 0.7},
            name=f"{name} ({opened} of {len(scores)} open the gate)",
            hovertemplate=f"{name}<br>similarity %{{x:.3f}}<extra></extra>",
        )
    fig.add_scatter(
        x=[threshold, threshold],
        y=[-0.5, 1.5],
        mode="lines",
        line={"color": ORANGE, "dash": "dash", "width": 2},
        name=f"the gate opens at {threshold:.2f}",
        hovertemplate=f"the gate opens at {threshold:.3f}<extra></extra>",
    )
    _layout(
        fig,
        "How much each prompt reads like your examples (right of the line: steered)",
        "similarity to your examples (cosine)",
        "",
    )
    fig.update_yaxes(
        tickvals=[0, 1], ticktext=["everyday", "your examples"], range=[-0.6, 1.6], zeroline=False
    )
    return fig


def _spread(i: int) -> float:
    """A fixed up-and-down offset for the ``i``-th dot of a row (within ±0.3 of its line)."""
    return ((i * 0.618034) % 1.0 - 0.5) * 0.6


def accuracy_chart(
    results: Sequence[StrengthResult],
    chosen_alpha: float | None,
    *,
    submitted: float | None = None,
    chance: float | None = None,
) -> go.Figure:
    """Held-out accuracy at each strength with its Wilson 95% band, against two yardsticks.

    The yardsticks are the model without the vector and guessing (``chance``: the mean over
    questions of 1 / number of answer options). The strength submitted for review is marked,
    and the strength the evaluation chose when it differs. Every line is a named trace in the
    legend below the plot rather than a text label on it, so no label can cover another.
    """
    fig = go.Figure()
    rows = sorted(results, key=lambda r: r.alpha)
    alphas = [r.alpha for r in rows]
    span = [min(alphas), max(alphas)] if rows else [0.0, 1.0]
    if rows:
        fig.add_scatter(
            x=alphas + alphas[::-1],
            y=[r.ci_high for r in rows] + [r.ci_low for r in rows][::-1],
            fill="toself",
            fillcolor="rgba(37, 99, 235, 0.15)",
            line={"width": 0},
            hoverinfo="skip",
            name="95% confidence band",
        )
        fig.add_scatter(
            x=alphas,
            y=[r.accuracy for r in rows],
            mode="lines+markers",
            line={"color": BLUE, "width": 2},
            name="held-out accuracy",
            customdata=[
                ["" if r.correct is None else r.correct, "" if r.n is None else r.n] for r in rows
            ],
            hovertemplate="strength %{x}<br>accuracy %{y:.1%}<br>%{customdata[0]} of "
            "%{customdata[1]}<extra></extra>",
        )
        base = next((r for r in rows if r.alpha == 0), None)
        if base is not None:
            _level(fig, span, base.accuracy, f"without the vector ({base.accuracy:.0%})", GREY)
    if chance is not None:
        _level(fig, span, chance, f"guessing ({chance:.0%})", RED)
    if submitted is not None:
        _mark(fig, submitted, f"submitted strength {submitted:g}", ORANGE, "dash")
    # Strength 0 "chosen" means none was: nothing to mark.
    if chosen_alpha and (submitted is None or chosen_alpha != submitted):
        _mark(fig, chosen_alpha, f"chosen by the evaluation {chosen_alpha:g}", GREEN, "dot")
    _layout(fig, "Held-out accuracy against steering strength", "strength", "accuracy")
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    fig.update_layout(height=380, legend={"orientation": "h", "y": -0.25, "x": 0})
    return fig


def _level(fig: go.Figure, span: list[float], y: float, name: str, color: str) -> None:
    """A horizontal yardstick across the strengths, named in the legend."""
    fig.add_scatter(
        x=span,
        y=[y, y],
        mode="lines",
        line={"color": color, "dash": "dot", "width": 1.5},
        name=name,
        hovertemplate=f"{name}<extra></extra>",
    )


def _mark(fig: go.Figure, x: float, name: str, color: str, dash: str) -> None:
    """A vertical line at one strength, named in the legend."""
    fig.add_scatter(
        x=[x, x],
        y=[0, 1.02],
        mode="lines",
        line={"color": color, "dash": dash, "width": 2},
        name=name,
        hovertemplate=f"{name}<extra></extra>",
    )
