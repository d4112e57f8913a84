"""Tab 5, Review: a submission's evidence, and the decisions this user may take on it.

Which decisions are offered, and why not, is asked of :mod:`storage.workflow` (the one owner of
the rules, which the store enforces too): the tab keeps no copy of roles or states.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr
import pandas as pd
import plotly.graph_objects as go

from dashboard.browser_state import BrowserSession
from dashboard.common import UserError, need_user, submission_choices
from dashboard.context import AppContext
from dashboard.events import guarded
from dashboard.evidence import create_evidence
from dashboard.views.compare import EvaluationView, evaluation_view
from dashboard.views.headline import headline
from dashboard.views.review import (
    HISTORY_COLUMNS,
    against_evidence_markdown,
    history_table,
    submission_summary,
)
from steering.evaluation.results import EvaluationReport
from storage import StoredSubmission
from storage.workflow import ACTIONS, DRAFT, STATUSES, TRANSITIONS, available_actions, refusal

# The queue's filter: the workflow's states, drafts last (nobody reviews a draft), then all.
QUEUE_FILTERS = [*(s for s in STATUSES if s != DRAFT), DRAFT, "all"]


@dataclass(frozen=True)
class SubmissionView:
    """One submission's evidence and the review actions this user is offered on it."""

    summary: str
    evidence: EvaluationView
    history: pd.DataFrame
    actions: tuple[str, ...]  # of "approve", "reject", "revoke", as storage.workflow allows
    note: str  # why nothing can be decided, when nothing can
    warning: str = ""  # Markdown: the submission goes against the evidence (shown above approve)
    headline: str = ""  # Markdown: the manager's box (decision, recommendation, purpose)

    @property
    def figure(self) -> go.Figure:
        return self.evidence.figure

    @property
    def table(self) -> pd.DataFrame:
        return self.evidence.table

    @property
    def side_effects(self) -> pd.DataFrame:
        return self.evidence.side_effects

    @property
    def samples(self) -> str:
        return self.evidence.samples

    @property
    def verdict(self) -> str:
        return self.evidence.verdict

    @property
    def can_decide(self) -> bool:
        return "approve" in self.actions or "reject" in self.actions

    @property
    def can_revoke(self) -> bool:
        return "revoke" in self.actions


def _why_not(session: BrowserSession, sub: StoredSubmission) -> str:
    """The workflow's reason this user cannot take the decisions the submission's state awaits."""
    awaited = [a for a, target in ACTIONS.items() if target in TRANSITIONS[sub.status]]
    for action in awaited:
        reason = refusal(
            action,
            actor=str(session.user),
            role=str(session.role),
            creator=sub.created_by,
            status=sub.status,
            submission_id=sub.id,
        )
        if reason is not None:
            return str(reason)
    return f"This submission is {sub.status}; there is nothing to decide."


def show_submission(
    ctx: AppContext, session: BrowserSession, submission_id: int | None
) -> SubmissionView:
    """The full evidence of one submission, and which decisions this user may take on it."""
    user = need_user(session)
    if submission_id is None:
        raise UserError("Choose a submission from the list.")
    sub = ctx.store.get_submission(int(submission_id))
    vector = ctx.store.get_vector(sub.vector_id)
    stored = None if sub.evaluation_id is None else ctx.store.get_evaluation(sub.evaluation_id)
    report = (
        EvaluationReport.from_dict({})
        if stored is None
        else EvaluationReport.from_dict(stored.results, outcome=stored.outcome)
    )
    evaluation = evaluation_view(
        report,
        submitted=sub.strength,
        config={} if stored is None else stored.config,
        lineage=vector.lineage,
    )
    session.shown_submission, session.shown_version = sub.id, sub.version
    intact = ctx.store.check_submission(sub.id)
    actions = available_actions(
        actor=user, role=str(session.role), creator=sub.created_by, status=sub.status
    )
    summary = submission_summary(sub, vector, intact, evaluation.verdict)
    flag = ctx.store.against_evidence(sub.id)
    return SubmissionView(
        summary=f"{summary}\n\n{submitted_evidence(report, sub.strength, sub.layers)}",
        evidence=evaluation,
        history=history_table(sub.reviews),
        actions=actions,
        note="" if actions else _why_not(session, sub),
        warning=against_evidence_markdown(flag),
        headline=headline(sub, report, vector.lineage, flag).markdown(),
    )


def submitted_evidence(report: EvaluationReport, strength: float, layers: tuple[int, ...]) -> str:
    """The evaluation's row for exactly the submitted strength (and layer set), in words.

    A reviewer approves one strength on one set of layers; the table shows every strength
    tested, so the row being decided on is spelled out apart, next to the row without the vector.
    """
    row = next(
        (
            r
            for r in report.results
            if r.alpha == strength and (r.layers is None or tuple(sorted(r.layers)) == layers)
        ),
        None,
    )
    if row is None:
        return (
            f"**The evaluation has no result at strength {strength:g}**, so nothing supports "
            "this submission; reject it and ask for an evaluation at that strength."
        )
    base = report.baseline
    correct = f"{row.correct} of {row.n}" if row.n is not None else f"{row.accuracy:.0%}"
    text = (
        f"**Evidence for the submitted strength {strength:g}** (layers "
        f"{', '.join(str(i) for i in layers)}): {correct} held-out questions answered correctly "
        f"({row.accuracy:.0%}, 95 % interval {row.ci_low:.0%} to {row.ci_high:.0%})"
    )
    if base is not None:
        without = f"{base.correct} of {base.n}" if base.n is not None else f"{base.accuracy:.0%}"
        text += f", against {without} without the vector"
    if row.mcnemar_p is not None:
        text += f"; McNemar p = {row.mcnemar_p:.3g}"
    return text + "."


