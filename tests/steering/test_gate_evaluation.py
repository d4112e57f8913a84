"""Evaluating a conditional vector: scoring, side effects and the report with its gate deciding.

The tiny model and the two planted prompt families of tests/steering/test_condition.py: the gate
opens on the digit strings and not on the word requests. Every figure is checked against the same
computation with the unconditional vector (where the gate opens) or without a vector (where not).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch

from steering.build import build_vector
from steering.cli import main
from steering.data.everyday import everyday_prompts
from steering.data.example_set import Example
from steering.engine.gate import decide, first_sentence
from steering.evaluation.evaluate import evaluate, evaluate_heldout, score_choices
from steering.evaluation.results import EvaluationReport, GateReport
from steering.evaluation.side_effects import (
    answer_prompts,
    changed_answers,
    neutral_prompts,
    perplexities,
)
from steering.evaluation.verdict import gate_sentence
from tests.steering.test_condition import DIGITS, WORDS
from tests.tiny import make_tiny

STRENGTH = 40.0  # large enough that the tiny model's answers change (test_condition.py)
GATE_KEYS = {
    "task_open_rate",
    "everyday_open_rate",
    "task_rows",
    "everyday_rows",
    "layer",
    "threshold",
}


def questions(prompts, first_row=1):
    return [
        Example(p, " yes", answer="yes", choices=("yes", "no", "maybe so"), row=first_row + i)
        for i, p in enumerate(prompts)
    ]


@pytest.fixture(scope="module")
def gated():
    loaded = make_tiny("llama", seed=3)
    build = [Example(prompt=p, positive=" yes", negative=" no") for p in DIGITS[:16]]
    result = build_vector(loaded, build, condition="auto", everyday=WORDS[:16], layers="1-3")
    assert result.vector.condition is not None
    always = replace(result.vector, condition=None)  # the same directions, no gate
    return loaded, result.vector, always


def test_open_questions_score_as_steered_and_closed_ones_as_the_plain_model(gated):
    loaded, vector, always = gated
    rows = questions(DIGITS[16:] + WORDS[16:])  # held out from the build, both families
    opens = [d.applied for d in decide(loaded, vector.condition, [r.prompt for r in rows])]
    assert opens == [True] * len(DIGITS[16:]) + [False] * len(WORDS[16:])
    conditional = score_choices(loaded, rows, vector=vector, alphas=(0.0, STRENGTH), batch_size=4)
    unconditional = score_choices(loaded, rows, vector=always, alphas=(STRENGTH,), batch_size=4)
    plain = score_choices(loaded, rows, alphas=(0.0,), batch_size=4)
    steered = conditional[conditional.alpha == STRENGTH].set_index("question")
    unconditional = unconditional.set_index("question")
    plain = plain.set_index("question")
    for q, opened in enumerate(opens):
        assert bool(steered.gate_open[q]) is opened
        got = torch.tensor(steered.logprobs[q], dtype=torch.float64)
        expected = unconditional.logprobs[q] if opened else plain.logprobs[q]
        other = plain.logprobs[q] if opened else unconditional.logprobs[q]
        assert torch.allclose(got, torch.tensor(expected, dtype=torch.float64), atol=1e-5)
        # The two references differ, so the comparison above tells them apart.
        assert (got - torch.tensor(other, dtype=torch.float64)).abs().max() > 1e-3
        if not opened:
            assert steered.kl[q] == 0.0
        else:
            assert steered.kl[q] == pytest.approx(unconditional.kl[q], abs=1e-6)
    # Without a gate the table has no gate columns, as before.
    assert "gate_open" not in plain and "gate_open" not in unconditional


def test_generated_answers_follow_the_gate(gated):
    loaded, vector, always = gated
    rows = [Example(p, " yes", answer="yes", row=i) for i, p in enumerate([DIGITS[20], WORDS[20]])]
    options = {"alphas": (STRENGTH,), "mode": "generate", "side_effects": False}
    conditional = evaluate(loaded, vector, rows, max_new_tokens=8, **options).table
    unconditional = evaluate(loaded, always, rows, max_new_tokens=8, **options).table

    def text(table, q, alpha):
        return table[(table.question == q) & (table.alpha == alpha)].generated.iloc[0]

    assert text(unconditional, 1, STRENGTH) != text(unconditional, 1, 0.0)  # it would change
    assert text(conditional, 0, STRENGTH) == text(unconditional, 0, STRENGTH)
    assert text(conditional, 1, STRENGTH) == text(conditional, 1, 0.0)


def test_the_gate_reads_a_paragraphs_first_sentence_for_perplexity(gated):
    loaded, vector, always = gated
    opened = f"{DIGITS[18]}. Then the story goes on about a day at the sea."
    closed = f"{WORDS[18]}. {DIGITS[19]} {DIGITS[20]}"  # task-like later, not in its first sentence
    gates = decide(loaded, vector.condition, [first_sentence(opened), first_sentence(closed)])
    assert [g.applied for g in gates] == [True, False]
    strengths = (0.0, STRENGTH)
    conditional = perplexities(loaded, vector, strengths, texts=[opened, closed])
    steered = perplexities(loaded, always, strengths, texts=[opened])
    plain = perplexities(loaded, None, strengths, texts=[closed])
    assert steered[STRENGTH] != pytest.approx(steered[0.0], rel=1e-3)

    def nll(ppl, text):  # total negative log-likelihood of one text from its perplexity
        return math.log(ppl) * (len(loaded.tokenizer(text)["input_ids"]) - 1)

    count = sum(len(loaded.tokenizer(t)["input_ids"]) - 1 for t in (opened, closed))
    for alpha in strengths:
        total = nll(steered[alpha], opened) + nll(plain[alpha], closed)
        assert conditional[alpha] == pytest.approx(math.exp(total / count), rel=1e-6)


def test_answers_changed_count_only_where_the_gate_opens(gated):
    loaded, vector, always = gated
    prompts = [DIGITS[20], WORDS[20], WORDS[21]]
    share, records = changed_answers(loaded, vector, (STRENGTH,), prompts=prompts, max_new_tokens=8)
    always_share, always_records = changed_answers(
        loaded, always, (STRENGTH,), prompts=prompts, max_new_tokens=8
    )
    assert always_share[STRENGTH] == 1.0  # unconditional steering changes every answer
    assert share[STRENGTH] == pytest.approx(1 / 3)
    assert records[0].answers[STRENGTH] == always_records[0].answers[STRENGTH]
    for record in records[1:]:
        assert record.answers[STRENGTH] == record.answers[0.0]
    # Which prompts: the held-out everyday half for a gate, the neutral prompts without one.
    assert answer_prompts(vector) == everyday_prompts("heldout")
    assert answer_prompts(always) == neutral_prompts()


def test_a_heldout_evaluation_reports_the_gate(gated):
    loaded, vector, always = gated
    build = questions(DIGITS[:6] + WORDS[:4])
    heldout = questions(DIGITS[16:22] + WORDS[16:20], first_row=100)
    report = evaluate_heldout(
        loaded, vector, build, heldout, alphas=(STRENGTH,), side_effects=False
    )
    gate = report.gate
    assert gate is not None
    everyday = decide(loaded, vector.condition, everyday_prompts("heldout"))
    assert gate.task_rows == 10 and gate.task_open_rate == pytest.approx(0.6)
    assert gate.everyday_rows == len(everyday_prompts("heldout"))
    assert gate.everyday_open_rate == pytest.approx(
        sum(d.applied for d in everyday) / len(everyday)
    )
    assert (gate.layer, gate.threshold) == (vector.condition.layer, vector.condition.threshold)
    assert gate_sentence(gate) == (
        f"The vector was applied to 6 of 10 new task questions and to "
        f"{sum(d.applied for d in everyday)} of {len(everyday)} everyday requests."
    )
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data["gate"]) == GATE_KEYS
    again = EvaluationReport.from_dict(data)
    assert again.gate == gate and again == report
    plain = evaluate_heldout(loaded, always, build, heldout, alphas=(STRENGTH,), side_effects=False)
    assert plain.gate is None and plain.to_dict()["gate"] is None
    # A report stored before the gate existed reads as unconditional.
    old = {k: v for k, v in report.to_dict().items() if k != "gate"}
    assert EvaluationReport.from_dict(old).gate is None


def test_gated_side_effects_in_the_report(gated):
    loaded, vector, always = gated
    rows = questions(DIGITS[16:20] + WORDS[16:20])
    report = evaluate(loaded, vector, rows, alphas=(STRENGTH,), max_new_tokens=8)
    effects = report.side_effects
    heldout = everyday_prompts("heldout")
    assert [a.prompt for a in effects.answers] == heldout
    gates = decide(loaded, vector.condition, heldout)
    changed = sum(a.answers[STRENGTH] != a.answers[0.0] for a in effects.answers)
    assert effects.changed_share[STRENGTH] == pytest.approx(changed / len(heldout))
    for answer, gate in zip(effects.answers, gates, strict=True):
        if not gate.applied:  # closed: the unsteered answer
            assert answer.answers[STRENGTH] == answer.answers[0.0]
    assert report.gate.everyday_open_rate == pytest.approx(
        sum(g.applied for g in gates) / len(gates)
    )
    assert report.result_at(STRENGTH).neutral_changed == effects.changed_share[STRENGTH]
    assert effects.perplexity == pytest.approx(perplexities(loaded, vector, (0.0, STRENGTH)))


def test_gate_report_reads_back_and_refuses_a_partial_gate():
    gate = GateReport(0.96, 0.01, 100, 200, 5, 0.3125)
    assert (gate.task_applied, gate.everyday_applied) == (96, 2)
    assert GateReport.from_dict(gate.to_dict()) == gate
    assert set(gate.to_dict()) == GATE_KEYS
    assert "96 of 100 new task questions and to 2 of 200 everyday requests" in gate_sentence(gate)
    with pytest.raises(ValueError, match="everyday_rows"):
        GateReport.from_dict({"task_open_rate": 0.5})


@pytest.fixture(scope="module")
def saved(gated, tmp_path_factory):
    loaded, vector, _ = gated
    folder = tmp_path_factory.mktemp("gate_cli")
    loaded.model.save_pretrained(folder / "model")
    loaded.tokenizer.save_pretrained(folder / "model")
    rows = questions(DIGITS[16:22] + WORDS[16:20])
    data = folder / "data.jsonl"
    data.write_text(
        "\n".join(
            json.dumps(
                {
                    "prompt": r.prompt,
                    "positive": " yes",
                    "answer": r.answer,
                    "choices": list(r.choices),
                }
            )  # fmt: skip
            for r in rows
        )
        + "\n"
    )
    vector.save(folder / "gated.safetensors")
    return folder, data


def test_evaluate_cli_says_the_gate_in_words_and_writes_its_keys(gated, saved, capsys):
    loaded, vector, _ = gated
    folder, data = saved
    out = folder / "report.json"
    code = main(
        [
            "evaluate", "--model", str(folder / "model"), "--vector",
            str(folder / "gated.safetensors"), "--data", str(data), "--alphas", "0,40",
            "--json", str(out), "--no-side-effects",
        ]
    )  # fmt: skip
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    everyday = decide(loaded, vector.condition, everyday_prompts("heldout"))
    words = (
        f"The vector was applied to 6 of 10 task questions and to "
        f"{sum(d.applied for d in everyday)} of {len(everyday)} everyday requests."
    )
    assert lines[1] == words  # in words, before the technical figures
    assert lines[2].startswith(f"gate: block {vector.condition.layer}, cosine threshold")
    assert lines[3].split()[0] == "strength"  # then the table
    report = json.loads(out.read_text())
    assert set(report["gate"]) == GATE_KEYS
    assert report["gate"]["task_rows"] == 10 and report["gate"]["task_open_rate"] == 0.6
    assert report["gate"]["everyday_rows"] == len(everyday)
    assert report["gate"]["layer"] == vector.condition.layer
    assert report["gate"]["threshold"] == vector.condition.threshold
