"""Plotly figures: per-layer effect size (Build) and accuracy against strength (Compare, Review)."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from steering.build import LayerScore
from steering.evaluation.results import StrengthResult

BLUE, ORANGE, GREY = "#2563eb", "#ea580c", "#9ca3af"


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


def accuracy_chart(results: Sequence[StrengthResult], chosen_alpha: float | None) -> go.Figure:
    """Held-out accuracy at each strength with its Wilson 95% band; the chosen strength marked."""
    fig = go.Figure()
    rows = sorted(results, key=lambda r: r.alpha)
    alphas = [r.alpha for r in rows]
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
            fig.add_hline(
                y=base.accuracy,
                line_dash="dot",
                line_color=GREY,
                annotation_text="without the vector",
            )
    if chosen_alpha is not None:
        fig.add_vline(
            x=chosen_alpha,
            line_dash="dash",
            line_color=ORANGE,
            annotation_text=f"chosen {chosen_alpha:g}",
        )
    _layout(fig, "Held-out accuracy against steering strength", "strength (alpha)", "accuracy")
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return fig
