"""The engine side of serving: per-row deltas and the micro-batcher, on tiny in-process models.

A row served in a batch is compared with the same request decoded alone (log-probabilities
within 1e-4, the same greedy tokens), and greedy answers with the engine's own ``generate_texts``.
"""

from __future__ import annotations

import pytest
import torch

from steering.engine.generate import generate_texts
from steering.engine.serving import MicroBatcher, ServeRequest, decode_batch
from steering.engine.steer import RowSteering, row_deltas
from steering.engine.text import encode
from steering.vectors import ControlVector

PROMPTS = ["What is 2+2?", "Name a colour", "hi", "Tell me a story about a cat"]
TOKENS = 10


def vectors(loaded, count: int = 3) -> list[ControlVector]:
    generator = torch.Generator().manual_seed(7)
    layers = range(loaded.num_layers)
    return [
        ControlVector({i: 4 * torch.randn(loaded.hidden_size, generator=generator) for i in layers})
        for _ in range(count)
    ]


def decode(loaded, requests):
    tokens = [[] for _ in requests]
    reasons = decode_batch(loaded, requests, lambda row, token: tokens[row].append(token))
    return tokens, reasons


def requests_for(loaded, temperature: float = 0.0, seed: int | None = None):
    vs = vectors(loaded)
    steerings = [None, RowSteering(vs[0], 2.0, (1,)), RowSteering(vs[1], 1.5), None]
    steerings[3] = RowSteering(vs[2], 3.0, (0, 1))
    return [
        ServeRequest(encode(loaded.tokenizer, p).ids, TOKENS, s, temperature=temperature, seed=seed)
        for p, s in zip(PROMPTS, steerings, strict=True)
    ]


def test_row_deltas_put_each_rows_vector_times_strength_on_its_layers_only(tiny_llama):
    a, b = vectors(tiny_llama, 2)
    deltas = row_deltas(tiny_llama, [RowSteering(a, 2.0, (1,)), None, RowSteering(b, -0.5, (1, 3))])
    assert sorted(deltas) == [1, 3]
    assert deltas[1].shape == (3, 1, tiny_llama.hidden_size)
    assert torch.equal(deltas[1][0, 0], 2.0 * a.directions[1])
    assert torch.equal(deltas[1][1, 0], torch.zeros(tiny_llama.hidden_size))
    assert torch.equal(deltas[1][2, 0], -0.5 * b.directions[1])
    assert torch.equal(deltas[3][0, 0], torch.zeros(tiny_llama.hidden_size))
    assert torch.equal(deltas[3][2, 0], -0.5 * b.directions[3])


@pytest.mark.parametrize("model", ["tiny_llama", "tiny_gpt2"])
def test_rows_with_different_vectors_in_one_batch_match_each_served_alone(model, request):
    loaded = request.getfixturevalue(model)
    requests = requests_for(loaded)
    together, _ = decode(loaded, requests)
    for row, single in enumerate(requests):
        (alone,), _ = decode(loaded, [single])
        assert [t.id for t in together[row]] == [t.id for t in alone]
        shared = [t.logprob for t in together[row]]
        assert shared == pytest.approx([t.logprob for t in alone], abs=1e-4)
    # The vectors matter: row 1 steered differs from the same prompt unsteered.
    (plain,), _ = decode(loaded, [ServeRequest(requests[1].prompt_ids, TOKENS)])
    assert [t.logprob for t in plain] != pytest.approx([t.logprob for t in together[1]], abs=1e-4)


@pytest.mark.parametrize("model", ["tiny_llama", "tiny_gpt2"])
def test_greedy_answers_equal_the_engines_generate_texts(model, request):
    loaded = request.getfixturevalue(model)
    for single in requests_for(loaded):
        (tokens,), _ = decode(loaded, [single])
        text = loaded.tokenizer.decode([t.id for t in tokens], skip_special_tokens=True)
        prompt = PROMPTS[
            [encode(loaded.tokenizer, p).ids for p in PROMPTS].index(single.prompt_ids)
        ]
        steering = single.steering
        expected = generate_texts(
            loaded,
            [prompt],
            vector=steering.vector if steering else None,
            alphas=steering.alpha if steering else 0.0,
            layers=steering.layers if steering else None,
            max_new_tokens=TOKENS,
        )[0]
        assert text.strip() == expected


def test_seeded_sampling_draws_the_same_tokens_alone_or_batched(tiny_llama):
    requests = requests_for(tiny_llama, temperature=1.0, seed=11)
    together, _ = decode(tiny_llama, requests)
    for row, single in enumerate(requests):
        (alone,), _ = decode(tiny_llama, [single])
        assert [t.id for t in together[row]] == [t.id for t in alone]
    other = [ServeRequest(r.prompt_ids, TOKENS, r.steering, 1.0, seed=12) for r in requests]
    assert [[t.id for t in row] for row in decode(tiny_llama, other)[0]] != [
        [t.id for t in row] for row in together
    ]


def test_the_budget_ends_an_answer_with_length(tiny_llama):
    single = ServeRequest(encode(tiny_llama.tokenizer, "hi").ids, 3)
    (tokens,), reasons = decode(tiny_llama, [single])
    assert len(tokens) == 3 and reasons == ["length"]


def test_requests_arriving_together_share_one_batch_and_get_their_own_answers(tiny_llama):
    requests = requests_for(tiny_llama) * 2  # 8 requests
    expected = [[t.id for t in row] for row in decode(tiny_llama, requests)[0]]
    batcher = MicroBatcher(tiny_llama, window_s=5.0, max_batch=8)  # long window: all 8 join
    try:
        tickets = [batcher.submit(r) for r in requests]
        answers = [[t.id for t in ticket.result(timeout=120).tokens] for ticket in tickets]
    finally:
        batcher.close()
    assert batcher.batch_sizes == [8]
    assert answers == expected


def test_a_ninth_request_waits_for_the_next_batch(tiny_llama):
    requests = (requests_for(tiny_llama) * 3)[:9]
    batcher = MicroBatcher(tiny_llama, window_s=5.0, max_batch=8)
    try:
        tickets = [batcher.submit(r) for r in requests]
        for ticket in tickets:
            ticket.result(timeout=120)
    finally:
        batcher.close()
    assert batcher.batch_sizes == [8, 1]
