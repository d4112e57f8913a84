"""A model id that names an approved submission: ``"model": "submission-N"`` on chat and
completions is the request ``control_vector`` ``{"submission": N}`` makes on the model N was built
for (the tiny model served in-process), through the same gate: the same answer, tokens and
log-probabilities, the same refusals (status, code and message), the same usage counter and
metrics label. ``GET /v1/models`` lists ``submission-N`` for exactly the submissions a key may
use. Naming a submission in both fields is refused unless both name the same one.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from dashboard.api.settings import ApiSettings
from steering.engine.models import fingerprint
from storage import Store
from tests.api.conftest import add_submission, random_vector
from tests.api.inprocess import SPEC, serve, tiny_model, wait_until
from tests.security.conftest import make_store

STRENGTH = 2.0
REFUSED = ("draft", "submitted", "rejected", "revoked", "other_model")
CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The API on a store holding submissions of one vector in every state, and one approved
    submission built for another model."""
    tmp = tmp_path_factory.mktemp("submission-models")
    with make_store(tmp / "data") as store:
        lineage = {"model_id": SPEC, "model_fingerprint": fingerprint(tiny_model())}
        vector = random_vector(tiny_model(), 1)
        subs = {
            state: add_submission(store, vector, lineage, state.removesuffix("_b"), STRENGTH)
            for state in ("approved", "approved_b", "draft", "submitted", "rejected", "revoked")
        }
        subs["to_revoke"] = add_submission(store, vector, lineage, "approved", STRENGTH)
        subs["tampered"] = add_submission(store, vector, lineage, "submitted", STRENGTH)
        other = {"model_id": "another-model", "model_fingerprint": "0" * 32}
        subs["other_model"] = add_submission(store, vector, other, "approved")
        settings = ApiSettings(rate_per_minute=10_000)
        with serve(store, settings, data_dir=tmp) as api:
            wait_until(lambda: api.service.not_ready() is None, "the model to load")
            yield api, subs


def post(api, secret: str, path: str, body: dict) -> httpx.Response:
    return httpx.post(api.url + path, json=body, headers=api.headers(secret), timeout=120)


def chat_body(model: str, **extra: object) -> dict:
    messages = [{"role": "user", "content": "What is two plus two?"}]
    return {"model": model, "messages": messages, "temperature": 0, "max_tokens": 10} | extra


def completion_body(model: str, **extra: object) -> dict:
    body = {"model": model, "prompt": ["Two and two make", "Seven is"], "temperature": 0}
    return body | {"max_tokens": 4, "echo": True, "logprobs": 2} | extra


def by_vector(submission: int) -> dict:
    return {"control_vector": {"submission": submission}}


def named(submission: int) -> str:
    return f"submission-{submission}"


def listed(api, secret: str) -> list[str]:
    answer = httpx.get(api.url + "/v1/models", headers=api.headers(secret), timeout=60)
    assert answer.status_code == 200, answer.text
    return [m["id"] for m in answer.json()["data"]]


def without_ids(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in ("id", "created")}


def used(store: Store, key_name: str) -> dict[int, int]:
    counts: dict[int, int] = {}
    for use in store.api_usage():
        if use.key_name == key_name:
            counts[use.submission_id] = counts.get(use.submission_id, 0) + use.count
    return counts


@pytest.mark.parametrize(
    ("path", "body"), [(CHAT, chat_body), (COMPLETIONS, completion_body)], ids=["chat", "text"]
)
def test_a_submission_model_answers_as_its_control_vector(lab, path, body):
    api, subs = lab
    name = f"same-{'chat' if path == CHAT else 'text'}"
    secret = api.key(name)
    sub = subs["approved"]
    extra = {"logprobs": True} if path == CHAT else {}
    through_vector = post(api, secret, path, body(SPEC, **extra, **by_vector(sub)))
    through_model = post(api, secret, path, body(named(sub), **extra))
    unsteered = post(api, secret, path, body(SPEC, **extra))
    for answer in (through_vector, through_model, unsteered):
        assert answer.status_code == 200, answer.text
    # The whole body: text, tokens, log-probabilities, usage, the model that answered and what
    # was applied; only the answer's id and time differ.
    assert without_ids(through_model.json()) == without_ids(through_vector.json())
    assert through_model.json()["model"] == SPEC
    assert through_model.json()["control_vector"] == {
        "submission": sub,
        "strength": STRENGTH,
        "layers": [1, 2],
        "applied": True,  # an unconditional vector applies to every prompt
        "similarity": None,
    }
    assert through_model.json()["choices"] != unsteered.json()["choices"]  # it really steers
    assert used(api.ctx.store, name) == {sub: 2, 0: 1}
    requests = api.service.metrics.registry.get_sample_value(
        "cvlab_api_requests_total", {"model": SPEC, "status": "200"}
    )
    assert requests is not None and requests >= 3  # the model's label, not the submission's


def refusal(answer: httpx.Response) -> tuple[int, str, str]:
    error = answer.json()["error"]
    return answer.status_code, error["code"], error["message"]


