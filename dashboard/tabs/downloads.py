"""Tab 7, Downloads: an approved vector as safetensors or llama.cpp GGUF, and the HTML report.

What downloads is exactly what was approved: the submission's layers and strength. llama.cpp
cannot steer block 0, so the GGUF file leaves it out, and both the screen and the file say so.
Each download says the number format the submission was evaluated in (the API serves it in that
format); the vector files themselves hold float32 numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from dashboard.browser_state import BrowserSession
from dashboard.common import UserError, export_folder, need_user
from dashboard.context import AppContext
from dashboard.events import download_markdown, guarded, offer_file
from dashboard.report import evaluation_report_html
from dashboard.views.precision import evaluated_format, format_words
from steering.export import BLOCK_ZERO_NOTICE, export_gguf, gguf_condition_warning
from steering.vectors import ControlVector
from storage import RecordMismatchError, StoredSubmission
from storage.workflow import APPROVED


def _strength_tag(strength: float) -> str:
    return f"{strength:g}".replace("-", "m")


def _refused(submission_id: int, status: str) -> UserError:
    return UserError(f"Submission #{submission_id} is {status}; only approved vectors download.")


def _approved(ctx: AppContext, submission_id: int | None) -> StoredSubmission:
    """The submission, only when its row and the signed audit trail both say it is approved.

    A row edited behind the store gets the refusal an unapproved submission gets, with the
    status the signed trail gives it: a download hands out only what the chain approved."""
    if submission_id is None:
        raise UserError("Choose an approved submission.")
    sub = ctx.store.get_submission(int(submission_id))
    if sub.status != APPROVED:
        raise _refused(sub.id, sub.status)
    try:
        ctx.store.confirm_approved(sub)
    except RecordMismatchError as error:
        signed = error.signed_status
        raise _refused(
            sub.id, signed if signed and signed != APPROVED else "not approved"
        ) from None
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
    evaluated = _evaluated(ctx, sub)
    if evaluated.get("dtype"):
        vector.metadata["evaluated_dtype"] = evaluated["dtype"]
        vector.metadata["evaluated_dtype_reason"] = evaluated.get("dtype_reason") or ""
    return vector


def _evaluated(ctx: AppContext, sub: StoredSubmission) -> dict:
    """The stored report of the submission's evaluation (empty without one)."""
    if sub.evaluation_id is None:
        return {}
    return dict(ctx.store.get_evaluation(sub.evaluation_id).results)


def format_note(ctx: AppContext, submission_id: int | None) -> str:
    """What every download adds below it: the format the submission was evaluated and is served
    in, and that the file's numbers are float32."""
    if submission_id is None:
        return ""
    results = _evaluated(ctx, ctx.store.get_submission(int(submission_id)))
    served = (
        f"the API serves it in {evaluated_format(results)}"
        if evaluated_format(results)
        else "the API serves it in the format the model is loaded in"
    )
    return (
        f"Evaluated in {format_words(results.get('dtype'), results.get('dtype_reason'))}; "
        f"{served}. Vector files hold float32 numbers."
    )


def _gguf_notes(ctx: AppContext, submission_id: int | None) -> str:
    return " ".join(
        n for n in (gguf_note(ctx, submission_id), format_note(ctx, submission_id)) if n
    )


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
    """The approved layers but block 0, and the approved strength, as a llama.cpp control vector.

    The vector is cut to the submission's layers first, so ``export_gguf``'s default is exactly
    those layers without block 0, and the file's metadata records block 0 as left out.
    """
    user = need_user(session)
    sub = _approved(ctx, submission_id)
    layers = [i for i in sub.layers if i != 0]
    if not layers:
        raise UserError(
            f"Submission #{sub.id} steers only block 0, which llama.cpp cannot steer, so there is "
            "no llama.cpp file to make. Download the safetensors vector instead."
        )
    vector = _approved_vector(ctx, sub)
    path = export_folder(ctx, user) / (
        f"control-vector-{sub.id}-strength-{_strength_tag(sub.strength)}.gguf"
    )
    export_gguf(vector, path, strength=sub.strength)
    details = {"format": "gguf", "file": path.name, "layers": layers}
    if 0 in sub.layers:
        details["left_out"] = [0]
    ctx.store.record_event(user, "vector.export", "submission", sub.id, details)
    return path


def gguf_note(ctx: AppContext, submission_id: int | None) -> str:
    """What the screen adds below a GGUF download: the block-0 notice when it was left out, and
    for a conditional vector that llama.cpp applies it to every prompt (it has no gate)."""
    if submission_id is None:
        return ""
    sub = ctx.store.get_submission(int(submission_id))
    vector = ControlVector.from_bytes(ctx.store.read_vector_file(sub.vector_id))
    notes = (BLOCK_ZERO_NOTICE if 0 in sub.layers else None, gguf_condition_warning(vector))
    return " ".join(n for n in notes if n)


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
    # The signed head of the audit trail goes into the report: a copy kept elsewhere anchors it.
    page = evaluation_report_html(
        sub,
        vector,
        evaluation,
        checkpoint=ctx.store.latest_checkpoint(),
        usage=ctx.store.api_usage(),
        against_evidence=ctx.store.against_evidence(sub.id),
    )
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
        # Filled when the page loads and again whenever a tab is opened (dashboard.tabs.signin).
        approved = gr.Dropdown(
            choices=[], label="Approved submission", elem_id="downloads-approved"
        )
        with gr.Row():
            get_st = gr.Button("Vector (safetensors)", elem_id="get-safetensors")
            get_gguf = gr.Button("llama.cpp (GGUF)", elem_id="get-gguf")
            get_report = gr.Button("Evaluation report (HTML)", elem_id="get-report")
        status = gr.Markdown(elem_id="downloads-status")
        file = gr.File(label="Your file", visible=False, elem_id="download-file")

    def maker(
        make: Callable[[AppContext, BrowserSession, int | None], Path],
        note: Callable[[AppContext, int | None], str] | None = None,
    ) -> Callable:
        def do_make(session: BrowserSession, submission_id: int | None) -> dict:
            path = make(ctx, session, submission_id)
            text = download_markdown(path.name, offer_file(path))
            extra = note(ctx, submission_id) if note else ""
            if extra:
                text += f"\n\n**Note:** {extra}"
            return {file: gr.File(visible=False), status: text}

        return guarded(status, do_make)

    for button, make, note in (
        (get_st, download_safetensors, format_note),
        (get_gguf, download_gguf, _gguf_notes),
        (get_report, download_report, format_note),
    ):
        button.click(maker(make, note), [state, approved], [file, status])
    return DownloadsTab(approved)
