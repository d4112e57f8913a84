"""bfloat16 against float32 on the tiny test model: the properties issue 24 measured on the bundled
model (bench/precision_agreement.py), checked small enough for CPUs without native bfloat16.

These tests ask for their formats explicitly (the suite otherwise runs STEERING_DTYPE=float32).
The model is the tiny Llama with a wider weight initialisation (0.1 instead of 0.02), so that its
answers are not all near-ties the way an almost uniform random model's are.
"""

from __future__ import annotations

import json

import pytest
import torch

from steering.build import build_vector
from steering.cli import main as cli_main
from steering.data.examples import Example
from steering.engine.models import in_format, load_model
from steering.evaluation.choice_table import score_choices
from steering.evaluation.strengths import suggested_strengths
from steering.vectors import ControlVector
from tests.steering.pairs import arithmetic_pairs
from tests.steering.reference import cosine
from tests.tiny import make_tiny

BLOCK_ZERO_COSINE = 0.998  # the floor for block 0
OTHER_BLOCKS_COSINE = 0.999  # and for every other block
ANSWER_AGREEMENT = 0.97


@pytest.fixture(scope="module")
def formats():
    """The same model in float32 and as a bfloat16 copy (fingerprinted as float32)."""
    f32 = make_tiny("llama", chat_template=True, initializer_range=0.1)
    return f32, in_format(f32, "bfloat16")


def questions(n: int) -> list[Example]:
    """Sums with four candidate answers of two digits each (same length, so no length bias)."""
    rows = []
    for i in range(n):
        a, b = i + 3, 2 * i + 5
        right = a + b
        rows.append(
            Example(
                prompt=f"What is {a} plus {b}?",
                positive="",
                answer=str(right),
                choices=(str(right), str(right + 1), str(right - 2), str(right + 10)),
                row=i + 1,
            )
        )
    return rows


def assert_vectors_agree(f32: ControlVector, bf16: ControlVector) -> None:
    assert f32.layers == bf16.layers
    for i in f32.layers:
        floor = BLOCK_ZERO_COSINE if i == 0 else OTHER_BLOCKS_COSINE
        assert cosine(f32.directions[i], bf16.directions[i]) >= floor, f"block {i}"


def test_rc_vectors_agree_across_formats(formats):
    f32, bf16 = formats
    pairs = arithmetic_pairs(16)
    plain = build_vector(f32, pairs, layers="all").vector
    fast = build_vector(bf16, pairs, layers="all").vector
    assert_vectors_agree(plain, fast)
    assert (plain.metadata["dtype"], fast.metadata["dtype"]) == ("float32", "bfloat16")
    assert plain.metadata["model_fingerprint"] == fast.metadata["model_fingerprint"]
    # Not the same numbers, only close ones: the bfloat16 build did run in bfloat16.
    assert not torch.equal(plain.directions[1], fast.directions[1])


def test_multiple_choice_answers_agree_at_strength_0_and_a_suggested_one(formats):
    f32, bf16 = formats
    pairs = arithmetic_pairs(16)
    plain = build_vector(f32, pairs, layers="all").vector
    fast = build_vector(bf16, pairs, layers="all").vector
    strength = suggested_strengths(plain.metadata)[-1]  # the strongest suggestion
    rows = questions(60)
    table32 = score_choices(f32, rows, vector=plain, alphas=(0.0, strength))
    table16 = score_choices(bf16, rows, vector=fast, alphas=(0.0, strength))
    for alpha in (0.0, strength):
        a = table32[table32.alpha == alpha].sort_values("question").predicted.tolist()
        b = table16[table16.alpha == alpha].sort_values("question").predicted.tolist()
        agreement = sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
        assert agreement >= ANSWER_AGREEMENT, f"strength {alpha:g}: {agreement:.1%}"
    # The scores themselves differ a little (two formats did run), within bfloat16 rounding.
    gaps = [
        max(abs(x - y) for x, y in zip(p, q, strict=True))
        for p, q in zip(table32.logprobs, table16.logprobs, strict=True)
    ]
    assert 0 < max(gaps) < 0.1


def test_cli_build_in_bfloat16_says_so_and_agrees_with_float32(tmp_path, formats):
    f32, _ = formats
    folder = tmp_path / "model"
    f32.model.save_pretrained(folder)
    f32.tokenizer.save_pretrained(folder)
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        "\n".join(
            json.dumps({"prompt": p.prompt, "positive": p.positive, "negative": p.negative})
            for p in arithmetic_pairs(12)
        )
    )
    outs = {}
    for dtype in ("float32", "bfloat16"):
        outs[dtype] = tmp_path / f"{dtype}.safetensors"
        argv = ["build", "--model", str(folder), "--pairs", str(pairs), "--out", str(outs[dtype])]
        assert cli_main([*argv, "--dtype", dtype]) == 0
    plain, fast = (ControlVector.load(outs[d]) for d in ("float32", "bfloat16"))
    assert fast.metadata["dtype"] == "bfloat16"
    assert fast.metadata["dtype_reason"] == "bfloat16: asked for by STEERING_DTYPE/--dtype"
    assert plain.metadata["dtype"] == "float32"
    assert_vectors_agree(plain, fast)
    assert load_model(str(folder), dtype="bfloat16").dtype == torch.bfloat16