@pytest.mark.parametrize("path", [CHAT, COMPLETIONS], ids=["chat", "text"])
@pytest.mark.parametrize("state", [*REFUSED, "unknown", "another_keys"])
def test_refusals_are_those_of_control_vector(lab, path, state):
    api, subs = lab
    body = chat_body if path == CHAT else completion_body
    name = f"refused-{state}-{'chat' if path == CHAT else 'text'}"
    if state == "another_keys":  # a key limited to another submission
        secret = api.ctx.store.add_api_key(name, [subs["approved_b"]])[1]
        sub = subs["approved"]
    else:
        secret = api.key(name)
        sub = subs.get(state, 9999)
    through_vector = post(api, secret, path, body(SPEC, **by_vector(sub)))
    through_model = post(api, secret, path, body(named(sub)))
    status, code, message = refusal(through_model)
    assert status == 403
    assert (status, code) == refusal(through_vector)[:2]
    if state == "other_model":  # no model loaded here fits it, which the message says
        assert code == "wrong_model" and "built for another model" in message
    else:  # the gate's own words: nothing more about which submissions exist
        assert message == refusal(through_vector)[2]


def test_the_kill_switch_and_a_revocation_stop_a_submission_model(lab):
    api, subs = lab
    secret = api.key("switched")
    sub = subs["to_revoke"]
    assert post(api, secret, CHAT, chat_body(named(sub))).status_code == 200
    assert named(sub) in listed(api, secret)
    store = api.ctx.store
    store.set_api_switch("steering", False)
    try:
        off = post(api, secret, CHAT, chat_body(named(sub)))
        assert refusal(off)[:2] == (503, "steering_off")
        assert refusal(off) == refusal(post(api, secret, CHAT, chat_body(SPEC, **by_vector(sub))))
        assert "retry-after" in off.headers
        assert listed(api, secret) == [SPEC]  # nothing is usable while steering is off
        assert post(api, secret, CHAT, chat_body(SPEC)).status_code == 200  # unsteered still
    finally:
        store.set_api_switch("steering", True)
    store.revoke(sub, "no longer wanted", "bob", store.get_submission(sub).version)
    revoked = post(api, secret, COMPLETIONS, completion_body(named(sub)))
    assert refusal(revoked)[:2] == (403, "submission_not_allowed")
    assert "revoked" in refusal(revoked)[2]
    assert named(sub) not in listed(api, secret)


def test_models_lists_the_submissions_each_key_may_use_and_only_those(lab):
    api, subs = lab
    store = api.ctx.store
    approved = [  # the revocation test may have revoked one already
        named(subs[s])
        for s in ("approved", "approved_b", "to_revoke")
        if store.get_submission(subs[s]).status == "approved"
    ]
    assert approved
    anyone = api.key("lists-all")
    limited = store.add_api_key("lists-one", [subs["approved_b"]])[1]
    unusable = store.add_api_key("lists-none", [subs["draft"], subs["other_model"]])[1]
    # Not the drafts, submitted, rejected or revoked ones, nor the one built for another model.
    assert listed(api, anyone) == [SPEC, *approved]
    assert listed(api, limited) == [SPEC, named(subs["approved_b"])]
    assert listed(api, unusable) == [SPEC]
    for secret in (anyone, limited):  # whatever is listed for a key is served to it
        for name in listed(api, secret)[1:]:
            assert post(api, secret, CHAT, chat_body(name)).status_code == 200


def test_a_row_approved_behind_the_store_is_neither_listed_nor_served(lab):
    api, subs = lab
    secret = api.key("tampered")
    sub = subs["tampered"]
    assert named(sub) not in listed(api, secret)  # waiting for review
    with api.ctx.store.engine.begin() as conn:  # an insider's SQL, not the review workflow
        conn.execute(text("UPDATE submissions SET status = 'approved' WHERE id = :id"), {"id": sub})
    assert named(sub) not in listed(api, secret)  # the signed trail never approved it
    for path, body in ((CHAT, chat_body), (COMPLETIONS, completion_body)):
        through_model = post(api, secret, path, body(named(sub)))
        assert refusal(through_model)[:2] == (403, "record_mismatch")
        assert refusal(through_model) == refusal(
            post(api, secret, path, body(SPEC, **by_vector(sub)))
        )


def test_both_fields_are_refused_unless_they_name_the_same_submission(lab):
    api, subs = lab
    secret = api.key("both")
    a, b = subs["approved"], subs["approved_b"]
    for path, body in ((CHAT, chat_body), (COMPLETIONS, completion_body)):
        clash = post(api, secret, path, body(named(a), **by_vector(b)))
        status, code, message = refusal(clash)
        assert (status, code) == (400, "conflicting_submission")
        assert "'model'" in message and "'control_vector'" in message
        same = post(api, secret, path, body(named(a), **by_vector(a)))
        assert same.status_code == 200, same.text
        alone = post(api, secret, path, body(named(a)))
        assert without_ids(same.json()) == without_ids(alone.json())
    for bad in ("submission-", "submission-x", "submission-03", "submission-0"):
        answer = post(api, secret, CHAT, chat_body(bad))
        assert answer.status_code == 400
        assert "'model'" in refusal(answer)[2]
