"""End-to-end checks on the second bundled model, Gemma 3 270M (base, Q4_K_M GGUF): another
architecture (gemma3_text, sliding-window attention) and the no-chat-template text rule on a real
model. ``make test`` installs it (``make models``); without it these fail under CI and skip
elsewhere, saying how to install it.
"""

from __future__ import annotations

import os

import pytest
import torch

from steering.data.examples import bundled_example_sets, load_examples
from steering.engine.bundled import GEMMA3
from steering.engine.models import describe, load_model
from steering.engine.text import format_text
from tests.steering.reference import block_outputs_one_by_one, cosine

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gemma():
    if GEMMA3.gguf_path() is None:
        message = f"Gemma 3 270M is not installed: run `{GEMMA3.install}`."
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return load_model(GEMMA3.key)


@pytest.fixture(scope="module")
def rows():
    return load_examples(bundled_example_sets()["arithmetic"]).examples


def test_gemma_model_card(gemma):
    card = describe(gemma)
    assert card["architecture"] == "gemma3_text"
    assert card["layers"] == 18 and card["hidden_size"] == 640
    assert 250e6 < card["parameters"] < 300e6
    assert card["chat_template"] is False
    assert gemma.name == GEMMA3.name
    # The terms the packages ship are kept beside the model file.
    assert (GEMMA3.gguf_path().parent / "GEMMA_TERMS.html").is_file()


def test_no_chat_template_text_rule_on_a_real_model(gemma, rows):
    # prompt + " " + completion, tokenized normally (the base model's tokenizer adds <bos>).
    e = rows[0]
    assert format_text(gemma.tokenizer, e.prompt, e.positive) == f"{e.prompt} {e.positive}"
    ids = gemma.tokenizer(format_text(gemma.tokenizer, e.prompt, e.positive))["input_ids"]
    assert ids[0] == gemma.tokenizer.bos_token_id


def test_build_on_gemma_matches_one_example_at_a_time(gemma, rows):
    from steering.build import build_vector

    pairs = rows[:8]
    result = build_vector(gemma, pairs, layers=[3, 9, 15], batch_size=4)
    for i, layer in enumerate((3, 9, 15)):
        expected = sum(
            (
                block_outputs_one_by_one(gemma, e.prompt, e.positive)[layer].double()
                - block_outputs_one_by_one(gemma, e.prompt, e.negative)[layer].double()
            )
            for e in pairs
        ) / len(pairs)
        assert cosine(result.vector.directions[layer], expected) >= 0.999, i
    assert result.vector.metadata["model_architecture"] == "gemma3_text"
    assert float(result.vector.metadata["residual_norms"]["9"]) > 0


def test_side_by_side_on_gemma(gemma, rows):
    from steering.build import build_vector
    from steering.engine.generate import generate_texts, side_by_side

    vector = build_vector(gemma, rows[:8], negatives="random", layers=[9]).vector
    prompt = rows[0].prompt
    plain = generate_texts(gemma, [prompt], max_new_tokens=10)[0]
    same = side_by_side(gemma, prompt, vector, 0.0, max_new_tokens=10)
    assert same["unsteered"] == same["steered"] == plain
    # The residual stream is ~64 times the mean difference here; random negatives give a vector
    # long enough that strength 1 moves the answer.
    moved = side_by_side(gemma, prompt, vector, 1.0, max_new_tokens=10)
    assert moved["unsteered"] == plain and moved["steered"] != plain


def test_multiple_choice_evaluation_on_gemma(gemma, rows):
    from steering.build import build_vector
    from steering.evaluation.evaluate import evaluate

    vector = build_vector(gemma, rows[:8], layers=[9]).vector
    questions = rows[100:116]
    report = evaluate(gemma, vector, questions, alphas=[0.0, 2.0], side_effects=False)
    assert report.mode == "choice" and report.rows == 16
    base = report.baseline
    assert base is not None and base.n == 16
    # Strength 0 by hand: the candidate with the larger summed log-probability after the prompt.
    correct = 0
    for q in questions:
        scores = []
        for choice in q.choices:
            prompt_ids = gemma.tokenizer(q.prompt)["input_ids"]
            full = gemma.tokenizer(format_text(gemma.tokenizer, q.prompt, choice))["input_ids"]
            with torch.no_grad():
                logits = gemma.model(input_ids=torch.tensor([full])).logits[0].float()
            logp = torch.log_softmax(logits, dim=-1)
            scores.append(
                sum(float(logp[t - 1, full[t]]) for t in range(len(prompt_ids), len(full)))
            )
        correct += q.choices[max(range(len(scores)), key=scores.__getitem__)] == q.answer
    assert base.correct == correct
    steered = report.result_at(2.0)
    assert steered is not None and steered.kl is not None and steered.kl > 0
