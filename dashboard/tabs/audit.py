"""Tab 6, Audit: the audit trail, filtered; verify its hash chain; export it as CSV."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from dashboard import views
from dashboard.common import export_folder, need_user
from dashboard.context import AppContext
from dashboard.session import BrowserSession
from dashboard.tabs.events import download_markdown, guarded, offer_file


def audit_table(
    ctx: AppContext,
    session: BrowserSession,
    actor: str = "",
    action: str = "",
    object_type: str = "",
    limit: int = 500,
) -> pd.DataFrame:
    """The newest audit events matching the filters (empty filter = any)."""
    need_user(session)
    events = ctx.store.audit_events(
        actor=actor.strip() or None,
        action=action.strip() or None,
        object_type=object_type.strip() or None,
        limit=limit,
        newest_first=True,
    )
    return views.audit_table(events)


def verify_audit(ctx: AppContext, session: BrowserSession) -> str:
    """Walk the whole hash chain and say, in words, whether it is intact."""
    need_user(session)
    return views.integrity_markdown(ctx.store.verify())


def export_audit_csv(ctx: AppContext, session: BrowserSession) -> Path:
    """The whole audit trail as a CSV file in the user's export folder (the export is audited)."""
    user = need_user(session)
    target = export_folder(ctx, user) / "audit-trail.csv"
    ctx.store.export_audit("csv", target, actor=user)
    return target


def create_ui(ctx: AppContext, state: gr.State) -> None:
    """The tab and its events; no other tab needs its components."""
    with gr.Tab("6 · Audit", id="audit", elem_id="tab-audit"):
        gr.Markdown(
            "Every action, who did it and when. Each entry carries the hash of the one before, "
            "so any edit, deletion or insertion is detected by **Verify integrity**."
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
        table = gr.Dataframe(
            interactive=False,
            wrap=True,
            max_chars=160,
            headers=views.AUDIT_COLUMNS,
            max_height=460,
            elem_id="audit-table",
            label="Audit trail",
        )
        with gr.Row(equal_height=True):
            verify = gr.Button("Verify integrity", elem_id="audit-verify")
            export = gr.Button("Export CSV", elem_id="audit-export")
        result = gr.Markdown(elem_id="audit-result")
        export_file = gr.File(label="Audit trail (CSV)", visible=False, elem_id="audit-file")

    def do_show(session: BrowserSession, who: str, what: str, kind: str) -> dict:
        return {table: audit_table(ctx, session, who, what, kind), result: ""}

    show.click(guarded(result, do_show), [state, actor, action, object_type], [table, result])

    def do_verify(session: BrowserSession) -> dict:
        return {result: verify_audit(ctx, session)}

    verify.click(guarded(result, do_verify), [state], [result])

    def do_export(session: BrowserSession) -> dict:
        link = offer_file(export_audit_csv(ctx, session))
        return {
            export_file: gr.File(visible=False),
            result: download_markdown("audit-trail.csv", link),
        }

    export.click(guarded(result, do_export), [state], [export_file, result])
