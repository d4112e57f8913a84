"""Scoring, diagnostics, extraction and the evaluation report, against slow independent values."""

from __future__ import annotations

import math

import pytest
import torch

from steering.data.examples import Example
from steering.engine.steer import steer
from steering.engine.text import encode
from steering.errors import SteeringError
from steering.evaluation.answers import extract_answer, is_correct
from steering.evaluation.evaluate import evaluate, evaluate_heldout, layer_sweep, score_choices
from steering.evaluation.results import EvaluationReport, StrengthResult, Verdict
from steering.evaluation.scoring import entropy_bits, kl_nats
from steering.vectors import ControlVector

QUESTIONS = [
    Example("What is 2 plus 3?", "5", answer="5", choices=("5", "6", "12"), row=1),
    Example(
        "Which colour is grass? Think.", "green", answer="green", choices=("red", "green"), row=2
    ),
    Example("Pick a name: ", "Mary", answer="Mary", choices=("Mary", "John", "Mark"), row=3),
]


def random_vector(loaded, seed: int = 1, scale: float = 1.0) -> ControlVector:
    generator = torch.Generator().manual_seed(seed)
    return ControlVector(
        {
            i: scale * torch.randn(loaded.hidden_size, generator=generator)
            for i in range(loaded.num_layers)
        }
    )


def reference_logprobs(loaded, prompt, candidate, vector, alpha, layers=None):
    """Summed log-probability of one candidate: one unpadded text, one strength, full logits."""
    enc = encode(loaded.tokenizer, prompt, candidate)
    with steer(loaded, vector, alpha, layers=layers), torch.no_grad():
        logits = loaded.model(input_ids=torch.tensor([enc.ids])).logits[0].double()
    logp = torch.log_softmax(logits, dim=-1)
    total = sum(float(logp[t - 1, enc.ids[t]]) for t in range(enc.prompt_len, len(enc.ids)))
    return total, len(enc.ids) - enc.prompt_len, logp[enc.prompt_len - 1]


@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_gpt2"])
def test_batched_scores_equal_one_at_a_time(fixture, request):
    loaded = request.getfixturevalue(fixture)
    vector = random_vector(loaded)
    alphas = (0.0, 0.8, -2.0)
    table = score_choices(loaded, QUESTIONS, vector=vector, alphas=alphas, batch_size=2)
    assert len(table) == len(QUESTIONS) * len(alphas)
    for _, rec in table.iterrows():
        q = QUESTIONS[rec.question]
        refs = [reference_logprobs(loaded, q.prompt, c, vector, rec.alpha) for c in q.choices]
        sums = [r[0] for r in refs]
        means = [r[0] / r[1] for r in refs]
        assert rec.logprobs == pytest.approx(sums, abs=2e-4)
        assert rec.logprobs_norm == pytest.approx(means, abs=2e-4)
        assert rec.predicted == q.choices[max(range(len(sums)), key=sums.__getitem__)]
        assert rec.correct == (rec.predicted == q.answer)
        # Diagnostics at the first answer token, from the full-vocabulary reference logits.
        steered = refs[0][2]
        unsteered = reference_logprobs(loaded, q.prompt, q.choices[0], vector, 0.0)[2]
        kl = float((unsteered.exp() * (unsteered - steered)).sum())
        assert rec.kl == pytest.approx(kl, abs=1e-5)
        assert rec.entropy_bits == pytest.approx(
            float(-(steered.exp() * steered).sum() / math.log(2)), abs=1e-4
        )
        first = [encode(loaded.tokenizer, q.prompt, c).ids for c in q.choices]
        plen = encode(loaded.tokenizer, q.prompt).prompt_len
        correct = q.choices.index(q.answer)
        tokens = {f[plen] for i, f in enumerate(first) if i != correct} - {first[correct][plen]}
        assert rec.mass_correct == pytest.approx(
            float(steered[first[correct][plen]].exp()), abs=1e-6
        )
        assert rec.mass_incorrect == pytest.approx(
            sum(float(steered[t].exp()) for t in tokens), abs=1e-6
        )


def test_kl_and_entropy_of_known_distributions():
    p = torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64).log()
    q = torch.tensor([0.25, 0.5, 0.25], dtype=torch.float64).log()
    # 0.5 ln 2 + 0.25 ln 0.5 + 0 = 0.25 ln 2
    assert kl_nats(p, q) == pytest.approx(0.25 * math.log(2), abs=1e-12)
    assert kl_nats(p, p) == 0.0
    assert float(entropy_bits(p)) == pytest.approx(1.5, abs=1e-12)
    uniform = torch.full((8,), 1 / 8, dtype=torch.float64).log()
    assert float(entropy_bits(uniform)) == pytest.approx(3.0, abs=1e-12)
    with_zero = torch.tensor([1.0, 0.0]).log()
    assert float(entropy_bits(with_zero)) == 0.0
    assert kl_nats(with_zero, torch.tensor([0.5, 0.5]).log()) == pytest.approx(math.log(2))


