import random

import pytest
import torch

from steering.build import (
    EFFECT_SIZE_RULE,
    MIDDLE_LAYER_RULE,
    LayerScore,
    build_vector,
    negatives_for,
    recommend_layers,
)
from steering.data.examples import Example
from steering.errors import SteeringError
from steering.layers import parse_layers
from steering.vectors import ControlVector, read_metadata
from tests.steering.pairs import arithmetic_pairs
from tests.steering.reference import block_outputs_one_by_one, cosine


def reference_mean_diff(loaded, pairs):
    n_layers = loaded.num_layers
    total = [torch.zeros(loaded.hidden_size, dtype=torch.float64) for _ in range(n_layers)]
    for p in pairs:
        pos = block_outputs_one_by_one(loaded, p.prompt, p.positive)
        neg = block_outputs_one_by_one(loaded, p.prompt, p.negative)
        for i in range(n_layers):
            total[i] += (pos[i] - neg[i]).double()
    return [t / len(pairs) for t in total]


@pytest.mark.parametrize("padding_side", ["left", "right"])
@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_gpt2"])
def test_mean_diff_matches_one_example_at_a_time(request, fixture, padding_side):
    loaded = request.getfixturevalue(fixture)
    pairs = arithmetic_pairs(10)
    result = build_vector(loaded, pairs, batch_size=4, padding_side=padding_side)
    expected = reference_mean_diff(loaded, pairs)
    assert result.vector.layers == list(range(loaded.num_layers))
    for i in range(loaded.num_layers):
        assert cosine(result.vector.directions[i], expected[i]) >= 0.999
        assert torch.allclose(
            result.vector.directions[i].double(), expected[i], rtol=1e-3, atol=1e-4
        )


def test_reading_vector_is_the_mean_of_positives(tiny_llama):
    pairs = arithmetic_pairs(5)
    result = build_vector(tiny_llama, pairs, method="reading", layers="1-2", batch_size=2)
    assert result.vector.layers == [1, 2]
    for i in (1, 2):
        mean = torch.stack(
            [block_outputs_one_by_one(tiny_llama, p.prompt, p.positive)[i] for p in pairs]
        ).mean(0)
        assert cosine(result.vector.directions[i], mean) >= 0.9999


def test_pca_diff_is_first_component_signed_and_scaled(tiny_llama):
    pairs = arithmetic_pairs(8)
    mean_diff = build_vector(tiny_llama, pairs, layers=[2]).vector.directions[2]
    pca = build_vector(tiny_llama, pairs, method="pca_diff", layers=[2]).vector.directions[2]
    diffs = torch.stack(
        [
            block_outputs_one_by_one(tiny_llama, p.prompt, p.positive)[2]
            - block_outputs_one_by_one(tiny_llama, p.prompt, p.negative)[2]
            for p in pairs
        ]
    ).double()
    centred = diffs - diffs.mean(0)
    # First principal component by power iteration on the covariance (independent of SVD).
    cov = centred.T @ centred
    v = torch.ones(cov.shape[0], dtype=torch.float64)
    for _ in range(500):
        v = cov @ v
        v = v / v.norm()
    assert abs(cosine(pca, v)) >= 0.999
    assert (diffs @ pca.double()).mean() > 0  # positives project higher
    assert pca.norm() == pytest.approx(float(mean_diff.norm()), rel=1e-4)


def test_mean_position_reads_the_completion_tokens(tiny_llama):
    pairs = arithmetic_pairs(3)
    last = build_vector(tiny_llama, pairs, position="last", layers=[1]).vector.directions[1]
    mean = build_vector(tiny_llama, pairs, position="mean", layers=[1]).vector.directions[1]
    assert cosine(last, mean) < 0.999  # really a different reading
    # Reference: average over completion tokens, computed one text at a time.
    from steering.engine.text import encode

    total = torch.zeros(tiny_llama.hidden_size, dtype=torch.float64)
    for p in pairs:
        for text, sign in ((p.positive, 1), (p.negative, -1)):
            enc = encode(tiny_llama.tokenizer, p.prompt, text)
            with torch.no_grad():
                out = tiny_llama.model(input_ids=torch.tensor([enc.ids]), output_hidden_states=True)
            total += sign * out.hidden_states[2][0, enc.prompt_len :].double().mean(0)
    assert cosine(mean, total / len(pairs)) >= 0.9999


