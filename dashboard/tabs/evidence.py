"""The evaluation evidence panel, laid out the same for the builder (Compare) and the reviewer."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from dashboard import views


@dataclass(frozen=True)
class Evidence:
    chart: gr.Plot
    table: gr.Dataframe
    effects: gr.Dataframe
    samples: gr.Textbox

    def show(self, view: views.EvaluationView) -> dict:
        """Component values that display ``view``."""
        return {
            self.chart: view.figure,
            self.table: view.table,
            self.effects: view.side_effects,
            self.samples: view.samples,
        }

    @property
    def components(self) -> list:
        return [self.chart, self.table, self.effects, self.samples]


def create_evidence(prefix: str, table_label: str) -> Evidence:
    chart = gr.Plot(label="Accuracy against strength", elem_id=f"{prefix}-chart")
    table = gr.Dataframe(
        label=table_label,
        headers=views.RESULT_LABELS,
        interactive=False,
        elem_id=f"{prefix}-table",
    )
    with gr.Row():
        effects = gr.Dataframe(
            label="Side effects",
            headers=views.SIDE_COLUMNS,
            interactive=False,
            wrap=True,
            elem_id=f"{prefix}-effects",
        )
        samples = gr.Textbox(
            label="Sample answers", lines=10, interactive=False, elem_id=f"{prefix}-samples"
        )
    return Evidence(chart, table, effects, samples)
