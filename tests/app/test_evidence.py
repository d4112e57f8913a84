"""The evidence a manager and a reviewer read: recommendation, chart yardsticks, samples, side
effects, the example set, lineage in words; and Compare's yardstick for one question.

Expected texts and numbers are worked out here from the report's own fields.
"""

from __future__ import annotations

import dataclasses

from dashboard.tabs import compare
from dashboard.views.compare import (
    evaluation_view,
    example_set_markdown,
    recommendation_markdown,
    samples_markdown,
    side_effects_markdown,
)
from dashboard.views.review import lineage_markdown
from steering.engine.generate import Answer
from steering.evaluation.results import NeutralAnswer, Sample, SideEffects, Verdict
from tests.app.support import builder_with_vector, sample_report


def test_the_recommendation_comes_first_with_the_number_behind_it():
    report = sample_report()  # 7 of 10 at the chosen 0.5, 5 of 10 without; p = 0.25
    line = recommendation_markdown(report)
    assert line == (
        "**Recommendation: not enough evidence.** At strength 0.5, the one the evaluation chose, "
        "the model answered 7 of 10 held-out questions (70%) correctly, against 5 of 10 "
        "held-out questions (50%) without the vector (a difference this large arises by chance "
        "with probability 0.25)."
    )
    improves = dataclasses.replace(report, outcome=Verdict.IMPROVES)
    assert recommendation_markdown(improves).startswith("**Recommendation: deploy.**")
    worse = dataclasses.replace(report, outcome=Verdict.WORSE)
    assert recommendation_markdown(worse).startswith("**Recommendation: do not deploy.**")


def test_below_guessing_is_pointed_out():
    # Three options per question: guessing gets 1/3 right; 5 of 10 is above it, 0.2 below.
    report = dataclasses.replace(sample_report(), chance=1 / 3, options=(3, 3))
    assert "below guessing" not in recommendation_markdown(report)
    low = dataclasses.replace(report.results[1], accuracy=0.2, correct=2)
    worse = dataclasses.replace(report, results=(report.results[0], low), outcome=Verdict.WORSE)
    line = recommendation_markdown(worse)
    assert "2 of 10 held-out questions (20%)" in line
    assert line.endswith("That is below guessing (33% right by picking at random).")


def test_nothing_chosen_says_so_with_the_unsteered_number():
    report = dataclasses.replace(
        sample_report(), chosen_alpha=0.0, outcome=Verdict.NO_STRENGTH_CHOSEN
    )
    line = recommendation_markdown(report, submitted=0.5)
    assert line.startswith("**Recommendation: do not deploy.** No strength did better")
    assert "without the vector it answered 5 of 10 held-out questions (50%) correctly" in line
    assert line.endswith("The submitted strength 0.5 answered 7 of 10 held-out questions (70%) "
                         "correctly.")  # fmt: skip


def test_the_chart_has_guessing_the_unsteered_line_and_both_strengths():
    report = dataclasses.replace(sample_report(), chance=7 / 18)
    figure = evaluation_view(report, submitted=1.0).figure
    named = {trace.name: trace for trace in figure.data}
    guessing = named["guessing (39%)"]
    assert list(guessing.y) == [7 / 18, 7 / 18]  # the chance line, across the strengths
    assert list(guessing.x) == [0.0, 0.5]
    assert list(named["without the vector (50%)"].y) == [0.5, 0.5]
    assert list(named["submitted strength 1"].x) == [1.0, 1.0]
    assert list(named["chosen by the evaluation 0.5"].x) == [0.5, 0.5]
    # Submitted = chosen: one mark only.
    same = {t.name for t in evaluation_view(report, submitted=0.5).figure.data}
    assert "submitted strength 0.5" in same
    assert not any(name.startswith("chosen by") for name in same)


def test_samples_are_shown_marked_also_when_nothing_changed():
    unchanged = Sample(4, "What is 1 plus 1?", "2", "2", "2", 0.5, None, None, True, True)
    report = dataclasses.replace(sample_report(), samples=(unchanged,))
    text = evaluation_view(report).samples
    assert "the vector changed none of these answers" in text
    assert text.splitlines()[-1] == "| 4 | What is 1 plus 1? | 2 | ✓ right: 2 | ✓ right: 2 |"


def test_generated_answers_cut_by_the_token_limit_say_so():
    cut = Sample(
        5, "What is 3 plus 4?", "7", None, "7", 0.5, "Let me think about", "The answer is 7",
        False, True, steered_cut=False, unsteered_cut=True,
    )  # fmt: skip
    text = samples_markdown(dataclasses.replace(sample_report(), samples=(cut,)), 0.5)
    without, with_vector = text.splitlines()[-1].split(" | ")[3:5]
    assert (
        without
        == "✗ wrong: (no answer found) — “Let me think about” (… stopped at the token limit)"
    )
    assert with_vector.startswith("✓ right: 7 — “The answer is 7”")
    assert "stopped" not in with_vector


