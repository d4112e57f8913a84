"""Batched and prefix-shared readings equal one-text-at-a-time readings."""

import pytest
import torch

from steering.engine.activations import (
    can_share_prefix,
    common_prefix_length,
    iter_block_outputs,
    prefix_groups,
)
from steering.engine.text import encode
from tests.steering.pairs import arithmetic_pairs
from tests.steering.reference import block_outputs_one_by_one
from tests.tiny import make_tiny


# Own copies of the tiny models: the reference readings use output_hidden_states, which leaves a
# transformers recording hook on the blocks, and test_steer counts the hooks of the shared fixtures.
@pytest.fixture(scope="module")
def tiny_llama():
    return make_tiny("llama", chat_template=True)


@pytest.fixture(scope="module")
def tiny_gpt2():
    return make_tiny("gpt2", chat_template=False)


def pair_texts(loaded, pairs):
    tok = loaded.tokenizer
    positives = [encode(tok, p.prompt, p.positive) for p in pairs]
    negatives = [encode(tok, p.prompt, p.negative) for p in pairs]
    return positives + negatives, [(p.prompt, p.positive) for p in pairs] + [
        (p.prompt, p.negative) for p in pairs
    ]


def read_all(loaded, encoded, **kwargs):
    layers = list(range(loaded.num_layers))
    out = torch.zeros(len(encoded), len(layers), loaded.hidden_size)
    seen = []
    for indices, readings in iter_block_outputs(loaded, encoded, layers, **kwargs):
        seen.extend(indices)
        for i in layers:
            out[indices, i] = readings[i]
    assert sorted(seen) == list(range(len(encoded)))
    return out


@pytest.mark.parametrize("share_prefix", [True, False])
@pytest.mark.parametrize("padding_side", ["left", "right"])
@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_gpt2"])
def test_batched_readings_equal_one_text_at_a_time(request, fixture, padding_side, share_prefix):
    loaded = request.getfixturevalue(fixture)
    encoded, texts = pair_texts(loaded, arithmetic_pairs(9))
    got = read_all(
        loaded, encoded, batch_size=4, padding_side=padding_side, share_prefix=share_prefix
    )
    for k, (prompt, completion) in enumerate(texts):
        expected = torch.stack(block_outputs_one_by_one(loaded, prompt, completion))
        assert torch.allclose(got[k], expected, rtol=1e-4, atol=1e-5), (k, fixture)


@pytest.mark.parametrize("padding_side", ["left", "right"])
@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_gpt2"])
def test_shared_and_plain_paths_agree_for_mean_position(request, fixture, padding_side):
    loaded = request.getfixturevalue(fixture)
    encoded, _ = pair_texts(loaded, arithmetic_pairs(7))
    kwargs = dict(position="mean", batch_size=5, padding_side=padding_side)
    shared = read_all(loaded, encoded, share_prefix=True, **kwargs)
    plain = read_all(loaded, encoded, share_prefix=False, **kwargs)
    one_by_one = read_all(loaded, encoded, share_prefix=False, position="mean", batch_size=1)
    assert torch.allclose(shared, one_by_one, rtol=1e-4, atol=1e-5)
    assert torch.allclose(plain, one_by_one, rtol=1e-4, atol=1e-5)


def test_groups_share_thecommon_prefix_length_but_keep_the_read_tokens(tiny_llama):
    encoded, _ = pair_texts(tiny_llama, arithmetic_pairs(4))
    groups = prefix_groups(encoded)
    assert sorted(len(g.members) for g in groups) == [2, 2, 2, 2]
    for g in groups:
        pos, neg = (encoded[i] for i in g.members)
        assert g.members[1] == g.members[0] + 4
        assert pos.ids[: g.shared] == neg.ids[: g.shared]
        assert g.shared >= pos.prompt_len  # the completions start alike ("The answer is"/"n plus")
        assert g.shared < min(len(pos.ids), len(neg.ids))
    mean_groups = prefix_groups(encoded, position="mean")
    assert all(g.shared <= encoded[g.members[0]].prompt_len for g in mean_groups)


def test_a_start_shared_by_the_groups_of_a_batch_runs_once(tiny_llama):
    encoded, texts = pair_texts(tiny_llama, arithmetic_pairs(8))
    passes = []
    embed = tiny_llama.model.get_input_embeddings()
    handle = embed.register_forward_hook(lambda _m, inputs, _o: passes.append(inputs[0].tolist()))
    try:
        got = read_all(tiny_llama, encoded, batch_size=8, share_prefix=True)
    finally:
        handle.remove()
    everyone = common_prefix_length(
        [e.ids for e in encoded]
    )  # the chat template's "<|user|>What is "
    assert everyone >= 2
    one_row = [rows[0] for rows in passes if len(rows) == 1]
    assert len(one_row) == 2  # 8 pairs in batches of 8 texts: two batches of four groups
    for start in one_row:
        assert len(start) >= everyone
        assert sum(list(e.ids[: len(start)]) == start for e in encoded) >= 8
    prompt, completion = texts[5]
    expected = torch.stack(block_outputs_one_by_one(tiny_llama, prompt, completion))
    assert torch.allclose(got[5], expected, rtol=1e-4, atol=1e-5)


def test_texts_without_a_shared_prompt_are_read_alone(tiny_llama):
    tok = tiny_llama.tokenizer
    encoded = [encode(tok, "Hello there", "yes"), encode(tok, "Goodbye", "no")]
    assert [g.shared for g in prefix_groups(encoded)] == [0, 0]
    got = read_all(tiny_llama, encoded, share_prefix=True)
    expected = torch.stack(block_outputs_one_by_one(tiny_llama, "Goodbye", "no"))
    assert torch.allclose(got[1], expected, rtol=1e-4, atol=1e-5)


def test_stops_after_the_last_needed_layer(tiny_llama):
    encoded, _ = pair_texts(tiny_llama, arithmetic_pairs(3))
    calls = []
    last = tiny_llama.blocks[-1]
    handle = last.register_forward_hook(lambda *_: calls.append(1))
    try:
        for _ in iter_block_outputs(tiny_llama, encoded, [1], share_prefix=True):
            pass
    finally:
        handle.remove()
    assert calls == []


def test_sliding_window_gemma3_never_shares_a_prefix_and_reads_exactly():
    """Gemma 3 mixes sliding-window and full attention. A window of 8 tokens, shorter than every
    text here, makes a shared prefix inexact, so sharing must stay off even when asked for, and
    the batched readings must still equal one text at a time."""
    loaded = make_tiny("gemma3_text", chat_template=False, sliding_window=8)
    text = loaded.model.config
    assert text.sliding_window == 8 and "sliding_attention" in text.layer_types
    assert not can_share_prefix(loaded.model)
    encoded, texts = pair_texts(loaded, arithmetic_pairs(6))
    assert min(len(e.ids) for e in encoded) > 8
    got = read_all(loaded, encoded, batch_size=4, padding_side="right", share_prefix=True)
    for k, (prompt, completion) in enumerate(texts):
        expected = torch.stack(block_outputs_one_by_one(loaded, prompt, completion))
        assert torch.allclose(got[k], expected, rtol=1e-4, atol=1e-5), k
