"""The evaluation evidence panel, laid out the same for the builder (Compare) and the reviewer.

Manager first: the recommendation and the number behind it, where the vector was applied (a
conditional vector's gate, in words), then the chart with its yardsticks (without the vector,
guessing), the example set, sample questions marked right or wrong, side effects in words; the
paper's diagnostics, the gate's figures and the full tables sit under "Technical details".
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from dashboard.views.common import SCROLL_CUE
from dashboard.views.compare import RESULT_LABELS, SIDE_COLUMNS, EvaluationView


@dataclass(frozen=True)
class Evidence:
    headline: gr.Markdown
    gate: gr.Markdown  # where the vector was applied, in words
    chart: gr.Plot
    examples: gr.Markdown
    samples: gr.Markdown
    effects_text: gr.Markdown
    technical: gr.Markdown
    gate_details: gr.Markdown  # the gate's block and threshold
    table: gr.Dataframe
    effects: gr.Dataframe

    def show(self, view: EvaluationView) -> dict:
        """Component values that display ``view``; the verdict once, in one box."""
        return {
            self.headline: view.verdict_box or view.headline,
            self.gate: view.gate,
            self.chart: view.figure,
            self.examples: view.examples,
            self.samples: view.samples,
            self.effects_text: view.effects,
            self.technical: view.technical,
            self.gate_details: view.gate_details,
            self.table: view.table,
            self.effects: view.side_effects,
        }

    def clear(self) -> dict:
        """Component values that show nothing (no evaluation chosen)."""
        return {
            self.headline: "",
            self.gate: "",
            self.chart: None,
            self.examples: "",
            self.samples: "",
            self.effects_text: "",
            self.technical: "",
            self.gate_details: "",
            self.table: None,
            self.effects: None,
        }

    @property
    def components(self) -> list:
        return [
            self.headline,
            self.gate,
            self.chart,
            self.examples,
            self.samples,
            self.effects_text,
            self.technical,
            self.gate_details,
            self.table,
            self.effects,
        ]


def create_evidence(prefix: str, table_label: str) -> Evidence:
    headline = gr.Markdown(elem_id=f"{prefix}-verdict", elem_classes=["verdict"])
    gate = gr.Markdown(elem_id=f"{prefix}-gate")
    chart = gr.Plot(label="Accuracy against strength", elem_id=f"{prefix}-chart")
    examples = gr.Markdown(elem_id=f"{prefix}-examples")
    gr.Markdown("#### Sample questions")
    samples = gr.Markdown(elem_id=f"{prefix}-samples")
    gr.Markdown("#### Side effects on everyday prompts")
    effects_text = gr.Markdown(elem_id=f"{prefix}-effects-words")
    with gr.Accordion("Technical details", open=False, elem_id=f"{prefix}-technical"):
        technical = gr.Markdown(elem_id=f"{prefix}-diagnostics")
        gate_details = gr.Markdown(elem_id=f"{prefix}-gate-details")
        gr.Markdown(SCROLL_CUE, elem_classes=["scroll-cue"])
        table = gr.Dataframe(
            label=table_label,
            headers=RESULT_LABELS,
            interactive=False,
            elem_id=f"{prefix}-table",
        )
        effects = gr.Dataframe(
            label="Side effects per strength",
            headers=SIDE_COLUMNS,
            interactive=False,
            wrap=True,
            elem_id=f"{prefix}-effects",
        )
    return Evidence(
        headline=headline,
        gate=gate,
        chart=chart,
        examples=examples,
        samples=samples,
        effects_text=effects_text,
        technical=technical,
        gate_details=gate_details,
        table=table,
        effects=effects,
    )
