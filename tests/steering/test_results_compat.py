"""Typed results read evaluations stored before they existed, and write a superset of that JSON.

The two fixtures were written once by the pre-typed engine (``EvaluationReport.to_dict`` of
commit c021142, tiny Llama, arithmetic rows): a held-out evaluation with side effects and a
generated-answer evaluation with samples.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from steering.evaluation.results import (
    CLI_KEYS,
    EvaluationReport,
    StrengthResult,
    Verdict,
)

FIXTURES = Path(__file__).parent / "fixtures"


def old(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["old_format_report.json", "old_format_generate.json"])
def test_reads_old_reports_and_keeps_every_old_key(name):
    data = old(name)
    report = EvaluationReport.from_dict(data)
    again = report.to_dict()
    assert EvaluationReport.from_dict(again) == report
    assert set(data) <= set(again)
    for before, after in zip(data["results"], again["results"], strict=True):
        assert set(CLI_KEYS) <= set(after)
        for key, value in before.items():
            assert after[key] == pytest.approx(value), key
    for key in ("model", "rows", "mode", "verdict", "chosen_alpha", "chosen_on", "vector"):
        assert again[key] == data[key], key
    assert again["samples"] == data["samples"]


def test_old_heldout_report_values():
    data = old("old_format_report.json")
    report = EvaluationReport.from_dict(data)
    # No outcome was stored then: it is read back from the verdict sentence.
    assert "outcome" not in data
    assert report.outcome is Verdict.NO_STRENGTH_CHOSEN
    assert report.strengths == (0.0, 0.5, 2.0)
    assert report.baseline == StrengthResult.from_dict(data["results"][0])
    assert report.baseline.correct == 2 and report.baseline.n == 6
    assert [r.alpha for r in report.build_results] == [0.0, 0.5, 2.0]
    # Side effects were keyed "0.0", "0.5", "2.0" then; now by float, written as "0", "0.5", "2".
    effects = report.side_effects
    assert effects.perplexity[2.0] == data["side_effects"]["perplexity"]["2.0"]
    assert effects.changed_share[0.5] == data["side_effects"]["changed_share"]["0.5"]
    assert len(effects.answers) == len(data["side_effects"]["answers"]) == 10
    assert report.results[1].perplexity == data["results"][1]["perplexity"]
    written = report.to_dict()["side_effects"]
    assert set(written["perplexity"]) == {"0", "0.5", "2"}


def test_old_generate_report_keeps_the_samples_texts():
    data = old("old_format_generate.json")
    report = EvaluationReport.from_dict(data)
    assert report.mode == "generate" and report.outcome is Verdict.TOO_FEW_QUESTIONS
    assert len(report.samples) == 4
    first = data["samples"][0]
    assert report.samples[0].steered_text == first["steered_text"]
    assert report.samples[0].unsteered is None  # nothing could be extracted: null, not "None"
    assert report.build_results is None and "build_results" not in report.to_dict()


def test_each_verdict_maps_to_one_recommendation():
    from steering.evaluation.results import Recommendation
    from storage.workflow import DEPLOY_OUTCOMES

    assert Verdict.IMPROVES.recommendation is Recommendation.DEPLOY
    assert Verdict.WORSE.recommendation is Recommendation.DO_NOT_DEPLOY
    assert Verdict.NO_STRENGTH_CHOSEN.recommendation is Recommendation.DO_NOT_DEPLOY
    assert Verdict.NO_EVIDENCE.recommendation is Recommendation.NOT_ENOUGH_EVIDENCE
    assert Verdict.TOO_FEW_QUESTIONS.recommendation is Recommendation.NOT_ENOUGH_EVIDENCE
    # The store flags a submission by the same rule: only "deploy" outcomes are not flagged.
    deploy = {v.value for v in Verdict if v.recommendation is Recommendation.DEPLOY}
    assert deploy == set(DEPLOY_OUTCOMES)


def test_old_samples_are_read_at_the_chosen_strength_and_new_fields_round_trip():
    data = old("old_format_generate.json")
    report = EvaluationReport.from_dict(data)
    assert report.samples_at(1.0) == report.samples  # the chosen strength, as stored
    # Older still: samples that name no strength were taken at the chosen one.
    nameless = [{k: v for k, v in s.items() if k != "alpha"} for s in data["samples"]]
    read = EvaluationReport.from_dict({**data, "samples": nameless, "chosen_alpha": 2.0})
    assert {s.alpha for s in read.samples} == {2.0}
    assert all(s.steered_correct is None for s in report.samples)  # not recorded then
    assert report.chance is None and "chance" not in report.to_dict()
    marked = replace(report.samples[0], steered_correct=True, steered_cut=True)
    again = EvaluationReport.from_dict(
        {**report.to_dict(), "samples": [marked.to_dict()], "chance": 0.25, "options": [4, 4]}
    )
    assert again.samples == (marked,) and again.chance == 0.25 and again.options == (4, 4)
