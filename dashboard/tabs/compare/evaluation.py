"""Compare, the held-out evaluation: its time estimate, the run itself (stored with its
configuration) and reopening an earlier one.

The strength is chosen on build rows and reported on held-out rows (``evaluate_heldout``).
Every choice is checked before the model loads or any row is read, so a refusal costs nothing.
"""

from __future__ import annotations

import time

from dashboard import earlier, estimates, jobs
from dashboard.browser_state import BrowserSession
from dashboard.common import Progress, UserError, loaded_model, need_user, quiet
from dashboard.context import AppContext
from dashboard.tabs.compare.vector import need_vector, need_vector_id, steer_layers
from dashboard.views.compare import EvaluationView, evaluation_view
from steering.data.examples import Example
from steering.evaluation.evaluate import evaluate_heldout
from steering.evaluation.strengths import parse_strengths

DEFAULT_STRENGTHS = "0, 0.25, 0.5, 1"
# Each strength runs every question again (500 strengths took 545 s of CPU on the bundled model):
# a shared server takes a sweep of a size someone means, not a pasted column of numbers.
MAX_STRENGTHS = 25


def evaluation_strengths(text: str) -> list[float]:
    """The strengths an evaluation runs, 0 included (:func:`parse_strengths`), at most
    ``MAX_STRENGTHS`` of them."""
    strengths = parse_strengths(text)
    if len(strengths) > MAX_STRENGTHS:
        raise UserError(
            f"An evaluation takes at most {MAX_STRENGTHS} strengths (0 included), and these are "
            f"{len(strengths)}. Each strength answers every question again: keep the few you "
            "want to compare, e.g. 0, 0.25, 0.5, 1."
        )
    return strengths


def evaluation_rows(
    session: BrowserSession, max_questions: int | None
) -> tuple[list[Example], list[Example]]:
    """The build and held-out rows an evaluation uses (the first ``max_questions`` of each)."""
    build_rows, heldout_rows = list(session.build_rows), list(session.heldout_rows)
    if max_questions:
        limit = max(1, int(max_questions))
        build_rows, heldout_rows = build_rows[:limit], heldout_rows[:limit]
    if not heldout_rows:
        raise UserError("The example set has no held-out rows to evaluate on.")
    return build_rows, heldout_rows


def evaluate(
    ctx: AppContext,
    session: BrowserSession,
    strengths: str = DEFAULT_STRENGTHS,
    layers: str | None = None,
    max_questions: int | None = None,
    side_effects: bool = True,
    progress: Progress = quiet,
) -> EvaluationView:
    """Held-out evaluation at several strengths; stored with its configuration."""
    user = need_user(session)
    vector = need_vector(session)
    alphas = evaluation_strengths(strengths)
    chosen = steer_layers(session, layers)
    build_rows, heldout_rows = evaluation_rows(session, max_questions)
    vector_id = need_vector_id(session)
    config = {
        "strengths": list(alphas),
        "layers": chosen,
        "build_rows": len(build_rows),
        "heldout_rows": len(heldout_rows),
        "side_effects": bool(side_effects),
        "dataset_hash": session.example_set.content_hash if session.example_set else "",
    }
    loaded = loaded_model(ctx, session)
    with jobs.tracked_job(ctx.store, user, jobs.EVALUATION) as job:
        # One bar through the phases, each named, with the time left (kept in the job's record).
        expected = estimate_evaluation(ctx, session, strengths, max_questions, side_effects)
        job.expect(expected.seconds)
        counts = {estimates.EVAL_BUILD: len(build_rows), estimates.EVAL_HELDOUT: len(heldout_rows)}
        report_progress = estimates.phased_progress(
            progress, expected, estimates.cumulative(counts), on_update=job.progress
        )
        started = time.monotonic()
        report = evaluate_heldout(
            loaded,
            vector,
            build_rows,
            heldout_rows,
            alphas=tuple(alphas),
            layers=chosen,
            progress=lambda done, total: report_progress(done, total, ""),
            side_effects=side_effects,
        )
        took = time.monotonic() - started
        # Stored inside the job, so its record names the evaluation when it says it is done.
        stored = ctx.store.add_evaluation(vector_id, config, report.to_dict(), user)
        job.made(stored.id)
    estimates.remember(loaded, "evaluation", expected.seconds, took)
    session.evaluation, session.evaluation_id = report, stored.id
    session.evaluation_layers = chosen
    return evaluation_view(report, config=config, lineage=vector.metadata)


def estimate_evaluation(
    ctx: AppContext,
    session: BrowserSession,
    strengths: str = DEFAULT_STRENGTHS,
    max_questions: int | None = None,
    side_effects: bool = True,
) -> estimates.Estimate:
    """How long the evaluation should take, by phase, with this model on this machine."""
    need_vector(session)
    count = len(evaluation_strengths(strengths))
    build_rows, heldout_rows = evaluation_rows(session, max_questions)
    loaded = loaded_model(ctx, session)
    work = estimates.evaluation_work(loaded, build_rows, heldout_rows, count, side_effects)
    return estimates.estimate(loaded, "evaluation", work)


def announce_evaluation(
    ctx: AppContext,
    session: BrowserSession,
    strengths: str = DEFAULT_STRENGTHS,
    max_questions: int | None = None,
    side_effects: bool = True,
) -> str:
    """What the status says as an evaluation starts: what it runs and how long it should take."""
    need_user(session)
    expected = estimate_evaluation(ctx, session, strengths, max_questions, side_effects)
    build_rows, heldout_rows = evaluation_rows(session, max_questions)
    count = len(evaluation_strengths(strengths))
    effects = ", then side effects on neutral text" if side_effects else ""
    return (
        f"**Evaluating: this should take {expected.words}** ({count} strengths on "
        f"{len(build_rows)} build questions to choose one, then on {len(heldout_rows)} held-out "
        f"questions{effects}; at the speed this model has shown on this machine)."
    )


def reopen_evaluation(
    ctx: AppContext, session: BrowserSession, evaluation_id: int | None
) -> EvaluationView:
    """One of the user's earlier evaluations (and its vector) back in the session, to submit."""
    reopened = earlier.reopen_evaluation(ctx, session, evaluation_id)
    lineage = reopened.vector.stored.lineage if reopened.vector else need_vector(session).metadata
    return evaluation_view(reopened.report, config=reopened.stored.config, lineage=lineage)


def shown_evaluation(ctx: AppContext, session: BrowserSession) -> EvaluationView | None:
    """The session's evaluation as the tab shows it (None without one); the session is unchanged."""
    if session.evaluation is None or session.evaluation_id is None:
        return None
    stored = ctx.store.get_evaluation(session.evaluation_id)
    lineage = session.vector.metadata if session.vector is not None else {}
    return evaluation_view(session.evaluation, config=stored.config, lineage=lineage)
