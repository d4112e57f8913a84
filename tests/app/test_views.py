"""What the tabs and the report show, built from a real EvaluationReport's values."""

from __future__ import annotations

import datetime as dt

from dashboard import charts
from dashboard.views.common import md, number
from dashboard.views.compare import SIDE_COLUMNS, evaluation_view, results_table, side_effects_table
from dashboard.views.review import history_table
from steering.evaluation.results import EvaluationReport, SideEffects
from storage import StoredReview
from tests.app.support import VERDICT, sample_report


def test_results_table_labels_and_values_come_from_the_report():
    report = sample_report()
    table = results_table(report.results)
    assert list(table.columns) == [
        "strength",
        "accuracy",
        "95% low",
        "95% high",
        "correct",
        "questions",
        "p (vs no vector)",
        "KL (nats)",
        "entropy (bits)",
        "P(correct)",
        "P(incorrect)",
    ]
    assert "KL (bits)" not in table.columns  # KL is computed in nats
    assert table["KL (nats)"].tolist() == ["0", "0.0312"]  # 0.03125 rounded to 4 places
    assert table["strength"].tolist() == ["0", "0.5"]
    assert table["accuracy"].tolist() == ["0.5", "0.7"]
    assert table["p (vs no vector)"].tolist() == ["1", "0.25"]
    # Counts are whole numbers: "10", never "10.0".
    assert table["correct"].tolist() == ["5", "7"]
    assert table["questions"].tolist() == ["10", "10"]


def test_results_table_leaves_unmeasured_values_empty():
    stored = sample_report().to_dict()
    for row in stored["results"]:
        row["kl"] = None  # an evaluation that did not measure KL
    report = EvaluationReport.from_dict(stored)
    assert results_table(report.results)["KL (nats)"].tolist() == ["", ""]


def test_numbers_print_as_people_read_them():
    assert number(40) == "40"
    assert number(40.0) == "40"
    assert number(0.123456) == "0.1235"
    assert number(-0.00001) == "0"
    assert number(12.3456, digits=2) == "12.35"
    assert number(None) == ""


def test_evaluation_view_shows_the_reports_verdict_chart_and_samples():
    report = sample_report(sample_answer="<b>5</b>")
    view = evaluation_view(report)
    assert view.verdict == VERDICT
    assert view.chosen_alpha == 0.5
    band, line = view.figure.data[0], view.figure.data[1]
    assert list(line.x) == [0.0, 0.5] and list(line.y) == [0.5, 0.7]
    assert list(band.y) == [0.7634, 0.8922, 0.3968, 0.2366]  # high, then low reversed
    # One Markdown row per sample: row, question, correct answer, each answer marked.
    row = view.samples.splitlines()[-1]
    # Model text is Markdown-escaped: shown literally, never as HTML.
    assert row == "| 3 | What is 2 plus 1? | 3 | ✗ wrong: 4 | ✗ wrong: \\<b\\>5\\</b\\> |"
    assert "the vector changed 1 of these answers" in view.samples
    # The neutral prompt whose answer changed is quoted in the side effects, in words.
    assert "changed **1 of 1** answers to everyday prompts" in view.effects
    assert "Capital of France?" in view.effects and "P" in view.effects


def test_side_effects_table_one_row_per_strength_in_order():
    side = SideEffects(
        perplexity={1.0: 12.345, 0.0: 10.0, 0.5: 11.0},
        changed_share={0.0: 0.0, 0.5: 0.25, 1.0: 0.5},
    )
    table = side_effects_table(side)
    assert list(table.columns) == SIDE_COLUMNS
    assert table.values.tolist() == [["0", "10", "0%"], ["0.5", "11", "25%"], ["1", "12.35", "50%"]]
    assert side_effects_table(SideEffects()).empty


def test_evaluations_stored_before_the_typed_results_still_show():
    # The shape the dashboard stored before the types existed: no "outcome", strengths as "0.0".
    legacy = {
        "results": [
            {"alpha": 0.0, "accuracy": 0.5, "ci_low": 0.3, "ci_high": 0.7, "n": 10, "correct": 5},
            {"alpha": 1.0, "accuracy": 0.6, "ci_low": 0.3, "ci_high": 0.8, "n": 10, "correct": 6},
        ],
        "verdict": "At strength 1 the model answered 6 of 10; the difference could be chance.",
        "chosen_alpha": 1.0,
        "side_effects": {"perplexity": {"0.0": 10.0, "1.0": 11.5}, "changed_share": {}},
        "samples": [{"prompt": "What is 2 plus 1?", "steered": "3"}],
    }
    view = evaluation_view(EvaluationReport.from_dict(legacy))
    assert view.table["correct"].tolist() == ["5", "6"]
    assert view.table["KL (nats)"].tolist() == ["", ""]
    assert view.side_effects.values.tolist() == [["0", "10", ""], ["1", "11.5", ""]]
    # The old sample names no strength: it was taken at the chosen one, 1.
    assert view.focus == 1.0
    assert "| What is 2 plus 1? |" in view.samples and "3" in view.samples.splitlines()[-1]
    # No outcome stored: read from the sentence ("could be chance"): not enough evidence.
    assert view.headline.startswith("**Recommendation: not enough evidence.**")


def test_an_empty_evaluation_says_so():
    view = evaluation_view(EvaluationReport.from_dict({}))
    assert view.verdict == "" and view.table.empty
    assert view.samples == (
        "No strength other than 0 was evaluated, so there are no answers to compare."
    )
    assert view.headline.endswith("The evaluation has no results to show.")


def test_accuracy_chart_marks_baseline_and_chosen_strength():
    figure = charts.accuracy_chart(sample_report().results, 0.5)
    named = {trace.name: trace for trace in figure.data}
    assert list(named["chosen by the evaluation 0.5"].x) == [0.5, 0.5]  # vertical
    assert list(named["without the vector (50%)"].y) == [0.5, 0.5]  # horizontal
    assert not figure.layout.annotations  # names live in the legend: nothing overlaps


def test_history_in_words():
    when = dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC)
    review = StoredReview(id=1, submission_id=2, decision="approve", comment="ok", reviewer="rita",
                          created_at=when)  # fmt: skip
    assert history_table([review]).values.tolist() == [
        ["2026-01-02 03:04", "rita", "approve", "ok"]
    ]


def test_markdown_escape_of_user_text():
    assert md("<img src=x onerror=alert(1)>") == "\\<img src=x onerror=alert\\(1\\)\\>"