@pytest.mark.parametrize(
    "text,answer,choices,expected",
    [
        ("The answer is 42.", "42", None, "42"),
        ("3 + 4 = 7, then 7 x 2 = 14", "14", None, "14"),
        ("The answer is 1,200 apples.", "1200", None, "1200"),
        ("We get 12. The answer is: 15. Check: 3", "15", None, "15"),
        ("-3 degrees", "-3", None, "-3"),
        ("No number here", "5", None, None),
        ("The answer is (B).", "B", None, "B"),
        ("C) because it is right", "C", None, "C"),
        ("I think the correct option is D", "D", None, "D"),
        (
            "Gertrude is a mouse, and mice are afraid of wolves.",
            "wolf",
            ("mouse", "sheep", "wolf", "cat"),
            "wolf",
        ),
        ("The answer is cat, not mouse.", "cat", ("mouse", "sheep", "wolf", "cat"), "cat"),
        ("Mary", "Mary", ("Mary", "John"), "mary"),
        ("The Eiffel Tower.", "eiffel tower", None, "eiffel tower"),
        ("Paris\nIt is in France.", "Paris", None, "paris"),
    ],
)
def test_answer_extraction(text, answer, choices, expected):
    extracted = extract_answer(text, answer, choices)
    assert extracted == expected
    assert is_correct(extracted, answer) == (expected is not None)


def test_answer_must_be_a_choice(tiny_llama):
    bad = [Example("Q?", "x", answer="4", choices=("1", "2"), row=7)]
    with pytest.raises(SteeringError, match="Row 7: the answer '4' is not one of its choices"):
        score_choices(tiny_llama, bad)


def test_evaluate_report_numbers_and_schema(tiny_llama):
    vector = random_vector(tiny_llama, scale=0.5)
    rows = QUESTIONS * 4  # 12 rows
    report = evaluate(tiny_llama, vector, rows, alphas=(0.5, 1.0), side_effects=False)
    table = score_choices(tiny_llama, rows, vector=vector, alphas=(0.0, 0.5, 1.0))
    assert report.strengths == (0.0, 0.5, 1.0)
    base = table[table.alpha == 0.0].sort_values("question")
    for r in report.results:
        part = table[table.alpha == r.alpha].sort_values("question")
        assert r.n == 12 and r.correct == int(part.correct.sum())
        assert r.accuracy == pytest.approx(part.correct.mean())
        assert r.accuracy_norm == pytest.approx(part.correct_norm.mean())
        assert r.kl == pytest.approx(part.kl.mean(), abs=1e-6)
        assert r.ci_low <= r.accuracy <= r.ci_high
        gained = int((~base.correct.values & part.correct.values).sum())
        lost = int((base.correct.values & ~part.correct.values).sum())
        assert (r.gained, r.lost) == (gained, lost)
        assert r.diff == pytest.approx((r.correct - base.correct.sum()) / 12)
    assert report.baseline.mcnemar_p == 1.0 and report.baseline.kl == 0.0
    data = report.to_dict()
    assert {"model", "vector", "rows", "mode", "results", "verdict", "outcome"} <= set(data)
    assert data["rows"] == 12 and data["mode"] == "choice"
    assert "too few" in report.verdict  # 12 questions
    assert report.outcome is Verdict.TOO_FEW_QUESTIONS and data["outcome"] == "too_few_questions"
    assert EvaluationReport.from_dict(data) == report


def test_heldout_chooses_on_build_rows(tiny_llama):
    vector = random_vector(tiny_llama, scale=3.0)
    build, heldout = QUESTIONS * 2, QUESTIONS
    report = evaluate_heldout(
        tiny_llama, vector, build, heldout, alphas=(0.0, 1.0, -1.0), side_effects=False
    )
    build_table = score_choices(tiny_llama, build, vector=vector, alphas=(-1.0, 0.0, 1.0))
    correct = build_table.groupby("alpha").correct.sum()
    best = max(correct.index, key=lambda a: (correct[a], -abs(a), a))
    assert report.chosen_alpha == best and report.chosen_on == "build"
    assert report.rows == len(heldout)
    assert [r.alpha for r in report.build_results] == [-1.0, 0.0, 1.0]
    assert [r.correct for r in report.build_results] == [correct[a] for a in (-1.0, 0.0, 1.0)]


