"""Compare, submitting: vector + strength + layers + evaluation frozen and sent for review, and
the warning shown when the choice goes against the evaluation's evidence."""

from __future__ import annotations

import math

from dashboard.browser_state import BrowserSession
from dashboard.common import UserError, need_user
from dashboard.context import AppContext
from dashboard.tabs.compare.vector import need_vector, need_vector_id, steer_layers
from dashboard.views.common import md
from steering.layers import layers_text
from storage.workflow import against_evidence


def evaluated_strengths(session: BrowserSession) -> list[float]:
    """The strengths the session's evaluation tested, other than 0: what may be submitted."""
    if session.evaluation is None:
        return []
    return sorted({r.alpha for r in session.evaluation.results if r.alpha != 0})


def evidence_concern(session: BrowserSession, strength: float | None) -> str | None:
    """Why submitting ``strength`` goes against the session's evaluation, or None.

    Asked of :func:`storage.workflow.against_evidence` (the store flags the same), on the JSON
    the evaluation is stored as.
    """
    if session.evaluation is None or strength is None or float(strength) == 0:
        return None
    return against_evidence(float(strength), session.evaluation.to_dict())


def concern_markdown(concern: str | None) -> str:
    """The warning shown next to the submit button when the choice goes against the evidence."""
    if concern is None:
        return ""
    return (
        f"⚠ **Against the evidence:** {md(concern)} You may still submit it; write why "
        "below. The reviewer, the report and the audit trail will show it."
    )


def submit(
    ctx: AppContext,
    session: BrowserSession,
    strength: float | None = None,
    layers: str | None = None,
    reason: str | None = None,
) -> str:
    """Freeze vector + strength + layers + evaluation and send it for review.

    A strength the evaluation did not choose, or an evaluation that does not recommend
    deploying, is submitted only with a written ``reason``; the audit event carries both.
    """
    user = need_user(session)
    need_vector(session)
    if session.evaluation_id is None or session.evaluation is None:
        raise UserError("Run the held-out evaluation first: reviewers need the evidence.")
    offered = ", ".join(f"{a:g}" for a in evaluated_strengths(session))
    if strength is None:
        strength = session.evaluation.chosen_alpha
    if strength is None:
        raise UserError(f"Choose one of the evaluated strengths to submit: {offered}.")
    if float(strength) == 0:
        raise UserError(
            "Strength 0 means no steering, so there is nothing to approve. The evaluation found no "
            "strength that did better on the build rows; to submit anyway, choose one of the "
            f"evaluated strengths: {offered}."
        )
    chosen = steer_layers(session, layers) if (layers or "").strip() else session.evaluation_layers
    # A strength the evaluation did not test is refused by the store below (storage.workflow's
    # rule), whatever the reason.
    tested = any(math.isclose(a, float(strength)) for a in evaluated_strengths(session))
    concern = evidence_concern(session, float(strength)) if tested else None
    if concern is not None and not (reason or "").strip():
        raise UserError(
            f"This goes against the evidence. {concern} You may still submit it: write why in "
            "'Why submit against the evidence', so the reviewer knows you decided it knowingly."
        )
    # One action, one transaction: a refusal leaves no draft behind to pile up on retries.
    sent = ctx.store.create_and_submit(
        need_vector_id(session),
        float(strength),
        chosen,
        session.evaluation_id,
        user,
        reason if concern else None,
    )
    message = (
        f"Submission #{sent.id} sent for review: vector #{sent.vector_id} at strength "
        f"{sent.strength:g} on layers {layers_text(sent.layers)}. A reviewer other than you "
        "must approve it."
    )
    if concern is not None:
        message += " It is flagged as going against the evidence, with your reason."
    return message
