"""Compare refuses a bad choice before any model work: a strength that is not a finite number,
an evaluation of more than 25 strengths, and every other check that could fail after the work."""

from __future__ import annotations

import pytest

from dashboard.common import KNOWN_ERRORS, UserError
from dashboard.tabs import compare
from dashboard.tabs.compare import answers, evaluation
from tests.app.support import builder_with_vector


@pytest.fixture()
def untouched(ctx, monkeypatch):
    """The session's model and the engine's heavy functions, each failing the test when reached."""
    reached: list[str] = []

    def forbidden(name):
        def call(*_args, **_kwargs):
            reached.append(name)
            raise AssertionError(f"{name} was reached before the refusal")

        return call

    monkeypatch.setattr(answers, "side_by_side_answers", forbidden("side_by_side_answers"))
    monkeypatch.setattr(evaluation, "evaluate_heldout", forbidden("evaluate_heldout"))
    # After the vector is built: from here on, touching the model at all counts as work.
    yield lambda: monkeypatch.setattr(ctx, "model", forbidden("the model")) or reached


@pytest.mark.parametrize("strength", [float("nan"), float("inf"), float("-inf")])
def test_compare_refuses_a_strength_that_is_not_finite_before_generating(
    ctx, examples_file, untouched, strength
):
    session = builder_with_vector(ctx, examples_file)
    reached = untouched()
    request = compare.AnswerRequest("What is 2 plus 3?", strength, "1-2", 4)
    with pytest.raises(UserError, match=r"The strength -?(nan|inf) is not a finite number"):
        compare.compare_answers(ctx, session, request)
    assert reached == []
    assert ctx.store.audit_events(action="generate") == []


def test_compare_generates_and_audits_a_finite_strength(ctx, examples_file):
    # The same call as above with a number: the check lets it through, and the audit records it.
    session = builder_with_vector(ctx, examples_file)
    request = compare.AnswerRequest("What is 2 plus 3?", -0.5, "1-2", 4)
    texts = compare.compare(ctx, session, request)
    assert len(texts) == 2 and all(isinstance(text, str) for text in texts)
    assert ctx.store.audit_events(action="generate")[-1].details["strength"] == -0.5


@pytest.mark.parametrize(
    ("prompt", "layers", "message"),
    [
        ("  ", "1-2", "Type a question"),
        ("What is 2 plus 3?", "7", r"Layer\(s\) 7 do not exist: this model has layers 0-3"),
    ],
)
def test_every_refusal_of_compare_comes_before_the_model(
    ctx, examples_file, untouched, prompt, layers, message
):
    session = builder_with_vector(ctx, examples_file)
    reached = untouched()
    with pytest.raises(KNOWN_ERRORS, match=message):
        compare.compare_answers(ctx, session, compare.AnswerRequest(prompt, 1.0, layers))
    assert reached == []


def spread(count: int) -> str:
    """``count`` distinct non-zero strengths, as typed into 'Strengths to test'."""
    return ", ".join(f"{i / 10:g}" for i in range(1, count + 1))


def test_an_evaluation_takes_at_most_25_strengths(ctx, examples_file, untouched):
    session = builder_with_vector(ctx, examples_file)
    # 24 typed + the baseline 0 = 25: accepted, and the estimate counts them so.
    assert compare.MAX_STRENGTHS == 25
    text = compare.announce_evaluation(ctx, session, spread(24), 2, side_effects=False)
    assert "(25 strengths on 2 build questions" in text
    reached = untouched()
    # 25 typed + 0 = 26: refused by the estimate, the announcement and the run alike.
    for refused in (
        lambda: compare.estimate_evaluation(ctx, session, spread(25), 2),
        lambda: compare.announce_evaluation(ctx, session, spread(25), 2),
        lambda: compare.evaluate(ctx, session, spread(25), "1-2", 2, side_effects=False),
        lambda: compare.evaluate(ctx, session, spread(499), "1-2", 2, side_effects=False),
    ):
        with pytest.raises(UserError, match=r"An evaluation takes at most 25 strengths \(0 incl"):
            refused()
    assert reached == []
    assert ctx.store.audit_events(action="evaluation.add") == []


@pytest.mark.parametrize(
    ("strengths", "layers", "message"),
    [
        ("0, lots", "1-2", "'lots' is not a number"),
        ("0, nan", "1-2", "not a finite number"),
        ("0, inf", "1-2", "not a finite number"),
        ("0", "1-2", "at least one strength besides 0"),
        ("0, 1", "7", r"Layer\(s\) 7 do not exist: this model has layers 0-3"),
    ],
)
def test_every_refusal_of_an_evaluation_comes_before_the_model(
    ctx, examples_file, untouched, strengths, layers, message
):
    session = builder_with_vector(ctx, examples_file)
    reached = untouched()
    with pytest.raises(KNOWN_ERRORS, match=message):
        compare.evaluate(ctx, session, strengths, layers, 2, side_effects=False)
    assert reached == []
    assert ctx.store.audit_events(action="evaluation.add") == []
