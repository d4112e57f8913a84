"""The gate of a conditional vector: its file format, how it is chosen, and what it reads."""

import hashlib

import pytest
import torch

from steering.build import build_vector
from steering.condition import MIN_CONDITION_ROWS, balanced_accuracy, choose_threshold
from steering.data.example_set import Example
from steering.engine.gate import (
    decide,
    first_sentence,
    prompt_reading_text,
    prompt_readings,
)
from steering.errors import SteeringError
from steering.vectors import ControlVector, GateCondition
from tests.tiny import make_tiny

# Two planted prompt families the tiny (byte-level) model reads very differently.
DIGITS = [" ".join(str((7 * k + j) % 100) for j in range(6)) for k in range(24)]
WORDS = [
    f"please tell me about the {w} and the {v} today"
    for w, v in zip(
        "river garden kitchen market winter summer letter window morning evening forest harbour "
        "teacher doctor bakery library station village mountain meadow castle island museum".split(),
        "weather music colour answer dinner story friend season holiday journey picture lesson "
        "garden recipe comfort advice pattern habit bridge moment engine coffee puzzle".split(),
        strict=True,
    )
]


def vector_with_condition(hidden: int, layer: int = 1) -> ControlVector:
    g = torch.Generator().manual_seed(0)
    condition = GateCondition(layer, torch.randn(hidden, generator=g), 0.125, 0.875)
    return ControlVector(
        {0: torch.randn(hidden, generator=g), 2: torch.randn(hidden, generator=g)},
        {"method": "mean_diff"},
        condition,
    )


def test_a_conditional_vector_file_keeps_its_gate():
    vector = vector_with_condition(32)
    loaded = ControlVector.from_bytes(vector.to_bytes())
    assert loaded.condition is not None
    assert loaded.condition.layer == 1
    assert loaded.condition.threshold == 0.125
    assert loaded.condition.build_balanced_accuracy == 0.875
    assert torch.equal(loaded.condition.direction, vector.condition.direction)
    assert loaded.layers == [0, 2]  # the condition is not a steered block
    assert loaded.metadata == {"method": "mean_diff"}  # the gate is not lineage twice
    assert loaded.content_hash() == vector.content_hash()
    assert loaded.select([2]).condition is loaded.condition


def test_the_content_hash_covers_the_gate_and_leaves_plain_vectors_as_they_were():
    vector = vector_with_condition(32)
    plain = ControlVector(vector.directions)
    digest = hashlib.sha256()
    for i, v in plain.items():
        digest.update(f"layer.{i}".encode())
        digest.update(v.numpy().tobytes())
    assert plain.content_hash() == digest.hexdigest()
    assert vector.content_hash() != plain.content_hash()
    moved = ControlVector(
        vector.directions,
        condition=GateCondition(1, vector.condition.direction, 0.126, 0.875),
    )
    assert moved.content_hash() != vector.content_hash()


def test_a_file_with_half_a_gate_is_refused():
    vector = vector_with_condition(32)
    raw = vector.to_bytes()
    # Rewrite the file without the threshold key: the tensor alone is not a gate.
    from safetensors.torch import load, save

    header_len = int.from_bytes(raw[:8], "little")
    import json

    meta = json.loads(raw[8 : 8 + header_len])["__metadata__"]
    del meta["condition_threshold"]
    broken = save(load(raw), metadata=meta)
    with pytest.raises(SteeringError, match="condition is incomplete"):
        ControlVector.from_bytes(broken)


def test_the_threshold_is_the_best_midpoint_and_ties_go_to_the_lower_one():
    task, everyday = [0.9, 0.8, 0.3], [0.1, 0.2, 0.5]
    choice = choose_threshold(task, everyday)
    # Candidates 0.15, 0.25, 0.4, 0.55, 0.85; 0.25 and 0.55 both reach 5/6: the lower wins.
    assert choice.threshold == pytest.approx(0.25)
    assert choice.balanced_accuracy == pytest.approx((1.0 + 2 / 3) / 2)
    assert balanced_accuracy(task, everyday, 0.55) == pytest.approx(choice.balanced_accuracy)
    separable = choose_threshold([0.6, 0.7], [0.1, 0.2])
    assert separable.threshold == pytest.approx(0.4)
    assert separable.balanced_accuracy == 1.0