def test_random_negatives_are_seeded_letters():
    pairs = arithmetic_pairs(3)
    a = negatives_for(pairs, "random", seed=7)
    assert a == negatives_for(pairs, "random", seed=7)
    assert a != negatives_for(pairs, "random", seed=8)
    assert all(len(s) == 75 and s.isalpha() for s in a)


def test_column_negatives_required(tiny_llama):
    from steering.data.examples import Example

    pairs = [Example("q", "a", None, row=4), Example("q2", "b", "c", row=5)]
    with pytest.raises(SteeringError, match="Row\\(s\\) 4 have no 'negative'"):
        build_vector(tiny_llama, pairs)
    # The random strategy builds from the same rows.
    assert build_vector(tiny_llama, pairs, negatives="random", layers=[0]).vector.layers == [0]


def test_memory_bounded_build_progress_reports(tiny_llama):
    seen = []
    build_vector(
        tiny_llama, arithmetic_pairs(6), batch_size=4, progress=lambda d, t: seen.append((d, t))
    )
    assert seen[-1] == (12, 12)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_save_load_round_trip_keeps_values_and_lineage(tmp_path, tiny_llama):
    pairs = arithmetic_pairs(4)
    result = build_vector(
        tiny_llama, pairs, layers="1,3", lineage={"created_by": "ana", "dataset_hash": "abc"}
    )
    path = result.vector.save(tmp_path / "v.safetensors")
    loaded = ControlVector.load(path)
    assert loaded.layers == [1, 3]
    for i in (1, 3):
        assert torch.equal(loaded.directions[i], result.vector.directions[i])
    meta = read_metadata(path)
    assert meta["created_by"] == "ana"
    assert meta["method"] == "mean_diff"
    assert meta["layers"] == [1, 3]
    assert set(meta["norms"]) == {"1", "3"}
    assert meta["model_fingerprint"] and meta["tool_version"] and meta["created_at"]
    assert loaded.content_hash() == result.vector.content_hash()


def test_load_rejects_a_file_that_is_not_a_vector(tmp_path):
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(SteeringError, match="not a valid safetensors"):
        ControlVector.load(bad)


def test_parse_layers():
    assert parse_layers("all", 4) == [0, 1, 2, 3]
    assert parse_layers("1-2", 4) == [1, 2]
    assert parse_layers("3,1", 4) == [1, 3]
    with pytest.raises(SteeringError, match="do not exist"):
        parse_layers("2-9", 4)
    with pytest.raises(SteeringError, match="not understood"):
        parse_layers("middle", 4)


def test_heldout_scores_and_recommendation(tiny_llama):
    pairs = arithmetic_pairs(12)
    result = build_vector(tiny_llama, pairs[:8], heldout=pairs[8:])
    assert [s.layer for s in result.scores] == [0, 1, 2, 3]
    assert all(0.0 <= s.separation <= 1.0 for s in result.scores)
    assert result.recommended_layers and 0 not in result.recommended_layers


def test_separation_score_counts_pairs_projecting_higher(tiny_llama):
    # Score the vector against the rows it came from, by hand: share of pairs with a positive gap.
    pairs = arithmetic_pairs(6)
    from steering.build import score_layers

    vector = build_vector(tiny_llama, pairs, layers=[3]).vector
    score = score_layers(tiny_llama, vector, pairs)[0]
    unit = vector.directions[3].double() / vector.directions[3].double().norm()
    gaps = [
        float(
            (
                block_outputs_one_by_one(tiny_llama, p.prompt, p.positive)[3].double()
                - block_outputs_one_by_one(tiny_llama, p.prompt, p.negative)[3].double()
            )
            @ unit
        )
        for p in pairs
    ]
    assert score.separation == pytest.approx(sum(g > 0 for g in gaps) / len(gaps))
    mean = sum(gaps) / len(gaps)
    sd = (sum((g - mean) ** 2 for g in gaps) / (len(gaps) - 1)) ** 0.5
    assert score.effect_size == pytest.approx(mean / sd, rel=1e-3)


