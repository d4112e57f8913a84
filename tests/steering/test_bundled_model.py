"""End-to-end checks on the bundled SmolLM2-135M-Instruct GGUF (what users get by default)."""

import json
import subprocess
import sys

import pytest

from steering.data.examples import bundled_example_sets, load_examples
from steering.engine.models import describe, load_model
from steering.vectors import ControlVector
from tests.steering.reference import block_outputs_one_by_one, cosine

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundled():
    return load_model("default")


def test_bundled_model_card_and_cache(bundled):
    card = describe(bundled)
    assert card["architecture"] == "llama"
    assert card["layers"] == 30 and card["hidden_size"] == 576
    assert 130e6 < card["parameters"] < 140e6
    assert card["chat_template"] is True
    again = load_model("default")  # the converted weights are cached now
    assert again.source == "gguf-cache"
    assert again.load_seconds < bundled.load_seconds or bundled.source == "gguf-cache"


def test_cli_build_matches_one_example_at_a_time(tmp_path, bundled):
    rows = load_examples(bundled_example_sets()["arithmetic"]).examples[:12]
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        "\n".join(
            json.dumps({"prompt": e.prompt, "positive": e.positive, "negative": e.negative})
            for e in rows
        )
    )
    out = tmp_path / "v.safetensors"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "steering",
            "build",
            "--model",
            "default",
            "--pairs",
            str(pairs),
            "--out",
            str(out),
            "--method",
            "mean_diff",
            "--negatives",
            "column",
            "--layers",
            "all",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    vector = ControlVector.load(out)
    assert vector.layers == list(range(30))
    sums = [0.0] * 30
    for e in rows:
        pos = block_outputs_one_by_one(bundled, e.prompt, e.positive)
        neg = block_outputs_one_by_one(bundled, e.prompt, e.negative)
        sums = [s + (p - n).double() for s, p, n in zip(sums, pos, neg, strict=True)]
    worst = min(cosine(vector.directions[i], sums[i] / len(rows)) for i in range(30))
    assert worst >= 0.999


def test_side_by_side_on_the_bundled_model(bundled):
    from steering.build import build_vector
    from steering.engine.generate import side_by_side

    rows = load_examples(bundled_example_sets()["arithmetic"]).examples[:16]
    # Random-letter negatives give a long vector (norm ~140 at middle layers, against ~6 for the
    # mean difference of the reasoning pairs), so strength 1 visibly moves the answer.
    vector = build_vector(bundled, rows, negatives="random", layers=[12]).vector
    answers = side_by_side(bundled, rows[0].prompt, vector, 0.0, max_new_tokens=12)
    assert answers["unsteered"] == answers["steered"]  # strength 0 is the unsteered model
    answers = side_by_side(bundled, rows[0].prompt, vector, 1.0, max_new_tokens=12)
    assert answers["unsteered"] and answers["steered"]
    assert answers["unsteered"] != answers["steered"]


def test_bundled_arithmetic_baseline_leaves_room_both_ways(bundled):
    """Without steering the bundled model is neither hopeless nor solid on the arithmetic set."""
    from steering.evaluation.evaluate import score_choices

    rows = load_examples(bundled_example_sets()["arithmetic"]).examples
    table = score_choices(bundled, rows)
    assert len(table) == len(rows) == 200
    assert 0.35 <= table["correct"].mean() <= 0.85


def test_layer_scores_tell_layers_apart_on_the_bundled_arithmetic_set(bundled):
    """The share of pairs separated saturates on this set; the effect size that ranks layers does
    not: it varies across the candidate layers, and the advice says which rule picked them."""
    from steering.build import build_vector
    from steering.data.examples import split_examples

    build, heldout = split_examples(
        load_examples(bundled_example_sets()["arithmetic"]), heldout_fraction=0.5, seed=0
    )
    result = build_vector(bundled, build[:24], heldout=heldout[:24], layers="4-28")
    effects = [s.effect_size for s in result.scores]
    assert len(result.scores) == 25 and all(s.pairs == 24 for s in result.scores)
    assert max(effects) - min(effects) > 0.5  # measured: 0.23 at block 4 to 1.18 at block 18
    assert len({round(e, 2) for e in effects}) > 20  # not one saturated value
    assert result.recommendation is not None
    assert result.recommendation.reason
    best = max(result.scores, key=lambda s: s.effect_size)
    if result.recommendation.rule == "effect size":
        assert best.layer in result.recommendation.layers
    else:
        assert result.recommendation.layers == [15]
