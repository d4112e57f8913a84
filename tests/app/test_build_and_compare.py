"""Tabs 1-4 without a browser: model card, examples, build, compare, evaluate, submit."""

from __future__ import annotations

import pytest

from dashboard import charts
from dashboard.common import KNOWN_ERRORS, UserError
from dashboard.tabs import build, compare, examples, model
from dashboard.views import build as build_views
from dashboard.views.common import md
from steering.build import EFFECT_SIZE_RULE, MIDDLE_LAYER_RULE, LayerRecommendation, LayerScore
from steering.engine.generate import side_by_side
from steering.evaluation.results import EvaluationReport
from steering.layers import layers_text
from steering.vectors import ControlVector
from tests.app.support import (
    PASSWORD,
    attach_evaluation,
    builder_with_vector,
    csv_text,
    login,
    rows,
)

# ------------------------------------------------------------------------------ model


def test_model_card_describes_the_loaded_model(ctx):
    session = login(ctx, "bob", PASSWORD)
    card = dict(model.load_model_card(ctx, session, "tiny").values.tolist())
    assert card["Layers (decoder blocks)"] == "4"
    assert card["Hidden size"] == "32"
    assert card["Device"] == "cpu"
    assert card["Chat template"] == "yes"
    assert ctx.store.audit_events(action="model.load")[-1].actor == "bob"


def test_unreachable_model_gives_a_message_not_a_traceback(ctx, tmp_path):
    session = login(ctx, "bob", PASSWORD)
    with pytest.raises(KNOWN_ERRORS) as raised:
        model.load_model_card(ctx, session, str(tmp_path / "missing.gguf"))
    assert "No GGUF file" in str(raised.value)


def test_switching_model_forgets_the_vector_built_on_the_old_one(ctx, examples_file):
    session = builder_with_vector(ctx, examples_file)
    attach_evaluation(ctx, session)
    ctx.models["other"] = ctx.models["tiny"]
    model.load_model_card(ctx, session, "other")
    assert (session.vector, session.vector_id, session.recommended) == (None, None, [])
    assert (session.evaluation, session.evaluation_id) == (None, None)


# ------------------------------------------------------------------------------ examples


def test_upload_previews_splits_and_stores(ctx, examples_file):
    session = login(ctx, "bob", PASSWORD)
    view = examples.upload_examples(ctx, session, examples_file)
    assert view.preview["row"].tolist() == list(range(2, 14)) and view.errors.empty
    assert "8 build rows" in view.summary and "4 held-out rows" in view.summary
    assert view.heldout_prompts == [e.prompt for e in session.heldout_rows]
    assert len(session.build_rows) == 8
    stored = ctx.store.list_example_sets()
    assert [(s.row_count, s.created_by) for s in stored] == [(12, "bob")]
    assert stored[0].content_hash == session.example_set.content_hash


def test_invalid_upload_lists_row_errors_and_stores_nothing(ctx, tmp_path):
    table = rows(4)
    table[1]["positive"] = ""
    table[3]["prompt"] = ""
    path = tmp_path / "bad.csv"
    path.write_text(csv_text(table), encoding="utf-8")
    session = login(ctx, "bob", PASSWORD)
    view = examples.upload_examples(ctx, session, str(path))
    # Rows as a spreadsheet shows the file: the header is row 1, table[1] is row 3.
    assert view.errors[["row", "column"]].values.tolist() == [[3, "positive"], [5, "prompt"]]
    assert "2 problems found. Nothing was stored" in view.summary
    assert ctx.store.list_example_sets() == []
    assert session.example_set is None


def test_bundled_set_is_offered_and_used(ctx, examples_file, monkeypatch):
    monkeypatch.setattr(examples, "bundled_example_sets", lambda: {"arithmetic": examples_file})
    assert examples.bundled_sets() == ["arithmetic"]
    session = login(ctx, "bob", PASSWORD)
    view = examples.pick_bundled(ctx, session, "arithmetic")
    assert len(view.preview) == 12
    assert ctx.store.list_example_sets()[0].name == "arithmetic"
    with pytest.raises(UserError, match="bundled sets: arithmetic"):
        examples.pick_bundled(ctx, session, "nope")


def test_the_shipped_sets_are_offered():
    assert "arithmetic" in examples.bundled_sets()


# ------------------------------------------------------------------------------ build


def test_build_stores_the_vector_with_lineage(ctx, examples_file):
    session = builder_with_vector(ctx, examples_file)
    assert session.vector.layers == [0, 1, 2, 3]
    assert session.recommended and 0 not in session.recommended
    stored = ctx.store.get_vector(session.vector_id)
    assert stored.created_by == "bob"
    assert stored.lineage["dataset_hash"] == session.example_set.content_hash
    assert stored.lineage["created_by"] == "bob"
    assert stored.lineage["heldout_rows_scored"] == 4
    assert stored.example_set_id == session.example_set_id
    file = ControlVector.from_bytes(ctx.store.read_vector_file(session.vector_id))
    assert file.content_hash() == session.vector.content_hash()