def test_layer_sweep_equals_separate_runs(tiny_llama):
    vector = random_vector(tiny_llama, scale=2.0)
    sweep = layer_sweep(tiny_llama, vector, QUESTIONS, alpha=1.0, layer_sets=[[0], [1, 2]])
    assert [r.layers for r in sweep] == [(), (0,), (1, 2)]
    assert [r.alpha for r in sweep] == [0.0, 1.0, 1.0]
    unsteered = score_choices(tiny_llama, QUESTIONS, vector=vector, alphas=(0.0,))
    assert sweep[0].correct == int(unsteered.correct.sum()) and sweep[0].kl == 0.0
    for result in sweep[1:]:
        alone = score_choices(
            tiny_llama, QUESTIONS, vector=vector, alphas=(1.0,), layers=list(result.layers)
        )
        assert result.correct == int(alone.correct.sum())
        assert result.kl == pytest.approx(alone.kl.mean(), abs=1e-6)
        assert result.accuracy == pytest.approx(alone.correct.mean())
        assert StrengthResult.from_dict(result.to_dict()) == result


def test_generate_mode_keeps_raw_text(tiny_llama):
    vector = random_vector(tiny_llama)
    rows = [Example("What is 2 plus 3?", "5", answer="5", row=1)]
    report = evaluate(
        tiny_llama, vector, rows, alphas=(1.0,), mode="generate", side_effects=False,
        max_new_tokens=6,
    )  # fmt: skip
    table = report.table
    assert set(table.alpha) == {0.0, 1.0}
    for _, rec in table.iterrows():
        assert rec.extracted == extract_answer(rec.generated, "5")
        assert rec.correct == is_correct(rec.extracted, "5")
    assert report.mode == "generate"


def test_samples_at_every_strength_marked_against_the_scores(tiny_llama):
    # The strength chosen on build rows may be 0 (nothing helped): samples are kept anyway.
    vector = random_vector(tiny_llama, scale=3.0)
    build, heldout = QUESTIONS * 2, QUESTIONS * 3  # 9 held-out questions
    report = evaluate_heldout(
        tiny_llama, vector, build, heldout, alphas=(1.0, -1.0), side_effects=False
    )
    table = score_choices(tiny_llama, heldout, vector=vector, alphas=(-1.0, 0.0, 1.0))
    assert sorted({s.alpha for s in report.samples}) == [-1.0, 1.0]
    for alpha in (-1.0, 1.0):
        samples = report.samples_at(alpha)
        assert len(samples) == 4  # a few questions at each strength
        base = table[table.alpha == 0.0].set_index("question")
        steered = table[table.alpha == alpha].set_index("question")
        changed = {int(q) for q in base.index if base.predicted[q] != steered.predicted[q]}
        shown_changed = [s for s in samples if s.unsteered != s.steered]
        assert len(shown_changed) == min(4, len(changed))  # changed answers come first
        for sample in samples:
            q = next(
                i for i in base.index
                if heldout[i].row == sample.row and base.predicted[i] == sample.unsteered
                and steered.predicted[i] == sample.steered
            )  # fmt: skip
            assert sample.unsteered_correct == bool(base.correct[q])
            assert sample.steered_correct == bool(steered.correct[q])
            assert sample.steered_cut is None  # multiple choice: nothing is generated
    again = EvaluationReport.from_dict(report.to_dict())
    assert again.samples == report.samples


def test_chance_is_the_mean_of_one_over_the_options(tiny_llama):
    report = evaluate(tiny_llama, random_vector(tiny_llama), QUESTIONS, alphas=(1.0,),
                      side_effects=False)  # fmt: skip
    # Options 3, 2 and 3: (1/3 + 1/2 + 1/3) / 3 = 7/18.
    assert report.chance == pytest.approx(7 / 18)
    assert report.options == (2, 3)
    data = report.to_dict()
    assert data["chance"] == pytest.approx(7 / 18) and data["options"] == [2, 3]


def test_generated_samples_say_when_the_token_limit_cut_them(tiny_llama):
    rows = [Example("What is 2 plus 3?", "5", answer="5", row=7)]
    report = evaluate(
        tiny_llama, random_vector(tiny_llama), rows, alphas=(1.0,), mode="generate",
        side_effects=False, max_new_tokens=3,
    )  # fmt: skip
    (sample,) = report.samples
    table = report.table.set_index("alpha")
    assert sample.row == 7 and sample.alpha == 1.0
    assert sample.steered_cut == bool(table.cut[1.0]) and sample.unsteered_cut == bool(
        table.cut[0.0]
    )
    assert sample.steered_correct == is_correct(extract_answer(sample.steered_text, "5"), "5")
    assert report.chance is None  # no answer options: guessing has no level
