"""The lab's deploy rule on side effects, on planted numbers: the one rule
(``verdict.side_effect_note``), the verdict and recommendation it changes, its precedence after
disruption, and the evaluations (held-out and same-rows) that apply it with the side effects they
measured."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from steering.data.examples import Example
from steering.evaluation import evaluate as evaluate_module
from steering.evaluation import heldout as heldout_module
from steering.evaluation import report as report_module
from steering.evaluation.evaluate import evaluate, evaluate_heldout
from steering.evaluation.results import (
    NeutralAnswer,
    Recommendation,
    SideEffects,
    StrengthResult,
    Verdict,
)
from steering.evaluation.stats import Paired
from steering.evaluation.summary import summarise, table_verdict
from steering.evaluation.verdict import (
    CHANGED_LIMIT,
    NOT_MEASURED,
    PERPLEXITY_LIMIT,
    disruption_note,
    side_effect_note,
    verdict_outcome,
    verdict_sentence,
)
from steering.vectors import ControlVector
from storage.workflow import against_evidence

# A significant held-out gain: +22 of 100, p < 0.001.
GAIN = Paired(n=100, base_correct=38, steered_correct=60, gained=24, lost=2)
DISRUPTED = "The gain comes from disrupting the model, not from better reasoning"


def effects(
    perplexity: float | None = 21.0, changed: int | None = 0, prompts: int = 229
) -> SideEffects:
    """Side effects at strengths 0 and 2: neutral perplexity 21 without the vector and
    ``perplexity`` with it; ``changed`` of ``prompts`` everyday answers different at 2."""
    answers = tuple(
        NeutralAnswer(f"prompt {i}", {0.0: "same", 2.0: "other" if i < (changed or 0) else "same"})
        for i in range(prompts)
    )
    return SideEffects(
        perplexity={} if perplexity is None else {0.0: 21.0, 2.0: perplexity},
        changed_share={} if changed is None else {0.0: 0.0, 2.0: (changed or 0) / prompts},
        answers=answers if changed is not None else (),
    )


def test_too_many_changed_answers_are_named_with_the_count_and_the_limit():
    note = side_effect_note(effects(changed=12), 2.0)
    assert note == (
        "At strength 2, the vector also changed 12 of 229 everyday answers (5.2 %), more than "
        "the 5 % the lab allows."
    )
    assert side_effect_note(effects(changed=40, prompts=200), 2.0) == (
        "At strength 2, the vector also changed 40 of 200 everyday answers (20 %), more than "
        "the 5 % the lab allows."
    )


def test_perplexity_beyond_the_limit_is_named_either_way():
    note = side_effect_note(effects(perplexity=38.0), 2.0)
    assert note == (
        "At strength 2, the vector also made neutral text 1.8 times less predictable "
        "(perplexity 21 -> 38, the lab allows 10 %)."
    )
    lower = side_effect_note(effects(perplexity=16.0), 2.0)
    assert lower is not None and "1.3 times more predictable (perplexity 21 -> 16" in lower


def test_both_limits_exceeded_are_named_in_one_sentence():
    note = side_effect_note(effects(perplexity=38.0, changed=12), 2.0)
    assert note == (
        "At strength 2, the vector also changed 12 of 229 everyday answers (5.2 %), more than "
        "the 5 % the lab allows, and made neutral text 1.8 times less predictable (perplexity "
        "21 -> 38, the lab allows 10 %)."
    )


def test_figures_at_or_within_the_limits_name_nothing():
    at_limits = SideEffects(
        perplexity={0.0: 20.0, 2.0: 20.0 * PERPLEXITY_LIMIT},
        changed_share={2.0: CHANGED_LIMIT},
    )
    assert side_effect_note(at_limits, 2.0) is None
    assert side_effect_note(SideEffects(perplexity={0.0: 20.0, 2.0: 18.0}), 2.0) is None  # -10 %
    assert side_effect_note(effects(perplexity=22.0, changed=11), 2.0) is None  # 4.8 %, +4.8 %
    # Just past each limit is over it.
    assert side_effect_note(SideEffects(perplexity={0.0: 20.0, 2.0: 22.1}), 2.0) is not None
    assert side_effect_note(SideEffects(perplexity={0.0: 20.0, 2.0: 17.9}), 2.0) is not None
    assert side_effect_note(SideEffects(changed_share={2.0: 0.051}), 2.0) is not None


def test_unmeasured_figures_and_strength_zero_name_nothing():
    assert side_effect_note(SideEffects(), 2.0) is None
    assert side_effect_note(effects(perplexity=38.0, changed=100), 0.0) is None
    assert side_effect_note(effects(perplexity=38.0, changed=100), 1.0) is None  # not measured at 1
    # Perplexity without strength 0's, or changed answers without the answers: what is there.
    assert side_effect_note(SideEffects(perplexity={2.0: 99.0}), 2.0) is None
    shares = side_effect_note(SideEffects(changed_share={2.0: 0.12}), 2.0)
    assert shares == (
        "At strength 2, the vector also changed 12 % of the everyday answers, more than the 5 % "
        "the lab allows."
    )


@pytest.mark.parametrize(
    ("side", "named"),
    [
        (effects(changed=12), "12 of 229 everyday answers"),
        (effects(perplexity=38.0), "perplexity 21 -> 38"),
    ],
)
def test_a_significant_gain_over_a_limit_is_not_deploy(side, named):
    note = side_effect_note(side, 2.0)
    assert note is not None and named in note
    outcome = verdict_outcome(GAIN, side_effects_over=True)
    assert outcome is Verdict.GAIN_WITH_SIDE_EFFECTS
    assert outcome.value == "gain_with_side_effects"
    assert outcome.recommendation is Recommendation.DO_NOT_DEPLOY
    text = verdict_sentence(2.0, GAIN, side_effects=side)
    assert text.startswith("At strength 2 the model answered 60 of 100 held-out questions")
    assert "probability less than 0.001" in text
    assert "more than the lab allows for deploying it" in text and named in text
    assert "improves" not in text
    # The store flags a submission of it as going against the evidence.
    concern = against_evidence(2.0, {"chosen_alpha": 2.0, "outcome": outcome.value})
    assert concern is not None and "does not recommend deploying" in concern


def test_a_significant_gain_within_the_limits_improves_and_is_deploy():
    within = effects(perplexity=22.0, changed=5)
    assert verdict_outcome(GAIN, side_effects_over=False) is Verdict.IMPROVES
    text = verdict_sentence(2.0, GAIN, side_effects=within)
    assert text.endswith("so the vector improves accuracy.")
    assert Verdict.IMPROVES.recommendation is Recommendation.DEPLOY
    assert against_evidence(2.0, {"chosen_alpha": 2.0, "outcome": "improves"}) is None


def test_side_effects_not_measured_leave_the_verdict_and_say_so():
    plain = verdict_sentence(2.0, GAIN)
    assert plain.endswith("so the vector improves accuracy.")
    unmeasured = verdict_sentence(2.0, GAIN, side_effects=SideEffects())
    assert unmeasured == f"{plain} {NOT_MEASURED}"
    assert verdict_outcome(GAIN) is Verdict.IMPROVES
    # A conclusion other than "improves" is as it was, side effects measured or not.
    chance = Paired(n=100, base_correct=38, steered_correct=44, gained=12, lost=6)
    over = effects(perplexity=38.0, changed=100)
    assert verdict_sentence(2.0, chance, side_effects=over) == verdict_sentence(2.0, chance)
    assert verdict_sentence(2.0, chance, side_effects=SideEffects()) == verdict_sentence(
        2.0, chance
    )


def result(alpha: float, correct: int, mass_correct: float, n: int = 100) -> StrengthResult:
    return StrengthResult(
        alpha=alpha, accuracy=correct / n, accuracy_norm=None, ci_low=0.0, ci_high=1.0, kl=None,
        entropy_bits=None, mass_correct=mass_correct, mass_incorrect=0.3, mcnemar_p=None, n=n,
        correct=correct,
    )  # fmt: skip


def test_disruption_takes_precedence_and_both_are_said():
    disruption = disruption_note(result(0.0, 38, 0.069), result(2.0, 60, 0.0004))
    over = effects(perplexity=207.0, changed=229)
    outcome = verdict_outcome(GAIN, disrupted=True, side_effects_over=True)
    assert outcome is Verdict.GAIN_BY_DISRUPTION
    text = verdict_sentence(2.0, GAIN, disruption=disruption, side_effects=over)
    assert DISRUPTED in text and "229 of 229 everyday answers (100 %)" in text
    assert text.index(DISRUPTED) < text.index("229 of 229")
    assert "more than the lab allows for deploying it" not in text  # not the side-effect verdict


def planted_table(questions: int = 40) -> pd.DataFrame:
    """``questions`` questions: 10 right without the vector, 30 with it at strength 2; the
    probability on the correct answer rises (no disruption)."""
    records = []
    for q in range(questions):
        for alpha, right, mass in ((0.0, q < 10, 0.3), (2.0, q < 30, 0.5)):
            records.append(
                {"question": q, "alpha": alpha, "correct": right, "correct_norm": right,
                 "kl": 0.0, "entropy_bits": 1.0, "mass_correct": mass, "mass_incorrect": 0.2,
                 "predicted": "yes" if right else "no"}
            )  # fmt: skip
    return pd.DataFrame.from_records(records)


@pytest.mark.parametrize(
    ("side", "outcome"),
    [
        (effects(changed=12), Verdict.GAIN_WITH_SIDE_EFFECTS),
        (effects(perplexity=22.0, changed=3), Verdict.IMPROVES),
        (SideEffects(), Verdict.IMPROVES),
        (None, Verdict.IMPROVES),
    ],
)
def test_the_verdict_of_an_evaluation_table_applies_the_rule(side, outcome):
    table = planted_table()
    sentence, verdict = table_verdict(
        table, 2.0, questions="held-out questions", tried=1, chosen_on="build",
        results=summarise(table), side_effects=side,
    )  # fmt: skip
    assert verdict is outcome
    assert (NOT_MEASURED in sentence) is (side is not None and not side.measured)


ROWS = [
    Example(f"Question {i}?", "yes", answer="yes", choices=("yes", "no"), row=i + 1)
    for i in range(40)
]


@pytest.fixture
def planted(monkeypatch, tiny_llama):
    """Evaluations on ``tiny_llama`` whose tables and side effects are planted: the pipeline
    (choice of strength, verdict, report) runs as it does, on known numbers."""
    measured: dict[str, SideEffects] = {"side": SideEffects()}
    calls: list[tuple[float, ...]] = []

    def table(*_args, **_kwargs) -> pd.DataFrame:
        return planted_table()

    def side_effects(_loaded, _vector, strengths, **_kwargs) -> SideEffects:
        calls.append(tuple(strengths))
        return measured["side"]

    monkeypatch.setattr(heldout_module, "evaluation_table", table)
    monkeypatch.setattr(evaluate_module, "evaluation_table", table)
    monkeypatch.setattr(report_module, "measure_side_effects", side_effects)
    generator = torch.Generator().manual_seed(0)
    vector = ControlVector(
        {i: torch.randn(tiny_llama.hidden_size, generator=generator) for i in range(2)}
    )
    return tiny_llama, vector, measured, calls


@pytest.mark.parametrize("held_out", [True, False])
def test_evaluations_apply_the_rule_to_the_side_effects_they_measured(planted, held_out):
    loaded, vector, measured, calls = planted

    def run(side_effects: bool = True):
        if held_out:
            return evaluate_heldout(
                loaded, vector, ROWS, ROWS, alphas=(2.0,), side_effects=side_effects
            )
        return evaluate(loaded, vector, ROWS, alphas=(2.0,), side_effects=side_effects)

    measured["side"] = effects(perplexity=38.0, changed=12)
    report = run()
    assert calls == [(0.0, 2.0)]
    assert report.chosen_alpha == 2.0
    assert report.outcome is Verdict.GAIN_WITH_SIDE_EFFECTS
    assert report.outcome.recommendation is Recommendation.DO_NOT_DEPLOY
    assert "12 of 229 everyday answers" in report.verdict and "21 -> 38" in report.verdict
    data = report.to_dict()
    assert data["outcome"] == "gain_with_side_effects"
    assert type(report).from_dict(data).outcome is Verdict.GAIN_WITH_SIDE_EFFECTS

    measured["side"] = effects(perplexity=22.0, changed=3)
    assert run().outcome is Verdict.IMPROVES

    calls.clear()
    unmeasured = run(side_effects=False)
    assert calls == []  # nothing measured, nothing planted read
    assert unmeasured.outcome is Verdict.IMPROVES and unmeasured.verdict.endswith(NOT_MEASURED)
    assert not unmeasured.side_effects.measured