def test_the_reading_covers_the_users_text_only(tiny_llama):
    tokenizer = tiny_llama.tokenizer
    encoded = prompt_reading_text(tokenizer, "hello there")
    read = tokenizer.decode(list(encoded.ids[encoded.prompt_len :]))
    assert read == "hello there"
    assert tokenizer.decode(list(encoded.ids[: encoded.prompt_len])) == "<|user|>"


def test_a_reading_does_not_depend_on_what_follows_the_users_text(tiny_llama):
    # The mean over the user's tokens, computed by hand from the full rendered prompt.
    prompt = "what a fine day"
    ids = tiny_llama.tokenizer(
        tiny_llama.tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
        ),
        add_special_tokens=False,
        return_tensors="pt",
    )["input_ids"]
    with torch.no_grad():
        hidden = tiny_llama.model(input_ids=ids, output_hidden_states=True).hidden_states
    start = 1  # "<|user|>" is one special token; then one token per byte of the prompt
    by_hand = hidden[2][0, start : start + len(prompt)].mean(dim=0)
    reading = prompt_readings(tiny_llama, [prompt, "another one"], [1])[1][0]
    assert torch.allclose(reading, by_hand, atol=1e-5)


def examples(prompts):
    return [Example(prompt=p, positive=" yes", negative=" no") for p in prompts]


@pytest.fixture(scope="module")
def conditional_build():
    loaded = make_tiny("llama", seed=3)
    result = build_vector(
        loaded, examples(DIGITS[:16]), condition="auto", everyday=WORDS[:16], layers="1-3"
    )
    return loaded, result


def test_the_gate_opens_on_the_task_family_and_not_on_the_other(conditional_build):
    loaded, result = conditional_build
    condition = result.vector.condition
    assert condition is not None and result.gate is not None
    assert condition.build_balanced_accuracy == 1.0
    assert len(result.gate.task_scores) == 16 and len(result.gate.everyday_scores) == 16
    # Held-out members of each family, never seen by the build.
    opened = [d.applied for d in decide(loaded, condition, DIGITS[16:])]
    closed = [d.applied for d in decide(loaded, condition, WORDS[16:])]
    assert all(opened)
    assert not any(closed)
    assert "balanced accuracy of 100%" in result.condition_note
    reopened = ControlVector.from_bytes(result.vector.to_bytes())
    assert reopened.condition is not None
    assert reopened.condition.layer == condition.layer
    assert reopened.condition.threshold == condition.threshold
    assert int(reopened.metadata["condition_task_prompts"]) == 16
    assert len(reopened.metadata["condition_everyday_scores"]) == 16


def test_fewer_than_sixteen_build_rows_make_no_gate_and_say_so(tiny_llama):
    result = build_vector(
        tiny_llama, examples(DIGITS[: MIN_CONDITION_ROWS - 1]), condition="auto", everyday=WORDS
    )
    assert result.vector.condition is None
    assert "at least 16 build rows" in result.condition_note
    assert "this set has 15" in result.condition_note
    off = build_vector(tiny_llama, examples(DIGITS[:16]), condition="off", everyday=WORDS)
    assert off.vector.condition is None


def test_the_gate_reads_a_paragraphs_first_sentence():
    assert first_sentence("The sun rose. It was warm.") == "The sun rose."
    assert first_sentence("Version 2.5 shipped today! Then more.") == "Version 2.5 shipped today!"
    assert first_sentence("no stop at all") == "no stop at all"


def test_answers_are_steered_where_the_gate_opens_and_plain_where_it_does_not(
    conditional_build,
):
    from steering.engine.generate import generate_answers

    loaded, result = conditional_build
    gated = result.vector
    always = ControlVector(gated.directions, dict(gated.metadata))  # the same, unconditional
    prompts = [DIGITS[20], WORDS[20]]
    options = {"max_new_tokens": 8}
    steered = generate_answers(loaded, prompts, vector=gated, alphas=40.0, **options)
    unconditional = generate_answers(loaded, prompts, vector=always, alphas=40.0, **options)
    plain = generate_answers(loaded, prompts, **options)
    assert unconditional[0].text != plain[0].text  # the strength is enough to change answers
    assert unconditional[1].text != plain[1].text
    assert steered[0].text == unconditional[0].text and steered[0].gate.applied
    assert steered[1].text == plain[1].text and not steered[1].gate.applied
    assert unconditional[0].gate is None and plain[0].gate is None
