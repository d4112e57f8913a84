"""A conditional vector served through the API (issue 21 point 3): ``control_vector`` says
whether it was applied and the similarity that decided it (whole, streamed in the first chunk,
and for completions per prompt), the answers are the engine's steered or plain ones accordingly,
and the usage counters (and the metrics) count applied and not-applied prompts exactly.

The vector is built as tests/steering/test_condition.py builds its own, on the tiny model the
API serves in-process: its gate opens on digit strings and stays shut on everyday words.
"""

from __future__ import annotations

import json

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dashboard.api.settings import ApiSettings
from steering.build import build_vector
from steering.data.example_set import Example
from steering.engine.gate import decide
from steering.engine.generate import generate_texts
from steering.engine.models import fingerprint
from steering.engine.text import prompt_ids
from steering.vectors import ControlVector
from tests.api.conftest import LAYERS, add_submission, random_vector
from tests.api.inprocess import SPEC, chat_body, serve, tiny_model, wait_until
from tests.security.conftest import make_store
from tests.steering.test_condition import DIGITS, WORDS

STRENGTH = 40.0  # enough to change the tiny model's answers
TOKENS = 8
TASK, EVERYDAY = DIGITS[18], WORDS[20]  # held out from the build; the gate is far from both


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The API with an approved conditional submission and an approved unconditional one."""
    tmp = tmp_path_factory.mktemp("gate")
    model = tiny_model()
    rows = [Example(prompt=p, positive=" yes", negative=" no") for p in DIGITS[:16]]
    built = build_vector(model, rows, condition="auto", everyday=WORDS[:16], layers="1-3")
    gated = built.vector
    assert gated.condition is not None
    always = ControlVector(gated.directions, dict(gated.metadata))
    lineage = {"model_id": SPEC, "model_fingerprint": fingerprint(model)}
    with make_store(tmp / "data") as store:
        conditional = add_submission(store, gated, lineage, "approved", STRENGTH)
        plain = add_submission(store, random_vector(model, 2), lineage, "approved")
        with serve(store, ApiSettings(), data_dir=tmp) as api:
            wait_until(lambda: api.service.not_ready() is None, "the model to load")
            yield api, gated, always, {"conditional": conditional, "unconditional": plain}


def chat(api, secret: str, prompt: str, submission: int, **body: object) -> httpx.Response:
    return httpx.post(
        api.url + "/v1/chat/completions",
        json=chat_body(
            messages=[{"role": "user", "content": prompt}],
            max_tokens=TOKENS,
            control_vector={"submission": submission},
            **body,
        ),
        headers=api.headers(secret),
        timeout=120,
    )


def streamed(api, secret: str, prompt: str, submission: int) -> tuple[list[dict], str]:
    """The stream's chunks (parsed) and the text they carry."""
    answer = chat(api, secret, prompt, submission, stream=True)
    assert answer.status_code == 200, answer.text
    chunks = [
        json.loads(line[len("data: ") :])
        for line in answer.text.splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    return chunks, text


def complete(api, secret: str, **body: object) -> httpx.Response:
    return httpx.post(
        api.url + "/v1/completions",
        json={"model": SPEC, "temperature": 0} | body,
        headers=api.headers(secret),
        timeout=120,
    )


def engine(api, prompt: str, vector: ControlVector | None) -> str:
    loaded = api.ctx.model(SPEC)
    return generate_texts(
        loaded,
        [prompt],
        vector=vector,
        alphas=STRENGTH if vector is not None else 0.0,
        layers=list(LAYERS),
        max_new_tokens=TOKENS,
    )[0]


def usage(api, key: str, submission: int) -> tuple[int, int, int]:
    """(requests, applied, not applied) of ``key`` with ``submission``, over every hour."""
    rows = [
        u for u in api.ctx.store.api_usage() if u.key_name == key and u.submission_id == submission
    ]
    return (
        sum(u.count for u in rows),
        sum(u.applied for u in rows),
        sum(u.not_applied for u in rows),
    )


def steered_prompts(api) -> dict[str, float]:
    text = api.service.metrics.exposition().decode()
    return {
        sample.labels["applied"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "cvlab_api_steered_prompts"
        for sample in family.samples
        if sample.name.endswith("_total")
    }


def test_chat_says_whether_the_vector_applied_whole_and_streamed(lab):
    api, gated, always, subs = lab
    secret, sub = api.key("chat"), subs["conditional"]
    loaded = api.ctx.model(SPEC)
    expected = decide(loaded, gated.condition, [TASK, EVERYDAY])
    assert [d.applied for d in expected] == [True, False]
    steered, plain = engine(api, TASK, always), engine(api, EVERYDAY, None)
    # The strength matters on both prompts: the gate, not the vector, makes the difference.
    assert steered != engine(api, TASK, None) and plain != engine(api, EVERYDAY, always)
    before = steered_prompts(api)

    for prompt, decision, text in ((TASK, expected[0], steered), (EVERYDAY, expected[1], plain)):
        answer = chat(api, secret, prompt, sub)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["choices"][0]["message"]["content"] == text
        shown = body["control_vector"]
        assert shown["submission"] == sub and shown["strength"] == STRENGTH
        assert shown["applied"] is decision.applied
        assert shown["similarity"] == pytest.approx(decision.similarity, abs=1e-6)

        chunks, streamed_text = streamed(api, secret, prompt, sub)
        assert streamed_text == text
        first, *rest = chunks
        assert first["choices"][0]["delta"]["role"] == "assistant"
        assert first["control_vector"]["applied"] is decision.applied
        assert first["control_vector"]["similarity"] == pytest.approx(decision.similarity, 1e-6)
        assert all("control_vector" not in chunk for chunk in rest)

    # Two requests each way, one whole and one streamed: counted exactly so.
    assert usage(api, "chat", sub) == (4, 2, 2)
    after = steered_prompts(api)
    assert after.get("true", 0) - before.get("true", 0) == 2
    assert after.get("false", 0) - before.get("false", 0) == 2


def test_an_unconditional_vector_is_applied_with_no_similarity(lab):
    api, _, _, subs = lab
    secret, sub = api.key("always"), subs["unconditional"]
    answer = chat(api, secret, EVERYDAY, sub)
    assert answer.status_code == 200, answer.text
    assert answer.json()["control_vector"]["applied"] is True
    assert answer.json()["control_vector"]["similarity"] is None
    chunks, _ = streamed(api, secret, EVERYDAY, sub)
    assert chunks[0]["control_vector"]["applied"] is True
    assert chunks[0]["control_vector"]["similarity"] is None
    plain = httpx.post(
        api.url + "/v1/chat/completions",
        json=chat_body(stream=True),
        headers=api.headers(secret),
        timeout=60,
    )
    first = json.loads(plain.text.splitlines()[0][len("data: ") :])
    assert first["control_vector"] is None  # unsteered: said in the first chunk too
    listed = complete(
        api, secret, prompt=[TASK, EVERYDAY], max_tokens=2, control_vector={"submission": sub}
    )
    assert listed.json()["control_vector"]["applied"] is True  # whatever the prompts
    assert listed.json()["control_vector"]["similarity"] is None
    assert usage(api, "always", sub) == (3, 4, 0)


def test_completions_gate_each_prompt_and_score_it_as_decided(lab):
    api, gated, _, subs = lab
    secret, sub = api.key("completions"), subs["conditional"]
    loaded = api.ctx.model(SPEC)
    expected = decide(loaded, gated.condition, [TASK, EVERYDAY])
    vector = {"submission": sub}

    one = complete(api, secret, prompt=TASK, max_tokens=4, control_vector=vector)
    assert one.status_code == 200, one.text
    assert one.json()["control_vector"]["applied"] is True
    both = complete(api, secret, prompt=[TASK, EVERYDAY], max_tokens=4, control_vector=vector)
    assert both.status_code == 200, both.text
    shown = both.json()["control_vector"]
    assert shown["applied"] == [True, False]
    assert shown["similarity"] == pytest.approx([d.similarity for d in expected], abs=1e-6)
    plain = complete(api, secret, prompt=EVERYDAY, max_tokens=4)
    assert both.json()["choices"][1]["text"] == plain.json()["choices"][0]["text"]

    # Nothing generated: the gate is decided for the scoring pass itself; a closed prompt is
    # scored by the plain model, an open one by the steered model.
    scored = complete(
        api,
        secret,
        prompt=[TASK, EVERYDAY],
        max_tokens=0,
        echo=True,
        logprobs=1,
        control_vector=vector,
    )
    assert scored.status_code == 200, scored.text
    assert scored.json()["control_vector"]["applied"] == [True, False]
    unsteered = complete(api, secret, prompt=[TASK, EVERYDAY], max_tokens=0, echo=True, logprobs=1)
    steered_lp, closed_lp = (c["logprobs"]["token_logprobs"] for c in scored.json()["choices"])
    plain_task, plain_everyday = (
        c["logprobs"]["token_logprobs"] for c in unsteered.json()["choices"]
    )
    assert closed_lp[1:] == pytest.approx(plain_everyday[1:], abs=1e-5)
    assert steered_lp[1:] != pytest.approx(plain_task[1:], abs=1e-3)
    assert len(steered_lp) == len(prompt_ids(loaded.tokenizer, TASK))
    # Each prompt counts: 1 + 2 + 2 prompts, 3 of them open, over 3 requests.
    assert usage(api, "completions", sub) == (3, 3, 2)
    assert usage(api, "completions", 0)[1:] == (0, 0)  # unsteered: neither


def test_a_conditional_vector_needs_a_user_message_to_read(lab):
    api, _, _, subs = lab
    secret = api.key("nobody")
    answer = httpx.post(
        api.url + "/v1/chat/completions",
        json=chat_body(
            messages=[{"role": "system", "content": "Be brief."}],
            control_vector={"submission": subs["conditional"]},
        ),
        headers=api.headers(secret),
        timeout=60,
    )
    assert answer.status_code == 400, answer.text
    assert "conditional" in answer.json()["error"]["message"]
    assert usage(api, "nobody", subs["conditional"]) == (0, 0, 0)
