"""Shared test data for the dashboard: example rows, a real EvaluationReport, ready-made sessions."""

from __future__ import annotations

import csv
import io

from dashboard.browser_state import BrowserSession
from dashboard.context import AppContext
from dashboard.tabs import build, compare, examples, review
from steering.evaluation.results import (
    EvaluationReport,
    NeutralAnswer,
    Sample,
    SideEffects,
    StrengthResult,
    VectorSummary,
    Verdict,
)

PASSWORD = "correct horse battery"
REASON = "A pilot on one team; we accept the risk."
VERDICT = (
    "At strength 0.5 the model answered 7 of 10 held-out questions correctly, against 5 without "
    "the vector; a difference this large would arise by chance with probability 0.25, so the "
    "difference could be chance."
)


def rows(n: int = 12, *, negatives: bool = True) -> list[dict[str, str]]:
    """``n`` addition questions; the negative states a sum one too large."""
    out = []
    for i in range(n):
        a, b = i + 2, 3 * i + 1
        row = {
            "prompt": f"What is {a} plus {b}?",
            "positive": f"{a} plus {b} is {a + b}. The answer is {a + b}.",
            "negative": f"{a} plus {b} is {a + b + 1}. The answer is {a + b + 1}.",
            "answer": str(a + b),
            "choices": f"{a + b}|{a + b + 1}|{a + b - 1}",
        }
        if not negatives:
            del row["negative"]
        out.append(row)
    return out


def login(ctx: AppContext, name: str, password: str = PASSWORD) -> BrowserSession:
    """The session a handler sees after /login: identity as the store has it (argon2 checked).

    In the app, :func:`dashboard.events.identify` fills these fields from the request on
    every event; tests of the plain actions build the same value directly.
    """
    user = ctx.store.check_login(name, password)
    assert user is not None, f"{name} could not sign in"
    return BrowserSession(
        user=user.name, role=user.role, owner=f"test-session-{name}", model_spec=ctx.default_model
    )


def csv_text(table: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(table[0]))
    writer.writeheader()
    writer.writerows(table)
    return buffer.getvalue()


def sample_report(sample_answer: str = "42") -> EvaluationReport:
    """A held-out evaluation of 10 questions at strengths 0 and 0.5, every field filled."""
    results = (
        StrengthResult(
            alpha=0.0,
            accuracy=0.5,
            accuracy_norm=0.5,
            ci_low=0.2366,
            ci_high=0.7634,
            kl=0.0,
            entropy_bits=1.25,
            mass_correct=0.41,
            mass_incorrect=0.35,
            mcnemar_p=1.0,
            n=10,
            correct=5,
        ),
        StrengthResult(
            alpha=0.5,
            accuracy=0.7,
            accuracy_norm=0.6,
            ci_low=0.3968,
            ci_high=0.8922,
            kl=0.03125,
            entropy_bits=1.1,
            mass_correct=0.52,
            mass_incorrect=0.3,
            mcnemar_p=0.25,
            n=10,
            correct=7,
            gained=2,
            lost=0,
        ),
    )
    return EvaluationReport(
        model="tiny",
        vector=VectorSummary("ab" * 32, "mean_diff", "column", (1, 2), "cd" * 32, "tiny"),
        rows=10,
        mode="choice",
        results=results,
        verdict=VERDICT,
        outcome=Verdict.NO_EVIDENCE,
        chosen_alpha=0.5,
        chosen_on="build",
        side_effects=SideEffects(
            perplexity={0.0: 10.0, 0.5: 11.04},
            changed_share={0.0: 0.0, 0.5: 0.5},
            answers=(NeutralAnswer("Capital of France?", {0.0: "Paris", 0.5: "P"}),),
        ),
        samples=(
            Sample(
                row=3,
                prompt="What is 2 plus 1?",
                answer="3",
                unsteered="4",
                steered=sample_answer,
                alpha=0.5,
            ),
        ),
    )


def builder_with_vector(ctx: AppContext, examples_path: str) -> BrowserSession:
    """Bob, signed in, with the examples uploaded and a vector built on all layers."""
    session = login(ctx, "bob", PASSWORD)
    examples.upload_examples(ctx, session, examples_path)
    build.build(ctx, session)
    return session


def attach_evaluation(
    ctx: AppContext, session: BrowserSession, report: EvaluationReport | None = None
) -> EvaluationReport:
    """Store ``report`` as the session's evaluation, as the Compare tab's evaluate does."""
    report = report or sample_report()
    layers = session.recommended
    stored = ctx.store.add_evaluation(
        session.vector_id, {"layers": layers}, report.to_dict(), "bob"
    )
    session.evaluation, session.evaluation_id = report, stored.id
    session.evaluation_layers = layers
    return report


def submitted(ctx: AppContext, examples_path: str, sample_answer: str = "42") -> int:
    """The id of a submission Bob built, evaluated and sent for review."""
    builder = builder_with_vector(ctx, examples_path)
    attach_evaluation(ctx, builder, sample_report(sample_answer))
    # The sample verdict does not recommend deploying: submitting it takes a reason.
    compare.submit(ctx, builder, reason=REASON)
    return ctx.store.list_submissions()[-1].id


def approved(ctx: AppContext, examples_path: str, sample_answer: str = "42") -> int:
    """The id of a submission of Bob's that Rita approved."""
    sid = submitted(ctx, examples_path, sample_answer)
    reviewer = login(ctx, "rita", PASSWORD)
    review.show_submission(ctx, reviewer, sid)
    review.decide(ctx, reviewer, "approve", "Looks good.")
    return sid