def decide(ctx: AppContext, session: BrowserSession, decision: str, comment: str) -> str:
    """Approve, reject or revoke the submission on screen, at the version the user saw."""
    user = need_user(session)
    if session.shown_submission is None or session.shown_version is None:
        raise UserError("Open a submission first.")
    sid, version = session.shown_submission, session.shown_version
    if decision == "revoke":
        sub = ctx.store.revoke(sid, comment, user, version)
    else:
        sub = ctx.store.review(sid, decision, comment, user, version)
    session.shown_version = sub.version
    return f"Submission #{sub.id} is now **{sub.status}**."


@dataclass(frozen=True)
class ReviewTab:
    """What signing in fills: the queue's filter and the queue."""

    status_filter: gr.Dropdown
    queue: gr.Dropdown


def _choices(ctx: AppContext, which: str) -> list[tuple[str, int]]:
    return submission_choices(ctx, None if which == "all" else which)


def create_ui(ctx: AppContext, state: gr.State) -> ReviewTab:
    with gr.Tab("5 · Review", id="review", elem_id="tab-review"):
        gr.Markdown(
            "Reviewers read the evidence and approve or reject with a comment; an approval can "
            "later be revoked. Nobody can approve their own submission."
        )
        with gr.Row():
            status_filter = gr.Dropdown(
                QUEUE_FILTERS, value="submitted", label="Show", elem_id="review-filter", scale=1
            )
            # Filled again on every tab switch and page load (dashboard.tabs.signin): no Refresh.
            queue = gr.Dropdown(
                choices=[], label="Submission", elem_id="review-queue", scale=3, min_width=240
            )
        # Manager first: the decision, the recommendation and what the vector is for.
        box = gr.Markdown(elem_id="review-headline", elem_classes=["headline"])
        summary = gr.Markdown(elem_id="review-summary")
        evidence = create_evidence("review", "Results")
        history = gr.Dataframe(
            label="Review history",
            headers=HISTORY_COLUMNS,
            interactive=False,
            wrap=True,
            elem_id="review-history",
        )
        note = gr.Markdown(elem_id="review-note")
        comment = gr.Textbox(
            label="Comment (required)", lines=2, elem_id="review-comment", visible=False
        )
        warning = gr.Markdown(elem_id="review-against", elem_classes=["warning"])
        with gr.Row():
            approve = gr.Button("Approve", variant="primary", visible=False, elem_id="approve")
            reject = gr.Button("Reject", variant="stop", visible=False, elem_id="reject")
            revoke = gr.Button("Revoke approval", visible=False, elem_id="revoke")
        status = gr.Markdown(elem_id="review-status")

    shown = [
        box,
        summary,
        *evidence.components,
        history,
        note,
        warning,
        comment,
        approve,
        reject,
        revoke,
    ]

    def show(session: BrowserSession, submission_id: int | None) -> dict:
        if submission_id is None:
            return {
                box: "",
                summary: "",
                **evidence.clear(),
                note: "",
                warning: "",
                comment: gr.Textbox(visible=False),
                approve: gr.Button(visible=False),
                reject: gr.Button(visible=False),
                revoke: gr.Button(visible=False),
            }
        view = show_submission(ctx, session, submission_id)
        return {
            state: session,
            box: view.headline,
            summary: view.summary,
            **evidence.show(view.evidence),
            # The box above holds the recommendation and the summary the verdict: shown once.
            evidence.headline: "",
            history: view.history,
            note: view.note,
            warning: view.warning,
            comment: gr.Textbox(visible=bool(view.actions), value=""),
            approve: gr.Button(visible="approve" in view.actions),
            reject: gr.Button(visible="reject" in view.actions),
            revoke: gr.Button(visible="revoke" in view.actions),
            status: "",
        }

    queue.change(guarded(status, show), [state, queue], [state, status, *shown])

    def do_filter(session: BrowserSession, which: str) -> dict:
        need_user(session)
        return {queue: gr.Dropdown(choices=_choices(ctx, which), value=None), status: ""}

    status_filter.change(guarded(status, do_filter), [state, status_filter], [queue, status])

    def decider(decision: str) -> Callable[..., dict]:
        def do_decide(
            session: BrowserSession, text: str, submission_id: int | None, which: str
        ) -> dict:
            message = decide(ctx, session, decision, text)
            result = show(session, submission_id)
            result[status] = message
            # The queue's labels carry the status: relabel them, keeping this submission chosen.
            choices = _choices(ctx, which)
            if submission_id not in [value for _, value in choices]:
                choices += [c for c in submission_choices(ctx) if c[1] == submission_id]
            result[queue] = gr.Dropdown(choices=choices, value=submission_id)
            return result

        return guarded(status, do_decide)

    for button, decision in ((approve, "approve"), (reject, "reject"), (revoke, "revoke")):
        button.click(
            decider(decision),
            [state, comment, queue, status_filter],
            [state, status, queue, *shown],
        )
    return ReviewTab(status_filter, queue)
