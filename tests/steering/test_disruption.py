"""A gain by disruption is named, on planted numbers: the one rule (``verdict.disruption_note``),
the verdict it changes, the recommendation and the stored report."""

from __future__ import annotations

import pandas as pd
import pytest

from steering.evaluation.results import EvaluationReport, Recommendation, StrengthResult, Verdict
from steering.evaluation.stats import Paired
from steering.evaluation.summary import summarise, table_verdict
from steering.evaluation.verdict import (
    COLLAPSE_SHARE,
    disruption_note,
    verdict_outcome,
    verdict_sentence,
)
from storage.workflow import against_evidence

NAMED = "The gain comes from disrupting the model, not from better reasoning"


def result(alpha, correct, mass_correct, mass_incorrect, n=100):
    return StrengthResult(
        alpha=alpha, accuracy=correct / n, accuracy_norm=None, ci_low=0.0, ci_high=1.0, kl=None,
        entropy_bits=None, mass_correct=mass_correct, mass_incorrect=mass_incorrect,
        mcnemar_p=None, n=n, correct=correct,
    )  # fmt: skip


BASE = result(0.0, 38, 0.069, 0.30)


def test_a_rise_with_the_correct_answers_probability_falling_is_named():
    # The IOI case of docs/results.md: +22 of 100 while P(correct) went from 0.069 to 0.000.
    note = disruption_note(BASE, result(2.0, 60, 0.0004, 0.25))
    assert note is not None and note.startswith(NAMED)
    assert "at strength 2" in note and "from 0.069 to 0.00040" in note
    assert "all the answer options" not in note  # 0.25 of 0.37 is not a collapse


def test_a_fall_between_tiny_probabilities_is_shown_in_figures_that_differ():
    # Gemma 3 270M on deduction: both probabilities round to 0.000 at three decimals.
    tiny = result(0.0, 10, 1.2e-5, 0.002)
    note = disruption_note(tiny, result(1.0, 22, 3.4e-7, 0.00001))
    assert note is not None
    assert "correct answer fell from 0.000012 to 0.00000034" in note
    assert "together fell from 0.002 to 0.000010" in note
    vanished = disruption_note(tiny, result(1.0, 22, 1e-12, 0.0))
    assert vanished is not None and "fell from 0.000012 to less than 0.000000001" in vanished


def test_a_rise_with_the_correct_answers_probability_rising_is_not_named():
    assert disruption_note(BASE, result(0.5, 60, 0.12, 0.28)) is None
    assert disruption_note(BASE, result(0.5, 60, 0.069, 0.30)) is None  # equal is not a fall


def test_a_collapse_of_every_answers_probability_is_named_even_if_the_correct_one_rises():
    total = BASE.mass_correct + BASE.mass_incorrect
    steered = result(1.0, 55, 0.07, COLLAPSE_SHARE * total - 0.07 - 0.01)
    note = disruption_note(BASE, steered)
    assert note is not None and "all the answer options together fell from 0.369" in note
    assert "correct answer fell" not in note
    just_above = result(1.0, 55, 0.07, COLLAPSE_SHARE * total - 0.07 + 0.01)
    assert disruption_note(BASE, just_above) is None


def test_no_rise_or_no_figures_means_nothing_to_name():
    assert disruption_note(BASE, result(1.0, 38, 0.0, 0.0)) is None  # accuracy did not rise
    assert disruption_note(BASE, result(1.0, 30, 0.0, 0.0)) is None
    unmeasured = result(1.0, 60, None, None)
    assert disruption_note(BASE, unmeasured) is None
    assert disruption_note(result(0.0, 38, None, None), result(1.0, 60, 0.01, 0.01)) is None


def test_a_significant_gain_by_disruption_is_not_deploy():
    counts = Paired(n=100, base_correct=38, steered_correct=60, gained=24, lost=2)
    note = disruption_note(BASE, result(2.0, 60, 0.0004, 0.25))
    assert verdict_outcome(counts) is Verdict.IMPROVES  # without the rule
    outcome = verdict_outcome(counts, disrupted=True)
    assert outcome is Verdict.GAIN_BY_DISRUPTION
    assert outcome.recommendation is Recommendation.DO_NOT_DEPLOY
    text = verdict_sentence(2.0, counts, disruption=note)
    assert "60 of 100" in text and "probability less than 0.001" in text and NAMED in text
    assert "improve" not in text
    # The store flags a submission of it as going against the evidence.
    concern = against_evidence(2.0, {"chosen_alpha": 2.0, "outcome": outcome.value})
    assert concern is not None and "does not recommend deploying" in concern


def test_a_rise_that_could_be_chance_keeps_its_outcome_and_still_names_the_cause():
    counts = Paired(n=100, base_correct=38, steered_correct=44, gained=12, lost=6)
    note = disruption_note(BASE, result(2.0, 44, 0.01, 0.30))
    assert verdict_outcome(counts, disrupted=True) is Verdict.NO_EVIDENCE
    text = verdict_sentence(2.0, counts, disruption=note)
    assert "could be chance" in text and text.endswith(note)


def planted_table(steered_mass: float) -> pd.DataFrame:
    """40 questions: 10 right without the vector, 30 with it; P(correct) 0.3 without it."""
    records = []
    for q in range(40):
        for alpha, right, mass in ((0.0, q < 10, 0.3), (1.0, q < 30, steered_mass)):
            records.append(
                {"question": q, "alpha": alpha, "correct": right, "correct_norm": right,
                 "kl": 0.0, "entropy_bits": 1.0, "mass_correct": mass, "mass_incorrect": 0.2}
            )  # fmt: skip
    return pd.DataFrame.from_records(records)


@pytest.mark.parametrize(("mass", "outcome"), [(0.1, "gain_by_disruption"), (0.5, "improves")])
def test_the_verdict_of_an_evaluation_table_applies_the_rule(mass, outcome):
    table = planted_table(mass)
    results = summarise(table)
    sentence, verdict = table_verdict(
        table, 1.0, questions="held-out questions", tried=1, chosen_on="build", results=results
    )
    assert verdict.value == outcome
    assert (NAMED in sentence) is (outcome == "gain_by_disruption")
    # Without the results (as before the rule) the same table reads as a plain improvement.
    _, plain = table_verdict(table, 1.0, questions="held-out questions", tried=1, chosen_on="build")
    assert plain is Verdict.IMPROVES


def test_the_report_keeps_the_note_and_old_reports_have_none():
    note = disruption_note(BASE, result(2.0, 60, 0.0004, 0.25))
    report = EvaluationReport.from_dict(
        {"model": "m", "rows": 100, "results": [BASE.to_dict()], "verdict": f"x. {note}",
         "outcome": "gain_by_disruption", "chosen_alpha": 2.0, "disruption": note}
    )  # fmt: skip
    assert report.disruption == note and report.outcome is Verdict.GAIN_BY_DISRUPTION
    assert EvaluationReport.from_dict(report.to_dict()) == report
    old = {k: v for k, v in report.to_dict().items() if k != "disruption"}
    assert EvaluationReport.from_dict(old).disruption is None
    assert "disruption" not in EvaluationReport.from_dict(old).to_dict()
