"""``POST /v1/completions`` (OpenAI's shape, no chat template) on the tiny model served in-process:
generation as the engine decodes the same tokens, ``stop``, ``echo`` with ``logprobs`` over the
prompt, the chat route's gate, and refusals naming the field.

The comparison the harness relies on: for bundled multiple-choice rows, each candidate's summed
``token_logprobs`` (``echo``, ``max_tokens: 0``) equals the lab's own candidate score
(:func:`steering.evaluation.choice_table.score_choices`, what its evaluation uses) within 1e-4,
and the same candidate wins, unsteered and with an approved submission.
"""

from __future__ import annotations

import math

import httpx
import numpy as np
import pytest

from dashboard.api.settings import ApiSettings
from steering.data.examples import load_examples
from steering.engine.models import fingerprint
from steering.engine.serving import ServeRequest, decode_batch
from steering.engine.text import format_text, prompt_ids, prompt_text
from steering.evaluation.choice_table import score_choices
from tests.api.conftest import LAYERS, add_submission, random_vector
from tests.api.inprocess import SPEC, serve, tiny_model, wait_until
from tests.security.conftest import make_store

ROOT_EXAMPLES = "assets/examples/"
STRENGTH = 2.0


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The API on a store with an approved and a draft submission of one vector."""
    tmp = tmp_path_factory.mktemp("completions")
    with make_store(tmp / "data") as store:
        lineage = {"model_id": SPEC, "model_fingerprint": fingerprint(tiny_model())}
        vector = random_vector(tiny_model(), 1)
        approved = add_submission(store, vector, lineage, "approved", STRENGTH)
        draft = add_submission(store, vector, lineage, "draft")
        with serve(store, ApiSettings(), data_dir=tmp) as api:
            wait_until(lambda: api.service.not_ready() is None, "the model to load")
            secret = api.key("harness")
            yield api, secret, vector, {"approved": approved, "draft": draft}


def complete(api, secret: str, **body: object) -> httpx.Response:
    return httpx.post(
        api.url + "/v1/completions",
        json={"model": SPEC, "temperature": 0} | body,
        headers=api.headers(secret),
        timeout=120,
    )


def test_a_completion_is_the_engines_greedy_answer_to_the_plain_prompt(lab):
    api, secret, _, _ = lab
    loaded = api.ctx.model(SPEC)
    prompt = "The capital of France is"
    tokens = []
    ids = prompt_ids(loaded.tokenizer, prompt)  # the text as sent: no chat template
    decode_batch(loaded, [ServeRequest(ids, 12)], lambda _row, token: tokens.append(token))
    expected = loaded.tokenizer.decode([t.id for t in tokens], skip_special_tokens=True)
    answer = complete(api, secret, prompt=[prompt, prompt + " Paris"], max_tokens=12)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["object"] == "text_completion"
    first, second = body["choices"]
    assert (first["index"], second["index"]) == (0, 1)
    assert first["text"] == expected
    assert first["finish_reason"] == "length"
    assert first["logprobs"] is None
    assert second["text"] != expected  # each prompt answered for itself
    assert body["usage"]["prompt_tokens"] == len(ids) + len(
        prompt_ids(loaded.tokenizer, prompt + " Paris")
    )
    assert body["usage"]["completion_tokens"] == 24
    assert body["control_vector"] is None


def test_stop_cuts_a_completion_and_echo_puts_the_prompt_first(lab):
    api, secret, _, _ = lab
    prompt = "Once upon a time"
    whole = complete(api, secret, prompt=prompt, max_tokens=30).json()["choices"][0]["text"]
    stop = next(whole[i : i + 2] for i in range(3, len(whole) - 2) if whole[i : i + 2].isalnum())
    answer = complete(api, secret, prompt=prompt, max_tokens=30, stop=[stop], echo=True)
    choice = answer.json()["choices"][0]
    assert choice["text"] == prompt + whole[: whole.find(stop)]
    assert choice["finish_reason"] == "stop"


def test_echo_scores_every_prompt_token_in_openais_shape(lab):
    api, secret, _, _ = lab
    loaded = api.ctx.model(SPEC)
    prompt = "Two and two make four."
    answer = complete(api, secret, prompt=prompt, max_tokens=0, echo=True, logprobs=3)
    assert answer.status_code == 200, answer.text
    choice = answer.json()["choices"][0]
    assert choice["text"] == prompt
    assert choice["finish_reason"] == "length"
    logprobs = choice["logprobs"]
    ids = prompt_ids(loaded.tokenizer, prompt)
    assert logprobs["tokens"] == [loaded.tokenizer.decode([i]) for i in ids]
    assert logprobs["token_logprobs"][0] is None and logprobs["top_logprobs"][0] is None
    assert len(logprobs["token_logprobs"]) == len(ids)
    # Byte tokenizer: token i starts at character i of this ASCII prompt.
    assert logprobs["text_offset"] == list(range(len(prompt)))
    for chosen, top in zip(
        logprobs["token_logprobs"][1:], logprobs["top_logprobs"][1:], strict=True
    ):
        assert len(top) == 3
        assert chosen <= max(top.values()) + 1e-6
        assert all(v <= 0 for v in top.values())
    assert answer.json()["usage"]["completion_tokens"] == 0


def test_echo_with_generated_tokens_scores_them_after_the_prompt(lab):
    api, secret, _, _ = lab
    prompt = "Count: one, two,"
    answer = complete(api, secret, prompt=prompt, max_tokens=3, echo=True, logprobs=1)
    logprobs = answer.json()["choices"][0]["logprobs"]
    text = answer.json()["choices"][0]["text"]
    assert len(logprobs["tokens"]) == len(prompt) + 3
    assert logprobs["text_offset"][len(prompt)] == len(prompt)
    assert text.startswith(prompt)
    # Without echo: only the generated tokens, the first with a log-probability of its own.
    plain = complete(api, secret, prompt=prompt, max_tokens=3, logprobs=1).json()["choices"][0]
    assert plain["logprobs"]["token_logprobs"] == pytest.approx(
        logprobs["token_logprobs"][len(prompt) :], abs=1e-6
    )
    assert plain["logprobs"]["text_offset"] == logprobs["text_offset"][len(prompt) :]


def candidate_scores(api, secret: str, row, submission: int | None) -> list[float]:
    """Each candidate's summed log-probability from /v1/completions: the text the lab scores
    (the formatted prompt followed by the candidate), echoed and scored, nothing generated."""
    tokenizer = api.ctx.model(SPEC).tokenizer
    start = len(prompt_text(tokenizer, row.prompt))
    texts = [format_text(tokenizer, row.prompt, c) for c in row.choices]
    extra = {} if submission is None else {"control_vector": {"submission": submission}}
    answer = complete(api, secret, prompt=texts, max_tokens=0, echo=True, logprobs=0, **extra)
    assert answer.status_code == 200, answer.text
    sums = []
    for choice in answer.json()["choices"]:
        logprobs = choice["logprobs"]
        pairs = zip(logprobs["text_offset"], logprobs["token_logprobs"], strict=True)
        sums.append(math.fsum(lp for offset, lp in pairs if offset >= start))
    return sums


@pytest.mark.parametrize("steered", [False, True], ids=["unsteered", "approved"])
def test_candidate_scores_through_the_api_equal_the_labs_own(lab, steered):
    api, secret, vector, subs = lab
    loaded = api.ctx.model(SPEC)
    rows = [
        *load_examples(ROOT_EXAMPLES + "arithmetic.jsonl").examples[:3],
        *load_examples(ROOT_EXAMPLES + "deduction.jsonl").examples[:2],
    ]
    alpha = STRENGTH if steered else 0.0
    table = score_choices(loaded, rows, vector=vector, alphas=[alpha], layers=list(LAYERS))
    unsteered = score_choices(loaded, rows, vector=vector, alphas=[0.0], layers=list(LAYERS))
    differs = False
    for q, row in enumerate(rows):
        ours = table[table.question == q].iloc[0]
        through_api = candidate_scores(api, secret, row, subs["approved"] if steered else None)
        assert through_api == pytest.approx(list(ours.logprobs), abs=1e-4)
        assert row.choices[int(np.argmax(through_api))] == ours.predicted
        plain = unsteered[unsteered.question == q].iloc[0]
        differs |= list(plain.logprobs) != pytest.approx(list(ours.logprobs), abs=1e-4)
    assert differs == steered  # the approved vector does change the scores


def test_completions_pass_the_same_gate_and_count_the_use(lab):
    api, secret, _, subs = lab
    before = {(u.submission_id, u.count) for u in api.ctx.store.api_usage()}
    draft = complete(api, secret, prompt="x", control_vector={"submission": subs["draft"]})
    assert draft.status_code == 403
    steered = complete(
        api, secret, prompt="x", max_tokens=2, control_vector={"submission": subs["approved"]}
    )
    assert steered.status_code == 200, steered.text
    assert steered.json()["control_vector"] == {
        "submission": subs["approved"],
        "strength": STRENGTH,
        "layers": list(LAYERS),
        "applied": True,  # an unconditional vector applies to every prompt
        "similarity": None,
    }
    after = {(u.submission_id, u.count) for u in api.ctx.store.api_usage()}
    assert after != before
    assert api.service.admission.in_flight(api.ctx.store.api_key_for(secret)) == 0


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"prompt": "x", "suffix": "y"}, "'suffix'"),
        ({"prompt": "x", "best_of": 2}, "'best_of'"),
        ({"prompt": "x", "max_tokens": 0}, "'max_tokens'"),
        ({"prompt": "x", "logprobs": 6, "echo": True}, "'logprobs'"),
        ({"prompt": [1, -2]}, "'prompt'"),
        ({"prompt": [[1], "x", 2.5]}, "'prompt'"),
        ({"prompt": [10**9]}, "'prompt'"),
        ({"prompt": "x", "stream": True}, "'stream'"),
        ({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}, "'stop'"),
    ],
)
def test_fields_it_cannot_honour_are_refused_naming_them(lab, body, named):
    api, secret, _, _ = lab
    answer = complete(api, secret, **body)
    assert answer.status_code == 400
    assert named in answer.json()["error"]["message"]


def test_a_prompt_of_token_ids_is_scored_as_its_text(lab):
    api, secret, _, _ = lab
    loaded = api.ctx.model(SPEC)
    prompt = "Seven is odd."
    ids = list(prompt_ids(loaded.tokenizer, prompt))
    as_text = complete(api, secret, prompt=prompt, max_tokens=0, echo=True, logprobs=1).json()
    as_ids = complete(api, secret, prompt=[ids], max_tokens=0, echo=True, logprobs=1).json()
    assert as_ids["choices"][0]["text"] == prompt
    assert as_ids["choices"][0]["logprobs"] == as_text["choices"][0]["logprobs"]


def test_an_answer_ended_by_end_of_text_still_lists_its_one_generated_token(tmp_path):
    """lm-evaluation-harness scores a continuation with ``echo``, ``max_tokens: 1`` and drops the
    last ``token_logprobs`` entry as the generated one. Where the model ends at once, that entry
    must be the end-of-text token, or the harness drops the continuation's last token instead."""
    model = tiny_model()
    prompt = "Count: one, two,"
    ids = prompt_ids(model.tokenizer, prompt)
    first: list = []
    decode_batch(model, [ServeRequest(ids, 1)], lambda _row, token: first.append(token))
    (picked,) = first
    # Make that token end answers, as a generation config naming a second end token does.
    model.model.generation_config.eos_token_id = [model.tokenizer.eos_token_id, picked.id]
    with make_store(tmp_path / "data") as store:
        settings = ApiSettings()
        with serve(store, settings, loader=lambda *_a, **_k: model, data_dir=tmp_path) as api:
            wait_until(lambda: api.service.not_ready() is None, "the model to load")
            secret = api.key("harness")
            ended = complete(api, secret, prompt=prompt, max_tokens=1, echo=True, logprobs=1)
            scored = complete(api, secret, prompt=prompt, max_tokens=0, echo=True, logprobs=1)
    assert ended.status_code == 200, ended.text
    choice = ended.json()["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["text"] == prompt  # the end token is not text
    logprobs = choice["logprobs"]
    assert len(logprobs["tokens"]) == len(ids) + 1
    assert logprobs["token_logprobs"][-1] == pytest.approx(picked.logprob, abs=1e-4)
    assert logprobs["text_offset"][-1] == len(prompt)
    assert ended.json()["usage"]["completion_tokens"] == 1
    prompt_only = scored.json()["choices"][0]["logprobs"]["token_logprobs"]
    assert logprobs["token_logprobs"][:-1] == pytest.approx(prompt_only, abs=1e-6, nan_ok=True)