def test_compare_is_offered_strengths_from_the_vectors_own_numbers(ctx, examples_file):
    # 2.5, 5 and 10 % of the residual stream the vector was built on, at the layers to steer:
    # recomputed here from the stored lineage, not taken from the function under test.
    session = builder_with_vector(ctx, examples_file)
    meta = session.vector.metadata
    ratio = meta["residual_norms"]["2"] / meta["norms"]["2"]
    # Two significant digits, written the way the box shows numbers (1.3, 13, 1200).
    expected = ", ".join(f"{float(f'{s * ratio:.2g}'):g}" for s in (0, 0.025, 0.05, 0.1))
    assert build_views.strengths_to_test(session.vector, "2") == expected
    assert build_views.strengths_to_test(session.vector, "2") != "0, 0.25, 0.5, 1"
    # A vector without the build's numbers (an imported one) gets the plain defaults.
    session.vector = ControlVector(dict(session.vector.directions), {"source": "imported"})
    assert build_views.strengths_to_test(session.vector, "2") == "0, 0.25, 0.5, 1"


def test_build_chart_plots_effect_sizes_and_says_which_rule_picked_the_layers(
    ctx, examples_file, monkeypatch
):
    scored = {}
    real_build_vector = build.build_vector

    def keep_result(*args, **kwargs):
        scored["result"] = real_build_vector(*args, **kwargs)
        return scored["result"]

    monkeypatch.setattr(build, "build_vector", keep_result)
    session = login(ctx, "bob", PASSWORD)
    examples.upload_examples(ctx, session, examples_file)
    view = build.build(ctx, session)
    result = scored["result"]
    bars = view.figure.data[0]
    assert list(bars.x) == [0, 1, 2, 3]
    # The bars are the effect sizes (which do not saturate), with one standard error as whiskers;
    # the share of pairs told apart stays in the hover.
    assert list(bars.y) == [s.effect_size for s in result.scores]
    assert list(bars.error_y.array) == [s.effect_size_error for s in result.scores]
    assert [row[0] for row in bars.customdata] == [s.separation for s in result.scores]
    colours = dict(zip(bars.x, bars.marker.color, strict=True))
    assert {i for i, c in colours.items() if c == "#ea580c"} == set(session.recommended)
    assert session.recommended == result.recommendation.layers
    assert view.layers_text == layers_text(session.recommended)
    # The screen names the layers, the rule that picked them and its reason.
    rec = result.recommendation
    assert rec.rule in (EFFECT_SIZE_RULE, MIDDLE_LAYER_RULE)
    assert f"**Recommended layers: {view.layers_text}** — " in view.summary
    assert f"Picked by the {rec.rule} rule." in view.summary
    assert md(rec.reason) in view.summary


def test_the_rule_and_its_reason_are_shown_in_words():
    recommendation = LayerRecommendation(
        [2],
        MIDDLE_LAYER_RULE,
        "The layers cannot be told apart on these examples: the best, 3, separates good from "
        "flawed answers with effect size 1.10 against a median of 1.00.",
    )
    assert build_views.recommendation_markdown(recommendation) == (
        "**Recommended layers: 2** — The layers cannot be told apart on these examples: the "
        "best, 3, separates good from flawed answers with effect size 1.10 against a median of "
        "1.00. Picked by the middle layer rule."
    )


def test_layer_chart_marks_recommended_layers_from_given_scores():
    scores = [
        LayerScore(1, separation=1.0, effect_size=0.4, pairs=20),
        LayerScore(2, separation=1.0, effect_size=2.5, pairs=20),
        LayerScore(3, separation=0.9, effect_size=1.0, pairs=20),
    ]
    bars = charts.layer_chart(scores, [2]).data[0]
    assert list(bars.y) == [0.4, 2.5, 1.0]  # saturated separations, distinct effect sizes
    # sqrt(1/n + d^2/2n) with n = 20
    assert bars.error_y.array[1] == pytest.approx(((1 + 2.5**2 / 2) / 20) ** 0.5)
    assert list(bars.marker.color) == ["#2563eb", "#ea580c", "#2563eb"]


def test_build_needs_an_example_set(ctx):
    session = login(ctx, "bob", PASSWORD)
    with pytest.raises(UserError, match="example set first"):
        build.build(ctx, session)


