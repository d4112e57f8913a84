"""Plotly figures: per-layer separation (Build) and accuracy against strength (Compare, Review)."""

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


def separation_chart(scores: Sequence[LayerScore], recommended: Sequence[int]) -> go.Figure:
    """Bars: share of held-out pairs each layer separates (0.5 = chance); recommended in orange."""
    fig = go.Figure()
    layers = [s.layer for s in scores]
    chosen = set(recommended)
    fig.add_bar(
        x=layers,
        y=[s.separation for s in scores],
        marker_color=[ORANGE if i in chosen else BLUE for i in layers],
        customdata=[[s.effect_size] for s in scores],
        hovertemplate="layer %{x}<br>separation %{y:.2f}<br>effect size %{customdata[0]:.2f}"
        "<extra></extra>",
        name="separation",
        showlegend=False,
    )
    fig.add_hline(y=0.5, line_dash="dot", line_color=GREY, annotation_text="chance")
    for i in recommended:
        score = next((s for s in scores if s.layer == i), None)
        if score is not None:
            fig.add_annotation(
                x=i, y=score.separation, text="★", showarrow=False, yshift=10, font_color=ORANGE
            )
    title = "How well each layer tells good from flawed reasoning"
    if recommended:
        title += f" (recommended: {', '.join(str(i) for i in recommended)})"
    _layout(fig, title, "layer", "separation (share of pairs)")
    fig.update_yaxes(range=[0, 1.08])
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