def test_side_effects_in_words_with_the_prompts_whose_answer_changed():
    answers = tuple(
        NeutralAnswer(f"Everyday prompt {i}?", {0.0: "same", 0.5: "same" if i == 0 else f"new {i}"})
        for i in range(10)
    )
    side = SideEffects(perplexity={0.0: 10.0, 0.5: 12.5}, changed_share={0.5: 0.9}, answers=answers)
    text = side_effects_markdown(side, 0.5)
    assert text.startswith(
        "At strength 0.5 the vector changed **9 of 10** answers to everyday prompts"
    )
    assert "Ordinary text surprises the model 25% more than without the vector" in text
    assert "Below, 2 of them:" in text
    assert "*Everyday prompt 1?*" in text and "at strength 0.5: new 1" in text
    assert "Everyday prompt 3?" not in text  # two quoted, not all nine
    assert side_effects_markdown(SideEffects(), 0.5).endswith("were not measured in this "
                                                                    "evaluation.")  # fmt: skip


def test_the_example_set_in_one_paragraph():
    report = dataclasses.replace(sample_report(), chance=1 / 3, options=(3, 3))
    text = example_set_markdown(
        report, {"build_rows": 80, "heldout_rows": 80}, {"dataset_name": "logic-160"}
    )
    assert text == (
        "**Example set** “logic-160”: 160 rows used, 80 to choose the strength and 80 held out "
        "to report on (the vector never saw those). Each question has 3 answer options, so "
        "guessing gets 33% right."
    )


def test_lineage_in_words_with_the_hashes_apart():
    lineage = {
        "model_name": "SmolLM2-135M-Instruct",
        "model_fingerprint": "f" * 64,
        "method": "mean_diff",
        "method_paper_name": "R-C",
        "negatives": "column",
        "layers": list(range(30)),
        "split_seed": 0,
        "dataset_hash": "d" * 64,
    }
    words, details = lineage_markdown(lineage, (6, 7))
    assert "steered on layers 6-7" in words and "covers layers 0-29" in words
    for raw in ("method_paper_name", "model_fingerprint", "split_seed", "[0"):
        assert raw not in words
    assert ["model fingerprint", "f" * 64] in details
    assert ["seed of the build / held-out split", "0"] in details


def test_compare_marks_both_answers_against_the_correct_one(ctx, examples_file):
    session = builder_with_vector(ctx, examples_file)
    question = session.heldout_rows[0]
    right = Answer(f"The answer is {question.answer}.", cut=False, limit=48)
    wrong = Answer("The answer is 1000 and then some more words", cut=True, limit=48)
    text = compare.yardstick(session, question.prompt, {"unsteered": wrong, "steered": right})
    assert text.splitlines() == [
        f"**Correct answer: {question.answer}** (row {question.row}, a held-out question).",
        "- Without the vector: **✗ wrong** (answer read: 1000) (stopped at the token limit "
        "before finishing)",
        f"- With the vector: **✓ right** (answer read: {question.answer})",
        "",
        f"An answer counts as right when its number is {question.answer}: the number after "
        '"the answer is" when it says so, else the last number it writes.',
    ]
    assert compare.shown_answer(wrong) == (
        "The answer is 1000 and then some more words … (stopped at the 48-token limit)"
    )
    assert compare.shown_answer(right) == right.text
    unknown = compare.yardstick(session, "Tell me a joke", {"unsteered": right, "steered": right})
    assert unknown.startswith("This question is not in the example set")


def test_compare_answers_on_the_model_know_their_cut(ctx, examples_file):
    session = builder_with_vector(ctx, examples_file)
    question = session.heldout_rows[0].prompt
    answers = compare.compare_answers(ctx, session, compare.AnswerRequest(question, 1.0, None, 4))
    texts = compare.compare(ctx, session, compare.AnswerRequest(question, 1.0, None, 4))
    assert (answers["unsteered"].text, answers["steered"].text) == texts
    for answer in answers.values():
        assert answer.limit == 4
        # The tiny random model never ends within 4 tokens: both stopped at the limit.
        assert answer.cut and compare.shown_answer(answer).endswith("4-token limit)")
    marks = compare.yardstick(session, question, answers)
    assert marks.startswith(f"**Correct answer: {session.heldout_rows[0].answer}**")


def test_a_submitted_strength_below_guessing_is_said_and_no_choice_is_not_marked():
    report = dataclasses.replace(
        sample_report(), chosen_alpha=0.0, outcome=Verdict.NO_STRENGTH_CHOSEN, chance=0.75
    )
    line = recommendation_markdown(report, submitted=0.5)
    # 7 of 10 (70%) at the submitted strength is below 75%.
    assert line.endswith("correctly. That is below guessing (75% right by picking at random).")
    names = {t.name for t in evaluation_view(report, submitted=0.5).figure.data}
    assert not any(name.startswith("chosen by") for name in names)  # none was chosen