def test_a_set_without_negatives_builds_with_random_negatives(ctx, tmp_path):
    path = tmp_path / "no-negatives.csv"
    path.write_text(csv_text(rows(negatives=False)), encoding="utf-8")
    session = login(ctx, "bob", PASSWORD)
    examples.upload_examples(ctx, session, str(path))
    assert not session.example_set.has_negatives
    with pytest.raises(UserError, match="choose 'random' negatives"):
        build.build(ctx, session, negatives="column")
    assert ctx.store.audit_events(action="vector.add") == []
    view = build.build(ctx, session, negatives="random", layers="1-2")
    assert "random negatives" in view.summary
    assert session.vector.layers == [1, 2]
    assert ctx.store.get_vector(session.vector_id).lineage["negatives"] == "random"


# ------------------------------------------------------------------------------ compare


def test_compare_gives_the_engines_two_answers_and_audits(ctx, examples_file):
    session = builder_with_vector(ctx, examples_file)
    prompt = "What is 2 plus 3?"
    plain, steered = compare.compare(ctx, session, compare.AnswerRequest(prompt, 4.0, "1-2", 6))
    expected = side_by_side(
        ctx.models["tiny"], prompt, session.vector, 4.0, layers=[1, 2], max_new_tokens=6
    )
    assert (plain, steered) == (expected["unsteered"], expected["steered"])
    event = ctx.store.audit_events(action="generate")[-1]
    assert event.actor == "bob" and event.details["layers"] == [1, 2]
    assert event.details["strength"] == 4.0
    with pytest.raises(UserError, match="Type a question"):
        compare.compare(ctx, session, compare.AnswerRequest("  ", 1.0))


def test_compare_refuses_layers_the_vector_lacks(ctx, examples_file):
    session = login(ctx, "bob", PASSWORD)
    examples.upload_examples(ctx, session, examples_file)
    build.build(ctx, session, layers="2-3")
    with pytest.raises(UserError, match=r"without layer\(s\) \[1\]; it covers 2-3"):
        compare.compare(ctx, session, compare.AnswerRequest("What is 1 plus 1?", 1.0, "1-2"))


def test_compare_needs_a_vector(ctx):
    session = login(ctx, "bob", PASSWORD)
    with pytest.raises(UserError, match="Build a vector first"):
        compare.compare(ctx, session, compare.AnswerRequest("What is 1 plus 1?", 1.0))


def test_evaluation_is_stored_typed_and_shown(ctx, examples_file):
    session = builder_with_vector(ctx, examples_file)
    view = compare.evaluate(ctx, session, "0, 1", "1-2", 4, side_effects=False)
    stored = ctx.store.get_evaluation(session.evaluation_id)
    assert stored.created_by == "bob" and stored.vector_id == session.vector_id
    assert stored.config["strengths"] == [0.0, 1.0] and stored.config["layers"] == [1, 2]
    assert stored.config["heldout_rows"] == 4
    report = EvaluationReport.from_dict(stored.results)
    assert [r.alpha for r in report.results] == [0.0, 1.0]
    assert isinstance(session.evaluation, EvaluationReport)
    assert session.evaluation_layers == [1, 2]
    # What the tab shows is what was stored.
    assert view.verdict == report.verdict == session.evaluation.verdict
    assert view.chosen_alpha == report.chosen_alpha
    assert view.table["strength"].tolist() == ["0", "1"]
    assert view.table["questions"].tolist() == ["4", "4"]
    assert view.table["correct"].tolist() == [str(r.correct) for r in report.results]
    assert list(view.figure.data[1].y) == [r.accuracy for r in report.results]


def test_strengths_that_are_not_numbers_are_refused(ctx, examples_file):
    session = builder_with_vector(ctx, examples_file)
    with pytest.raises(KNOWN_ERRORS, match="'lots' is not a number"):
        compare.evaluate(ctx, session, "0, lots")
    assert ctx.store.audit_events(action="evaluation.add") == []


# ------------------------------------------------------------------------------ submit


def test_submit_needs_an_evaluation(ctx, examples_file):
    session = builder_with_vector(ctx, examples_file)
    with pytest.raises(UserError, match="evaluation first"):
        compare.submit(ctx, session)


def test_submit_freezes_the_chosen_strength_and_layers(ctx, examples_file):
    session = builder_with_vector(ctx, examples_file)
    report = attach_evaluation(ctx, session)
    message = compare.submit(ctx, session, reason="A pilot; we accept the risk.")
    sub = ctx.store.list_submissions()[-1]
    assert (sub.status, sub.strength, list(sub.layers)) == (
        "submitted",
        report.chosen_alpha,
        session.recommended,
    )
    assert sub.evaluation_id == session.evaluation_id
    assert message.startswith(f"Submission #{sub.id} sent for review")


def test_strength_zero_is_not_submitted(ctx, examples_file):
    builder = builder_with_vector(ctx, examples_file)
    attach_evaluation(ctx, builder)
    with pytest.raises(UserError, match="Strength 0 means no steering"):
        compare.submit(ctx, builder, strength=0.0)
    assert ctx.store.list_submissions() == []
