"""Tab 6, Audit: the audit trail, filtered; verify it; failed sign-ins; export it as CSV or JSON.

Who sees what is the store's and the workflow's answer, never a copy kept here: failed sign-ins
are left out of a builder's view by the store (``viewer_role``), and the export, which lists them,
is offered to those ``storage.workflow.may_review`` lets see them (reviewers and admins).
API usage (how often each approved submission was used, by which key, per hour) comes from the
store's counters, not from audit events: one event per API request would flood the chain.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gradio as gr
import pandas as pd

from dashboard.browser_state import BrowserSession
from dashboard.common import UserError, export_folder, need_user
from dashboard.context import AppContext
from dashboard.events import download_markdown, guarded, offer_file
from dashboard.views.audit import (
    AUDIT_COLUMNS,
    FAILED_SIGNIN_COLUMNS,
    IntegrityView,
    applied_words,
    caught_markdown,
    failed_signins_table,
    integrity_view,
)
from dashboard.views.audit import audit_table as audit_view
from dashboard.views.common import SCROLL_CUE, md
from storage import SigningKeyError
from storage.export import FORMATS
from storage.workflow import may_review


def audit_table(
    ctx: AppContext,
    session: BrowserSession,
    actor: str = "",
    action: str = "",
    object_type: str = "",
    limit: int = 500,
) -> pd.DataFrame:
    """The newest audit events matching the filters (empty filter = any), as this role may see."""
    need_user(session)
    events = ctx.store.audit_events(
        actor=actor.strip() or None,
        action=action.strip() or None,
        object_type=object_type.strip() or None,
        limit=limit,
        newest_first=True,
        viewer_role=str(session.role),
    )
    return audit_view(events)


def verify_audit(ctx: AppContext, session: BrowserSession) -> IntegrityView:
    """Check links, signatures and checkpoints; say in words whether the trail is intact."""
    need_user(session)
    try:
        result = ctx.store.verify()
    except SigningKeyError as error:
        # Without the public key nothing can be said either way: neither "intact" nor "tampered".
        return IntegrityView(
            ok=False,
            summary=(
                f"**Cannot check the signatures.** {md(error)} Until the person who runs "
                "the lab restores the key files, nobody can tell whether the audit trail is intact."
            ),
            details="",
        )
    return integrity_view(result)


def failed_signins(ctx: AppContext, session: BrowserSession) -> pd.DataFrame:
    """The newest failed sign-ins; the store refuses builders with a message they can act on."""
    need_user(session)
    return failed_signins_table(ctx.store.failed_logins(str(session.role)))


USAGE_COLUMNS = ["hour (UTC)", "key", "submission", "requests", "vector"]


def usage_table(ctx: AppContext, session: BrowserSession) -> pd.DataFrame:
    """API requests per hour, key and submission (newest first); "unsteered" for none; how
    often the vector was applied (a conditional vector's gate decides)."""
    need_user(session)
    rows = [
        [
            u.hour,
            u.key_name,
            u.submission_id or "unsteered",
            u.count,
            applied_words(u.count, u.applied, u.not_applied),
        ]
        for u in ctx.store.api_usage()
    ]
    return pd.DataFrame(rows, columns=USAGE_COLUMNS)


def export_audit(ctx: AppContext, session: BrowserSession, fmt: str) -> Path:
    """The whole audit trail, with the latest checkpoint, in the user's export folder.

    Reviewers and admins only: the trail lists failed sign-ins, which builders may not see.
    The export itself is audited by the store.
    """
    user = need_user(session)
    if not may_review(str(session.role)):
        raise UserError(
            f"{user} is a {session.role}; only reviewers and admins can export the audit trail "
            "(it lists failed sign-ins). Ask one of them for a copy."
        )
    if fmt not in FORMATS:
        raise UserError(f"Choose one of {', '.join(FORMATS)} to export.")
    target = export_folder(ctx, user) / f"audit-trail.{fmt}"
    ctx.store.export_audit(fmt, target, actor=user)
    return target


def create_ui(ctx: AppContext, state: gr.State) -> None:
    """The tab and its events; no other tab needs its components."""
    with gr.Tab("6 · Audit", id="audit", elem_id="tab-audit"):
        gr.Markdown(
            "Every action, who did it and when. Each entry carries the hash of the one before and "
            "the lab's signature, and signed checkpoints of the trail are kept outside the "
            "database; **Verify integrity** checks all three. What that catches, and what it "
            "cannot, is in the table below."
        )
        with gr.Row():
            actor = gr.Textbox(label="User", elem_id="audit-actor", min_width=120)
            action = gr.Textbox(
                label="Action", placeholder="e.g. submission.approve", elem_id="audit-action"
            )
            object_type = gr.Textbox(
                label="Object", placeholder="e.g. submission", elem_id="audit-object"
            )
            show = gr.Button("Show", variant="primary", scale=0, min_width=90, elem_id="audit-show")
        gr.Markdown(SCROLL_CUE, elem_classes=["scroll-cue"], elem_id="audit-scroll-cue")
        table = gr.Dataframe(
            interactive=False,
            wrap=True,
            max_chars=160,
            headers=AUDIT_COLUMNS,
            max_height=460,
            elem_id="audit-table",
            label="Audit trail",
        )
        with gr.Row(equal_height=True):
            verify = gr.Button("Verify integrity", elem_id="audit-verify")
            failed = gr.Button("Failed sign-ins (reviewers, admins)", elem_id="audit-failed")
            export_csv = gr.Button("Export CSV (reviewers, admins)", elem_id="audit-export")
            export_json = gr.Button("Export JSON (reviewers, admins)", elem_id="audit-export-json")
        result = gr.Markdown(elem_id="audit-result")
        with gr.Accordion("Technical details", open=False, elem_id="audit-details-fold"):
            details = gr.Markdown(elem_id="audit-details")
        failed_table = gr.Dataframe(
            interactive=False,
            headers=FAILED_SIGNIN_COLUMNS,
            visible=False,
            elem_id="audit-failed-table",
            label="Failed sign-ins (newest first)",
        )
        with gr.Accordion("What this check catches", open=False, elem_id="audit-caught"):
            gr.Markdown(caught_markdown())
        export_file = gr.File(label="Audit trail", visible=False, elem_id="audit-file")
        usage_button = gr.Button("API usage", elem_id="audit-usage")
        usage = gr.Dataframe(
            interactive=False,
            headers=USAGE_COLUMNS,
            visible=False,
            elem_id="audit-usage-table",
            label="API requests per hour, key and submission (newest first)",
        )

    def do_show(session: BrowserSession, who: str, what: str, kind: str) -> dict:
        return {table: audit_table(ctx, session, who, what, kind), result: ""}

    show.click(guarded(result, do_show), [state, actor, action, object_type], [table, result])

    def do_verify(session: BrowserSession) -> dict:
        view = verify_audit(ctx, session)
        return {result: view.summary, details: view.details}

    verify.click(guarded(result, do_verify), [state], [result, details])

    def do_failed(session: BrowserSession) -> dict:
        return {failed_table: gr.Dataframe(failed_signins(ctx, session), visible=True), result: ""}

    failed.click(guarded(result, do_failed), [state], [failed_table, result])

    def do_usage(session: BrowserSession) -> dict:
        return {usage: gr.Dataframe(usage_table(ctx, session), visible=True), result: ""}

    usage_button.click(guarded(result, do_usage), [state], [usage, result])

    def exporter(fmt: str) -> Callable[[BrowserSession], dict]:
        def do_export(session: BrowserSession) -> dict:
            path = export_audit(ctx, session, fmt)
            return {
                export_file: gr.File(visible=False),
                result: download_markdown(path.name, offer_file(path)),
            }

        return guarded(result, do_export)

    export_csv.click(exporter("csv"), [state], [export_file, result])
    export_json.click(exporter("json"), [state], [export_file, result])
