"""Compare's side-by-side strength is one of the strengths to test (a vector's own after a build),
the 5 % one to start with, or a number typed; the correct-answer line says what counts as right."""

from __future__ import annotations

import statistics

import gradio as gr
import pytest

from dashboard import events
from dashboard.tabs import compare
from dashboard.ui import build_ui
from dashboard.web import SignedInUser
from steering.evaluation.strengths import DEFAULT_ALPHAS, RESIDUAL_SHARES
from tests.app.handlers import by_id, component, handler_of
from tests.app.support import builder_with_vector


@pytest.fixture()
def demo(ctx) -> gr.Blocks:
    return build_ui(ctx)


def offered(demo: gr.Blocks, strengths_text: str) -> tuple[list[float], float | None]:
    """What the strength list shows after "Strengths to test" holds ``strengths_text``."""
    block_fn = handler_of(demo, "eval-strengths", "change")
    update = by_id(block_fn, block_fn.fn(strengths_text))["compare-strength"]
    return [value for _, value in update.choices], update.value


def test_the_strength_list_offers_the_vectors_suggestions_and_starts_at_5_percent(
    demo, ctx, examples_file, monkeypatch
):
    session = builder_with_vector(ctx, examples_file)
    monkeypatch.setattr(
        events, "current_user", lambda request: SignedInUser("bob", "builder", session.owner)
    )
    # The vector back on screen (as after its build): Build fills "Strengths to test".
    reopen = handler_of(demo, "build-earlier", "input")
    to_test = by_id(reopen, reopen.fn(session, session.vector_id))["eval-strengths"]
    # The suggestions recomputed from the lineage: 2.5, 5 and 10 % of the residual stream, at
    # the median ratio over the layers steered, two significant digits.
    meta = session.vector.metadata
    ratio = statistics.median(
        meta["residual_norms"][str(i)] / meta["norms"][str(i)] for i in session.recommended
    )
    expected = [float(f"{share * ratio:.2g}") for share in RESIDUAL_SHARES]
    assert to_test == ", ".join(f"{a:g}" for a in [0.0, *expected])
    choices, value = offered(demo, to_test)
    assert choices == expected  # the same numbers as "Strengths to test", without 0
    assert value == expected[1]  # the 5 % one
    assert value != 0.5


def test_before_a_build_the_list_holds_the_default_strengths(demo):
    box = component(demo, "compare-strength")
    assert isinstance(box, gr.Dropdown) and box.allow_custom_value
    assert [value for _, value in box.choices] == [a for a in DEFAULT_ALPHAS if a != 0]
    assert box.value == 0.5
    assert offered(demo, "0, 2, 4") == ([2.0, 4.0], 2.0)


def test_a_half_typed_list_leaves_the_offer_as_it_was(demo):
    block_fn = handler_of(demo, "eval-strengths", "change")
    assert list(block_fn.fn("0, 0.").values()) == [gr.skip()]
    assert list(block_fn.fn("0, x").values()) == [gr.skip()]


def test_a_typed_strength_is_used_as_a_number(demo, ctx, examples_file, monkeypatch):
    session = builder_with_vector(ctx, examples_file)
    monkeypatch.setattr(
        events, "current_user", lambda request: SignedInUser("bob", "builder", session.owner)
    )
    block_fn = handler_of(demo, "compare-button", "click")
    question = session.heldout_rows[0].prompt
    result = by_id(block_fn, block_fn.fn(session, question, "0.3", "", 8))
    assert result["compare-status"].startswith("Strength 0.3: both answers")
    (event,) = ctx.store.audit_events(action="generate")
    assert event.details["strength"] == 0.3
    refused = by_id(block_fn, block_fn.fn(session, question, "strong", "", 8))
    assert "is not a number" in refused["compare-status"]


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ("Lars.", 'An answer counts as right when it names "lars"; capitals, punctuation'),
        ("1,200", "An answer counts as right when its number is 1200: the number after"),
        ("b", "An answer counts as right when the option it picks is B (a capital or"),
    ],
)
def test_the_correct_answer_line_says_what_counts_as_right(answer, words):
    text = compare.how_marked(answer)
    assert text.startswith(words)
    assert "compared in the form" not in text


def test_a_reopened_evaluation_brings_its_vectors_strengths(demo, ctx, examples_file, monkeypatch):
    from dashboard.views.build import strengths_to_test
    from tests.app.support import attach_evaluation, login

    session = builder_with_vector(ctx, examples_file)
    attach_evaluation(ctx, session)
    monkeypatch.setattr(
        events, "current_user", lambda request: SignedInUser("bob", "builder", session.owner)
    )
    again = login(ctx, "bob")  # a new sign-in, the defaults on screen
    reopen = handler_of(demo, "compare-earlier", "input")
    shown = by_id(reopen, reopen.fn(again, session.evaluation_id))
    layers = shown["compare-layers"]
    assert shown["eval-strengths"] == strengths_to_test(session.vector, layers)
    assert shown["eval-strengths"] != "0, 0.25, 0.5, 1"  # the vector's own, not the defaults