def _scores(effects, pairs=60):
    return [LayerScore(i, 1.0, e, pairs) for i, e in enumerate(effects)]


def test_recommend_ranks_by_effect_size_and_keeps_close_neighbours():
    # Separation saturates at 1.0 everywhere; the effect size still tells layers apart.
    effects = [9.0, 9.0, 0.5, 2.0, 3.0, 2.9, 1.0, 0.1, 0.4, 9.0]
    rec = recommend_layers(_scores(effects), 10)
    # Layers 0, 1 (earliest fifth) and 9 (last) are not candidates; 4 is best, 5 within one
    # standard error (sqrt(1/60 + 9/120) = 0.30), 3 is not.
    assert rec.layers == [4, 5]
    assert rec.rule == EFFECT_SIZE_RULE
    assert "Layers 4-5 separate good from flawed answers best (effect size 3.00" in rec.reason


def test_layers_that_cannot_be_told_apart_fall_back_to_the_middle_layer():
    # Every candidate within noise of the others: the pick would be a tie-break, so say so.
    effects = [5.0] * 30
    effects[20] = 5.3
    rec = recommend_layers(_scores(effects), 30)
    assert rec.layers == [15] and rec.rule == MIDDLE_LAYER_RULE
    assert rec.reason.startswith("The layers cannot be told apart on these examples")
    # No layer separating at all (best d within two standard errors of 0): also the middle layer.
    flat = recommend_layers(_scores([0.1] * 30, pairs=20), 30)
    assert flat.layers == [15] and "beyond chance" in flat.reason
    # A vector that does not cover the middle block: the scored block nearest to it.
    partial = [LayerScore(i, 1.0, 2.0, 60) for i in (6, 7, 25)]
    nearest = recommend_layers(partial, 30)
    assert nearest.layers == [7] and nearest.reason.endswith("layer 7, nearest the middle.")


def test_a_tiny_model_where_one_layer_is_built_to_separate(tiny_llama):
    """Blocks 0 and 1 made pass-through: their last-token readings cannot tell pairs apart (the
    texts end alike); block 2 sees the differing word through attention. The score ranks 2 first."""
    import copy

    from steering.build import score_layers

    loaded = copy.deepcopy(tiny_llama)
    for block in loaded.blocks[:2]:
        for name, weight in block.named_parameters():
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                weight.zero_()  # the block adds nothing: its output is its input
    rng = random.Random(0)
    words = ["apple", "river", "stone", "cloud", "green", "quiet", "tower", "light"]
    pairs = []
    for k in range(24):
        tail = " ".join(rng.choice(words) for _ in range(3)) + " end."
        pairs.append(
            Example(row=k + 1, prompt=f"Case {k}:", positive=f"yes {tail}", negative=f"no {tail}")
        )
    vector = build_vector(loaded, pairs[:12]).vector
    scores = score_layers(loaded, vector, pairs[12:])
    effects = {s.layer: s.effect_size for s in scores}
    assert abs(effects[0]) < 1e-6 and abs(effects[1]) < 1e-6
    assert effects[2] > 1.0
    rec = recommend_layers(scores, loaded.num_layers)
    assert rec.layers == [2] and rec.rule == EFFECT_SIZE_RULE


def test_the_layer_scores_are_kept_in_the_vectors_file(tiny_llama):
    """A build with held-out rows keeps each layer's score in the lineage, so the vector file
    alone can draw its layer chart again; a build without them keeps none."""
    from steering.build import stored_layer_scores

    pairs = arithmetic_pairs(16)
    result = build_vector(tiny_llama, pairs[:8], heldout=pairs[8:])
    reread = ControlVector.from_bytes(result.vector.to_bytes())
    kept = stored_layer_scores(reread.metadata)
    assert [s.layer for s in kept] == [s.layer for s in result.scores]
    for mine, score in zip(kept, result.scores, strict=True):
        assert mine.pairs == score.pairs == 8
        assert mine.separation == pytest.approx(score.separation, abs=1e-6)
        assert mine.effect_size == pytest.approx(score.effect_size, abs=1e-6)
    assert stored_layer_scores(build_vector(tiny_llama, pairs[:8]).vector.metadata) == []
