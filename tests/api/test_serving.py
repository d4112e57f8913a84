"""The engine side of serving: per-row deltas and the continuous-batching decoding loop, on
tiny in-process models.

A row served in a batch is compared with the same request decoded alone (log-probabilities
within 1e-4, the same greedy tokens), and greedy answers with the engine's own ``generate_texts``.
The loop's tests hold its thread at every forward pass (:class:`StepGate`), so who joins when is
fixed by the test, not by timing; they read what the loop records (rows per step, departures).
"""

from __future__ import annotations

import threading
import time

import pytest
import torch

from steering.engine.generate import generate_texts
from steering.engine.serving import DecodingLoop, RequestTimedOut, ServeRequest, decode_batch
from steering.engine.steer import RowSteering, row_deltas
from steering.engine.text import encode
from steering.errors import SteeringError
from steering.vectors import ControlVector
from tests.api.inprocess import StepGate, wait_until

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


@pytest.fixture()
def gated(request):
    """``(loop_factory, gate)`` on the model named by the test's ``model`` parameter."""
    opened: list = []

    def start(loaded, **options):
        gate, loop = StepGate(loaded), DecodingLoop(loaded, **options)
        opened.append((gate, loop))
        return loop, gate

    yield start
    for gate, loop in opened:
        gate.close()
        loop.close()


def solo(loaded, request: ServeRequest) -> list:
    (tokens,), _ = decode(loaded, [request])
    return tokens


def take(ticket, count: int) -> list:
    stream = ticket.stream(timeout=60)
    return [next(stream) for _ in range(count)]


def assert_same_answer(shared: list, alone: list) -> None:
    assert [t.id for t in shared] == [t.id for t in alone]
    assert [t.logprob for t in shared] == pytest.approx([t.logprob for t in alone], abs=1e-4)


@pytest.mark.parametrize("model", ["tiny_llama", "tiny_gpt2"])
def test_staggered_arrivals_and_departures_answer_each_request_as_if_alone(model, request, gated):
    loaded = request.getfixturevalue(model)
    vs = vectors(loaded)
    ids = [encode(loaded.tokenizer, p).ids for p in PROMPTS]
    long = ServeRequest(ids[3], 24, stop_at_eos=False)
    joiners = [
        ServeRequest(ids[0], 5, RowSteering(vs[0], 2.0, (1,)), stop_at_eos=False),
        ServeRequest(ids[1], 8, RowSteering(vs[1], 1.5), stop_at_eos=False),
        ServeRequest(ids[2], 6, None, temperature=1.0, seed=3, stop_at_eos=False),
    ]
    expected = [solo(loaded, r) for r in [long, *joiners]]
    loop, gate = gated(loaded, max_batch=3)

    first = loop.submit(long)
    gate.allow(4)  # its prefill and three steps, alone
    early = take(first, 4)
    others = [loop.submit(r) for r in joiners]  # three arrive; two rows are free
    gate.allow(10_000)
    answers = [early + list(first.stream(timeout=60))]
    answers += [list(t.stream(timeout=60)) for t in others]

    for shared, alone in zip(answers, expected, strict=True):
        assert_same_answer(shared, alone)
    sizes = loop.batch_sizes
    assert sizes[:3] == [1, 1, 1]  # the first request alone, then joined...
    assert max(sizes) == 3  # ...by two rows at once (never more than max_batch)
    assert sizes[-1] == 1  # and it ran on alone after the others left
    left = [d.ticket for d in loop.departures]
    # The short rows left as they finished, before the long one: their answers did not wait.
    assert left.index(others[0]) < left.index(first)
    assert left[-1] is first
    assert [d.reason for d in loop.departures] == ["length"] * 4
    # The third joiner waited for a free row: it ran in no step with all of the others.
    assert loop.running == 0 and loop.waiting == 0


