"""A conditional vector's gate in the serving engine: decided once per row when it joins the
decoding loop, then the row is steered (open) or plain (closed) for its whole answer.

The vector is built as tests/steering/test_condition.py builds its own (two planted prompt
families on a tiny model: the gate opens on digit strings, not on everyday words); an open row is
compared with the same vector made unconditional, a closed one with the plain model, in float32.
"""

from __future__ import annotations

import pytest
import torch

import steering.engine.decoding_rows as decoding_rows
from steering.build import build_vector
from steering.data.example_set import Example
from steering.engine.gate import GateDecision, decide
from steering.engine.serving import DecodingLoop, ServeRequest, Token, decode_batch
from steering.engine.steer import RowSteering
from steering.engine.text import encode
from steering.errors import SteeringError
from steering.evaluation.token_logprobs import token_logprobs
from steering.vectors import ControlVector
from tests.api.inprocess import StepGate, wait_until
from tests.steering.test_condition import DIGITS, WORDS
from tests.tiny import make_tiny

STRENGTH = 40.0  # enough to change this tiny model's answers (test_condition uses it too)
TOKENS = 8
TASK, EVERYDAY, OTHER = DIGITS[20], WORDS[20], WORDS[21]  # never seen by the build


@pytest.fixture(scope="module")
def built():
    """``(loaded, gated, always)``: a conditional vector and the same vector unconditional."""
    loaded = make_tiny("llama", seed=3)
    rows = [Example(prompt=p, positive=" yes", negative=" no") for p in DIGITS[:16]]
    result = build_vector(loaded, rows, condition="auto", everyday=WORDS[:16], layers="1-3")
    gated = result.vector
    assert gated.condition is not None
    always = ControlVector(gated.directions, dict(gated.metadata))
    return loaded, gated, always


def request(loaded, prompt: str, vector: ControlVector | None, *, gate_text: bool = True):
    steering = RowSteering(vector, STRENGTH) if vector is not None else None
    return ServeRequest(
        encode(loaded.tokenizer, prompt).ids,
        TOKENS,
        steering,
        stop_at_eos=False,
        gate_text=prompt if gate_text else None,
    )


def alone(loaded, one: ServeRequest) -> list[Token]:
    tokens: list[Token] = []
    decode_batch(loaded, [one], lambda _row, token: tokens.append(token))
    return tokens


def assert_same(shared: list[Token], reference: list[Token]) -> None:
    assert [t.id for t in shared] == [t.id for t in reference]
    assert [t.logprob for t in shared] == pytest.approx([t.logprob for t in reference], abs=1e-5)


def test_gated_rows_in_a_shared_batch_equal_unconditional_steering_and_the_plain_model(built):
    loaded, gated, always = built
    open_row = request(loaded, TASK, gated)
    closed_row = request(loaded, EVERYDAY, gated)
    steady_row = request(loaded, OTHER, always)  # an unconditional vector: always steered
    steered_task = alone(loaded, request(loaded, TASK, always))
    plain_everyday = alone(loaded, request(loaded, EVERYDAY, None))
    steady = alone(loaded, steady_row)
    # The strength matters for both prompts, so matching one reference or the other means
    # something: unconditional steering changes the task and the everyday answer.
    assert [t.id for t in steered_task] != [
        t.id for t in alone(loaded, request(loaded, TASK, None))
    ]
    assert [t.id for t in plain_everyday] != [
        t.id for t in alone(loaded, request(loaded, EVERYDAY, always))
    ]

    hold, loop = StepGate(loaded), DecodingLoop(loaded, max_batch=4)
    try:
        # A one-token request holds the loop at its prefill while the three queue up, so that
        # they are admitted (and gated) together.
        blocker = loop.submit(ServeRequest(open_row.prompt_ids, 1, stop_at_eos=False))
        wait_until(lambda: loop.running == 1, "the blocker admitted")
        tickets = [loop.submit(r) for r in (open_row, closed_row, steady_row)]
        assert loop.waiting == 3
        seen: list[GateDecision | None] = []
        tickets[0].listen(lambda: seen.append(tickets[0].gate))
        hold.allow(10_000)
        done = [t.result(timeout=60) for t in tickets]
        assert len(blocker.result(timeout=60).tokens) == 1
    finally:
        hold.close()
        loop.close()

    assert_same(list(done[0].tokens), steered_task)
    assert_same(list(done[1].tokens), plain_everyday)
    assert_same(list(done[2].tokens), steady)
    # The three rows ran every step together: one prefill, then TOKENS - 1 steps of 3 rows.
    assert loop.batch_sizes == [3] * (TOKENS - 1)
    # The decision is on the Completion (and on the ticket before its first event).
    assert done[0].gate is not None and done[0].gate.applied
    assert done[1].gate is not None and not done[1].gate.applied
    assert done[2].gate is None  # unconditional: no gate
    assert seen[0] == done[0].gate
    expected = decide(loaded, gated.condition, [TASK, EVERYDAY])
    for got, want in zip((done[0].gate, done[1].gate), expected, strict=True):
        assert got.applied == want.applied
        assert got.similarity == pytest.approx(want.similarity, abs=1e-6)
    assert done[0].gate.similarity >= gated.condition.threshold > done[1].gate.similarity


