"""Long steps announce themselves: estimates before a build or an evaluation, one progress bar
naming its phase with the time left, and one heavy job at a time per user (builds included)."""

from __future__ import annotations

import math

import pytest

from dashboard import estimates
from dashboard.common import UserError, one_job
from dashboard.tabs import build, compare, examples
from steering.engine.timing import Pace, Work, reading_work
from tests.app.support import PASSWORD, builder_with_vector, login


def test_a_second_build_of_the_same_user_is_refused_with_a_waiting_message(ctx, examples_file):
    session = login(ctx, "bob", PASSWORD)
    examples.upload_examples(ctx, session, examples_file)
    with one_job("bob", "evaluation"):
        with pytest.raises(UserError) as refused:
            build.build(ctx, session, layers="1-2")
    assert str(refused.value).startswith(
        "Waiting for your previous job to finish: your evaluation started "
    )
    assert str(refused.value).endswith(
        "This build was not started; run it again when the other is done."
    )
    assert ctx.store.audit_events(action="vector.add") == []
    build.build(ctx, session, layers="1-2")  # free again once the other finished
    assert len(ctx.store.audit_events(action="vector.add")) == 1


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (3, "a few seconds"),
        (24, "about 20 seconds"),
        (41, "about 40 seconds"),
        (70, "about a minute"),
        (119, "about 2 minutes"),
        (198, "about 3 minutes"),
        (5000, "about an hour"),
        (9000, "about 2 hours"),
    ],
)
def test_durations_in_words(seconds, words):
    assert estimates.duration_words(seconds) == words


def test_work_is_priced_at_the_pace():
    pace = Pace(per_pass=0.5, per_token=0.01)
    assert pace.seconds(Work(3, 200)) == pytest.approx(3 * 0.5 + 200 * 0.01)
    assert (Work(1, 10) + Work(2, 5)) * 2 == Work(6, 30)


def test_reading_work_counts_batches_and_tokens(ctx):
    loaded = ctx.model("tiny")
    texts = [("What is 2 plus 3?", "5")] * 40
    # The byte tokenizer: one token per byte of the text as the chat template lays it out.
    from steering.engine.text import format_text

    tokens = len(loaded.tokenizer(format_text(loaded.tokenizer, *texts[0]))["input_ids"])
    work = reading_work(loaded, texts, batch_size=16)
    assert work.passes == math.ceil(40 / 16)
    assert work.tokens == pytest.approx(40 * tokens * 1.2)  # padding allowance


def test_the_estimate_follows_the_models_recent_work(ctx, examples_file):
    session = login(ctx, "bob", PASSWORD)
    examples.upload_examples(ctx, session, examples_file)
    loaded = ctx.model("tiny")
    assert estimates.correction(loaded, "build") == 1.0  # no build on this model yet
    first = build.estimate_build(ctx, session)
    assert set(first.phases) == {estimates.BUILD_READING, estimates.BUILD_SCORING}
    # The last build took three times the estimate: the next estimate says three times as long.
    estimates.remember(loaded, "build", first.seconds, 3 * first.seconds)
    assert build.estimate_build(ctx, session).seconds == pytest.approx(3 * first.seconds)
    # An evaluation is not a build: its estimate is unchanged by that.
    assert estimates.correction(loaded, "evaluation") == 1.0
    # Far-off jobs move it at most five times either way.
    estimates.remember(loaded, "build", first.seconds, 100 * first.seconds)
    assert estimates.correction(loaded, "build") == 5.0


def test_announcements_name_the_rows_and_the_time(ctx, examples_file):
    session = builder_with_vector(ctx, examples_file)
    text = build.announce_build(ctx, session)
    assert text.startswith("**Building the vector: this should take ")
    assert "8 build rows, then 4 held-out rows" in text
    text = compare.announce_evaluation(ctx, session, "0, 0.5, 1", 3, side_effects=True)
    assert "3 strengths on 3 build questions" in text and "3 held-out questions" in text
    assert "side effects" in text
    phases = compare.estimate_evaluation(ctx, session, "0.5", 3, side_effects=False).phases
    assert list(phases) == [estimates.EVAL_BUILD, estimates.EVAL_HELDOUT]


def test_one_bar_names_each_phase_and_the_time_left():
    shown: list[tuple[int, int, str]] = []
    now = [0.0]
    expected = estimates.Estimate(
        "evaluation",
        {
            estimates.EVAL_BUILD: 40.0,
            estimates.EVAL_HELDOUT: 40.0,
            estimates.EVAL_SIDE_EFFECTS: 60.0,
        },
    )
    bounds = estimates.cumulative({estimates.EVAL_BUILD: 10, estimates.EVAL_HELDOUT: 10})
    assert bounds == [(estimates.EVAL_BUILD, 10), (estimates.EVAL_HELDOUT, 20)]
    update = estimates.phased_progress(
        lambda d, t, what: shown.append((d, t, what)), expected, bounds, clock=lambda: now[0]
    )
    update(0, 20)  # nothing done yet: the estimate, 140 s
    now[0] = 50.0
    update(10, 20)  # half the counted work in 50 s: 50 s more, then 60 s of side effects
    now[0] = 100.0
    update(20, 20)  # counted work done: side effects, their estimate
    now[0] = 130.0
    update(20, 20)
    assert [what for *_, what in shown] == [
        "Build questions (choosing the strength) · about 2 minutes left",
        "Held-out questions · about 2 minutes left",
        "Side effects on neutral text · about a minute left",
        "Side effects on neutral text · about 30 seconds left",
    ]