def test_a_request_beyond_max_batch_waits_for_a_row_and_joins_when_one_leaves(tiny_llama, gated):
    ids = encode(tiny_llama.tokenizer, "hi").ids
    short, long, third = (ServeRequest(ids, n, stop_at_eos=False) for n in (3, 10, 4))
    loop, gate = gated(tiny_llama, max_batch=2)
    tickets = [loop.submit(r) for r in (short, long, third)]
    wait_until(lambda: loop.running == 2, "two rows")
    assert loop.waiting == 1
    gate.allow(10_000)
    for ticket in tickets:
        ticket.result(timeout=60)
    assert max(loop.batch_sizes) == 2
    order = [d.ticket for d in loop.departures]
    assert order == [tickets[0], tickets[2], tickets[1]]


def test_a_cancelled_request_frees_its_row_at_the_next_step(tiny_llama, gated):
    ids = encode(tiny_llama.tokenizer, "hi").ids
    loop, gate = gated(tiny_llama, max_batch=4)
    kept = loop.submit(ServeRequest(ids, 30, stop_at_eos=False))
    dropped = loop.submit(ServeRequest(ids, 1000, stop_at_eos=False))
    gate.allow(3)
    take(dropped, 2)
    dropped.cancel()
    gate.allow(10_000)
    kept.result(timeout=60)
    (departure,) = [d for d in loop.departures if d.ticket is dropped]
    assert departure.reason == "cancelled"
    assert departure.produced < 10  # it left at once, nowhere near its 1,000 tokens
    assert dropped.result(timeout=5).finish_reason == "cancelled"
    assert loop.running == 0


def test_a_request_past_its_deadline_fails_and_frees_its_row(tiny_llama, gated):
    ids = encode(tiny_llama.tokenizer, "hi").ids
    loop, gate = gated(tiny_llama, max_batch=4)
    late = loop.submit(ServeRequest(ids, 1000, stop_at_eos=False), deadline=time.monotonic() + 0.3)
    gate.allow(2)
    take(late, 2)
    time.sleep(0.3)  # the deadline passes while the loop is held
    gate.allow(10_000)
    with pytest.raises(RequestTimedOut):
        late.result(timeout=30)
    (departure,) = loop.departures
    assert departure.reason == "timeout" and departure.produced < 10
    assert loop.running == 0


def test_a_request_that_cannot_run_is_refused_at_submit_and_others_go_on(tiny_llama, gated):
    loop, gate = gated(tiny_llama)
    wrong = ControlVector({0: torch.ones(tiny_llama.hidden_size + 1)})
    ids = encode(tiny_llama.tokenizer, "hi").ids
    with pytest.raises(SteeringError, match="hidden size"):
        loop.submit(ServeRequest(ids, 3, RowSteering(wrong, 1.0)))
    with pytest.raises(SteeringError, match="no tokens"):
        loop.submit(ServeRequest((), 3))
    gate.allow(10_000)
    assert len(loop.submit(ServeRequest(ids, 3, stop_at_eos=False)).result(60).tokens) == 3


def test_the_step_sizes_kept_are_a_bounded_recent_window(tiny_llama, gated):
    loop, gate = gated(tiny_llama, recent_steps=2)
    gate.allow(10_000)
    ids = encode(tiny_llama.tokenizer, "hi").ids
    loop.submit(ServeRequest(ids, 8, stop_at_eos=False)).result(timeout=60)
    assert loop.batch_sizes == [1, 1]  # 7 steps ran; the window keeps the last 2


def test_closing_the_loop_fails_the_running_and_the_waiting_requests(tiny_llama, gated):
    ids = encode(tiny_llama.tokenizer, "hi").ids
    loop, gate = gated(tiny_llama, max_batch=1)
    running = loop.submit(ServeRequest(ids, 100, stop_at_eos=False))
    waiting = loop.submit(ServeRequest(ids, 100, stop_at_eos=False))
    wait_until(lambda: loop.running == 1 and loop.waiting == 1, "one row, one waiting")
    closing = threading.Thread(target=loop.close)
    closing.start()
    gate.allow(10_000)
    closing.join(timeout=60)
    for ticket in (running, waiting):
        with pytest.raises(SteeringError, match="shutting down"):
            ticket.result(timeout=10)
    with pytest.raises(SteeringError, match="shutting down"):
        loop.submit(ServeRequest(ids, 3))