def test_joiners_sharing_a_condition_are_gated_in_one_call(built, monkeypatch):
    loaded, gated, always = built
    calls: list[list[str]] = []

    def counted(model, condition, prompts, **options):
        calls.append(list(prompts))
        return decide(model, condition, prompts, **options)

    monkeypatch.setattr(decoding_rows, "decide", counted)
    gates: dict[int, GateDecision] = {}
    rows = [
        request(loaded, TASK, gated),
        request(loaded, OTHER, always),
        request(loaded, EVERYDAY, None),
        request(loaded, DIGITS[21], gated),
    ]
    decode_batch(loaded, rows, lambda _row, _token: None, gates.__setitem__)
    assert calls == [[TASK, DIGITS[21]]]  # one batched pass, the conditional rows only
    assert sorted(gates) == [0, 3]
    assert gates[0].applied and gates[3].applied


def test_a_conditional_row_without_the_users_text_is_refused_at_submit(built, tiny_llama):
    loaded, gated, _ = built
    loop = DecodingLoop(loaded)
    try:
        with pytest.raises(SteeringError, match="gate_text"):
            loop.submit(request(loaded, TASK, gated, gate_text=False))
        # Strength 0 steers nothing, so there is no gate to decide.
        zero = ServeRequest(encode(loaded.tokenizer, TASK).ids, 2, RowSteering(gated, 0.0))
        assert loop.submit(zero).result(timeout=60).gate is None
    finally:
        loop.close()
    # A condition read at a block the model does not have: built for another model.
    size = tiny_llama.hidden_size
    moved = ControlVector(
        {0: torch.ones(size)},
        condition=type(gated.condition)(tiny_llama.num_layers, torch.ones(size), 0.1, 1.0),
    )
    with pytest.raises(SteeringError, match="another model"):
        decode_batch(
            tiny_llama,
            [ServeRequest((1, 2, 3), 2, RowSteering(moved, 1.0), gate_text="hi")],
            lambda _row, _token: None,
        )


def scores(loaded, text: str, **options):
    ids = encode(loaded.tokenizer, text).ids
    return token_logprobs(loaded, ids, top=3, **options)


def test_the_scoring_pass_is_gated_on_the_prompt_in_the_same_way(built):
    loaded, gated, always = built
    on, off = RowSteering(gated, STRENGTH), RowSteering(always, STRENGTH)
    opened = scores(loaded, TASK, steering=on, gate_text=TASK)
    closed = scores(loaded, EVERYDAY, steering=on, gate_text=EVERYDAY)
    steered = scores(loaded, TASK, steering=off)
    plain_task, plain = scores(loaded, TASK), scores(loaded, EVERYDAY)
    assert opened.logprobs[1:] == pytest.approx(steered.logprobs[1:], abs=1e-5)
    assert opened.logprobs[1:] != pytest.approx(plain_task.logprobs[1:], abs=1e-3)
    assert closed.logprobs[1:] == pytest.approx(plain.logprobs[1:], abs=1e-5)
    assert closed.logprobs[1:] != pytest.approx(
        scores(loaded, EVERYDAY, steering=off).logprobs[1:], abs=1e-3
    )
    assert opened.gate.applied and not closed.gate.applied
    assert steered.gate is None and plain.gate is None
    # A decision already made (the decoding loop's) is used as given.
    forced = scores(loaded, TASK, steering=on, gate=GateDecision(False, 0.0))
    assert forced.logprobs[1:] == pytest.approx(plain_task.logprobs[1:], abs=1e-5)
    assert forced.gate == GateDecision(False, 0.0)
    with pytest.raises(SteeringError, match="gate_text"):
        scores(loaded, TASK, steering=on)
