"""Tab 7, Downloads: an approved vector as safetensors or llama.cpp GGUF, and the HTML report.

What downloads is exactly what was approved: the submission's layers and strength.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from dashboard.common import UserError, export_folder, need_user, submission_choices
from dashboard.context import AppContext
from dashboard.report import evaluation_report_html
from dashboard.session import BrowserSession
from dashboard.tabs.events import download_markdown, guarded, offer_file
from steering.export import export_gguf
from steering.vectors import ControlVector
from storage import StoredSubmission
from storage.workflow import APPROVED


def _strength_tag(strength: float) -> str:
    return f"{strength:g}".replace("-", "m")


def _approved(ctx: AppContext, submission_id: int | None) -> StoredSubmission:
    if submission_id is None:
        raise UserError("Choose an approved submission.")
    sub = ctx.store.get_submission(int(submission_id))
    if sub.status != APPROVED:
        raise UserError(f"Submission #{sub.id} is {sub.status}; only approved vectors download.")
    return sub


def _approved_vector(ctx: AppContext, sub: StoredSubmission) -> ControlVector:
    """The stored vector cut to the approved layers, its metadata naming the approval."""
    vector = ControlVector.from_bytes(ctx.store.read_vector_file(sub.vector_id)).select(
        list(sub.layers)
    )
    approvals = [r for r in sub.reviews if r.decision == "approve"]
    vector.metadata.update(
        {
            "approved_strength": sub.strength,
            "submission_id": sub.id,
            "approved_by": approvals[-1].reviewer if approvals else "",
            "layers": list(sub.layers),
        }
    )
    return vector


def download_safetensors(
    ctx: AppContext, session: BrowserSession, submission_id: int | None
) -> Path:
    user = need_user(session)
    sub = _approved(ctx, submission_id)
    vector = _approved_vector(ctx, sub)
    path = export_folder(ctx, user) / (
        f"control-vector-{sub.id}-strength-{_strength_tag(sub.strength)}.safetensors"
    )
    vector.save(path)
    ctx.store.record_event(
        user, "vector.export", "submission", sub.id, {"format": "safetensors", "file": path.name}
    )
    return path


def download_gguf(ctx: AppContext, session: BrowserSession, submission_id: int | None) -> Path:
    user = need_user(session)
    sub = _approved(ctx, submission_id)
    vector = _approved_vector(ctx, sub)
    path = export_folder(ctx, user) / (
        f"control-vector-{sub.id}-strength-{_strength_tag(sub.strength)}.gguf"
    )
    export_gguf(vector, path, strength=sub.strength)
    ctx.store.record_event(
        user, "vector.export", "submission", sub.id, {"format": "gguf", "file": path.name}
    )
    return path


def download_report(ctx: AppContext, session: BrowserSession, submission_id: int | None) -> Path:
    """The offline HTML evaluation report of any submission with an evaluation attached."""
    user = need_user(session)
    if submission_id is None:
        raise UserError("Choose a submission.")
    sub = ctx.store.get_submission(int(submission_id))
    if sub.evaluation_id is None:
        raise UserError(f"Submission #{sub.id} has no evaluation attached.")
    evaluation = ctx.store.get_evaluation(sub.evaluation_id)
    vector = ctx.store.get_vector(sub.vector_id)
    page = evaluation_report_html(sub, vector, evaluation)
    path = export_folder(ctx, user) / f"evaluation-report-submission-{sub.id}.html"
    path.write_text(page, encoding="utf-8")
    ctx.store.record_event(
        user, "report.export", "submission", sub.id, {"format": "html", "file": path.name}
    )
    return path


@dataclass(frozen=True)
class DownloadsTab:
    """What signing in fills: the list of approved submissions."""

    approved: gr.Dropdown


def create_ui(ctx: AppContext, state: gr.State) -> DownloadsTab:
    with gr.Tab("7 · Downloads", id="downloads", elem_id="tab-downloads"):
        gr.Markdown(
            "Approved vectors, ready to use: **safetensors** for this lab and Python, **GGUF** "
            "for llama.cpp (`llama-cli --control-vector-scaled FILE STRENGTH`), and the "
            "evaluation report as one HTML file that opens offline."
        )
        with gr.Row():
            approved = gr.Dropdown(
                choices=[], label="Approved submission", elem_id="downloads-approved", scale=3
            )
            refresh = gr.Button(
                "Refresh", size="sm", scale=0, min_width=90, elem_id="downloads-refresh"
            )
        with gr.Row():
            get_st = gr.Button("Vector (safetensors)", elem_id="get-safetensors")
            get_gguf = gr.Button("llama.cpp (GGUF)", elem_id="get-gguf")
            get_report = gr.Button("Evaluation report (HTML)", elem_id="get-report")
        status = gr.Markdown(elem_id="downloads-status")
        file = gr.File(label="Your file", visible=False, elem_id="download-file")

    def do_refresh(session: BrowserSession) -> dict:
        need_user(session)
        choices = submission_choices(ctx, APPROVED)
        return {approved: gr.Dropdown(choices=choices, value=None), status: ""}

    refresh.click(guarded(status, do_refresh), [state], [approved, status])

    def maker(make: Callable[[AppContext, BrowserSession, int | None], Path]) -> Callable:
        def do_make(session: BrowserSession, submission_id: int | None) -> dict:
            path = make(ctx, session, submission_id)
            name = path.name
            return {file: gr.File(visible=False), status: download_markdown(name, offer_file(path))}

        return guarded(status, do_make)

    for button, make in (
        (get_st, download_safetensors),
        (get_gguf, download_gguf),
        (get_report, download_report),
    ):
        button.click(maker(make), [state, approved], [file, status])
    return DownloadsTab(approved)
