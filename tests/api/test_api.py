"""The OpenAI-compatible API driven with the official ``openai`` client against the real app.

Expected answers are the engine's own (``generate_texts`` on the same model folder loaded in
this process), never the API's output read back. Every test uses its own key, so the per-key
rate limit of the server (25 a minute) only bites in the test about it.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading

import httpx
import openai
import pytest

from steering.engine.generate import generate_texts
from steering.engine.text import encode
from tests.api.conftest import ADMIN, LAYERS, RATE_PER_MINUTE, ApiLab
from tests.security.helpers import sign_in

PROMPT = "What is two plus two?"
TOKENS = 12


def client(lab: ApiLab, secret: str) -> openai.OpenAI:
    # No retries: a 429 or 503 must reach the test, not be retried away.
    return openai.OpenAI(base_url=lab.base_url, api_key=secret, max_retries=0, timeout=120)


def ask(api: openai.OpenAI, lab: ApiLab, prompt: str = PROMPT, submission: int | None = None, **kw):
    extra = {"control_vector": {"submission": submission}} if submission is not None else None
    return api.chat.completions.create(
        model=lab.model.name,
        messages=[{"role": "user", "content": prompt}],
        temperature=kw.pop("temperature", 0),
        max_tokens=kw.pop("max_tokens", TOKENS),
        extra_body=extra,
        **kw,
    )


def engine_answer(lab: ApiLab, prompt: str = PROMPT, vector=None, alpha: float = 0.0) -> str:
    return generate_texts(
        lab.model,
        [prompt],
        vector=vector,
        alphas=alpha,
        layers=list(LAYERS),
        max_new_tokens=TOKENS,
    )[0]


def test_models_lists_the_loaded_model_by_its_dashboard_name(api_lab):
    api = client(api_lab, api_lab.new_key("models"))
    # The folder's name, as the model card shows it; then the key's submission-N ids.
    listed = [m.id for m in api.models.list() if not m.id.startswith("submission-")]
    assert listed == [api_lab.model.name]


def test_unsteered_answer_is_the_engines_greedy_answer(api_lab):
    api = client(api_lab, api_lab.new_key("plain"))
    answer = ask(api, api_lab)
    assert answer.choices[0].message.content.strip() == engine_answer(api_lab)
    assert answer.usage.prompt_tokens == len(encode(api_lab.model.tokenizer, PROMPT).ids)
    assert answer.model == api_lab.model.name
    assert answer.model_extra["control_vector"] is None


def test_steered_answer_is_the_engines_answer_at_the_approved_strength(api_lab):
    api = client(api_lab, api_lab.new_key("steered"))
    sub = api_lab.submissions["approved_b"]  # approved at strength 3.0 on layers 1, 2
    answer = ask(api, api_lab, submission=sub)
    expected = engine_answer(api_lab, vector=api_lab.vectors["b"], alpha=3.0)
    assert answer.choices[0].message.content.strip() == expected
    assert expected != engine_answer(api_lab)  # the vector really changes the answer
    assert answer.model_extra["control_vector"] == {
        "submission": sub,
        "strength": 3.0,
        "layers": list(LAYERS),
        "applied": True,  # an unconditional vector applies to every prompt
        "similarity": None,
    }


def test_streaming_sends_the_same_answer_in_pieces(api_lab):
    api = client(api_lab, api_lab.new_key("stream"))
    sub = api_lab.submissions["approved_a"]
    whole = ask(api, api_lab, submission=sub).choices[0].message.content
    chunks = list(ask(api, api_lab, submission=sub, stream=True))
    pieces = [c.choices[0].delta.content or "" for c in chunks]
    assert len([p for p in pieces if p]) > 1
    assert "".join(pieces) == whole
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_no_key_a_wrong_key_or_the_dashboard_cookie_alone_get_401(api_lab):
    body = {"model": api_lab.model.name, "messages": [{"role": "user", "content": "hi"}]}
    with api_lab.server.client() as anonymous:
        refused = anonymous.post("/v1/chat/completions", json=body)
        assert refused.status_code == 401
        assert refused.json()["error"]["type"] == "authentication_error"
        assert anonymous.get("/v1/models").status_code == 401
    with api_lab.server.client() as browser:
        assert sign_in(browser, "ann").status_code == 200  # a valid dashboard session
        assert browser.get("/config").status_code == 200  # the cookie works on the dashboard
        assert browser.post("/v1/chat/completions", json=body).status_code == 401
        assert browser.get("/v1/models").status_code == 401
    with pytest.raises(openai.AuthenticationError):
        ask(client(api_lab, "cvl-not-a-key-anyone-was-given"), api_lab)


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ("draft", "never submitted"),
        ("submitted", "waiting for review"),
        ("rejected", "was rejected"),
        ("revoked", "revoked"),
        ("other_model", "built for another model"),
    ],
)
def test_each_non_approved_state_is_refused_with_403_saying_why(api_lab, state, words):
    api = client(api_lab, api_lab.new_key(f"state-{state}"))
    with pytest.raises(openai.PermissionDeniedError) as refused:
        ask(api, api_lab, submission=api_lab.submissions[state])
    error = refused.value.body
    assert words in error["message"]
    assert refused.value.status_code == 403
    assert error["type"] == "permission_error"


def test_an_unknown_submission_is_refused_with_403(api_lab):
    api = client(api_lab, api_lab.new_key("unknown-sub"))
    with pytest.raises(openai.PermissionDeniedError, match="no submission 9999"):
        ask(api, api_lab, submission=9999)


def test_a_key_limited_to_some_submissions_is_refused_the_others(api_lab):
    allowed = api_lab.submissions["approved_b"]
    api = client(api_lab, api_lab.new_key("limited", [allowed]))
    assert ask(api, api_lab, submission=allowed).choices[0].message.content is not None
    with pytest.raises(openai.PermissionDeniedError, match="not allowed to use submission"):
        ask(api, api_lab, submission=api_lab.submissions["approved_a"])


def test_revoking_a_submission_or_a_key_takes_effect_on_the_next_request(api_lab):
    name = "revocable"
    api = client(api_lab, api_lab.new_key(name))
    sub = api_lab.submissions["to_revoke"]
    ask(api, api_lab, submission=sub)  # served while approved
    current = api_lab.store.get_submission(sub)
    api_lab.store.revoke(sub, "pulled from production", "bob", current.version)
    with pytest.raises(openai.PermissionDeniedError, match="revoked"):
        ask(api, api_lab, submission=sub)
    ask(api, api_lab)  # the key itself still works
    api_lab.store.revoke_api_key(name)
    with pytest.raises(openai.AuthenticationError):
        ask(api, api_lab)


def test_the_global_switch_stops_steered_requests_only(api_lab):
    api = client(api_lab, api_lab.new_key("switch"))
    sub = api_lab.submissions["approved_a"]
    off = api_lab.storage_cli("steering-off")
    assert off.returncode == 0, off.stderr
    try:
        with pytest.raises(openai.InternalServerError) as stopped:
            ask(api, api_lab, submission=sub)
        assert stopped.value.status_code == 503
        assert "switched off" in stopped.value.body["message"]
        assert int(stopped.value.response.headers["retry-after"]) >= 1
        assert ask(api, api_lab).choices[0].message.content.strip() == engine_answer(api_lab)
    finally:
        on = api_lab.storage_cli("steering-on")
    assert on.returncode == 0, on.stderr
    ask(api, api_lab, submission=sub)  # served again
    events = [e for e in api_lab.store.audit_events(object_type="api") if e.object_id == "steering"]
    assert [(e.action, e.actor) for e in events[-2:]] == [
        ("api.steering_off", "system"),
        ("api.steering_on", "system"),
    ]


def test_the_rate_limit_answers_429_beyond_the_keys_requests_per_minute(api_lab):
    api = client(api_lab, api_lab.new_key("busy"))
    for _ in range(RATE_PER_MINUTE):
        api.models.list()
    with pytest.raises(openai.RateLimitError) as limited:
        api.models.list()
    assert limited.value.body["type"] == "rate_limit_error"
    assert 1 <= int(limited.value.response.headers["retry-after"]) <= 60
    other = client(api_lab, api_lab.new_key("quiet"))  # per key: another key is not limited
    assert [m.id for m in other.models.list()][0] == api_lab.model.name


def _logprobs(answer) -> list[float]:
    return [entry.logprob for entry in answer.choices[0].logprobs.content]


def test_concurrent_requests_with_different_vectors_match_each_served_alone(api_lab):
    api = client(api_lab, api_lab.new_key("crowd"))
    subs = [api_lab.submissions["approved_a"], api_lab.submissions["approved_b"], None]
    prompts = ["Name a colour.", "What is 7 times 6?", "Say hello.", "Count to three."]
    jobs = [(prompts[i % 4], subs[i % 3]) for i in range(8)]
    together: list = [None] * len(jobs)
    start = threading.Barrier(len(jobs))

    def run(i: int) -> None:
        start.wait()
        together[i] = ask(api, api_lab, jobs[i][0], jobs[i][1], logprobs=True)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    for (prompt, sub), shared in zip(jobs, together, strict=True):
        alone = ask(api, api_lab, prompt, sub, logprobs=True)
        assert shared.choices[0].message.content == alone.choices[0].message.content
        assert _logprobs(shared) == pytest.approx(_logprobs(alone), abs=1e-4)
    # The rows really differ: the first (vector a) is not the same prompt unsteered.
    unsteered = ask(api, api_lab, jobs[0][0], None, logprobs=True)
    assert _logprobs(unsteered) != pytest.approx(_logprobs(together[0]), abs=1e-4)


def test_usage_is_counted_per_key_and_submission(api_lab):
    name = "counted"
    api = client(api_lab, api_lab.new_key(name))
    sub = api_lab.submissions["approved_a"]
    for _ in range(3):
        ask(api, api_lab, max_tokens=2)
    for _ in range(2):
        ask(api, api_lab, submission=sub, max_tokens=2)
    with pytest.raises(openai.PermissionDeniedError):
        ask(api, api_lab, submission=api_lab.submissions["draft"])  # refused: not counted
    mine = {u.submission_id: u.count for u in api_lab.store.api_usage() if u.key_name == name}
    assert mine == {0: 3, sub: 2}


def _database_bytes(lab: ApiLab) -> bytes:
    """The SQLite file and its write-ahead log, as an attacker copying the disk would see them."""
    return b"".join(p.read_bytes() for p in lab.data_dir.glob("lab.db*") if p.is_file())


def test_keys_are_stored_hashed_only(api_lab):
    secret = api_lab.new_key("hashed")
    assert secret.encode() not in _database_bytes(api_lab)
    with sqlite3.connect(api_lab.data_dir / "lab.db") as db:
        stored = db.execute("SELECT key_hash FROM api_keys WHERE name = 'hashed'").fetchone()[0]
    assert stored == hashlib.sha256(secret.encode()).hexdigest()


def test_prompts_are_not_stored_unless_sampling_is_on(api_lab):
    api = client(api_lab, api_lab.new_key("private"))
    marker = "zebra-quartz-1729"
    ask(api, api_lab, f"Keep this secret: {marker}", max_tokens=2)
    assert marker.encode() not in _database_bytes(api_lab)
    assert api_lab.store.api_samples() == []
    assert api_lab.storage_cli("api-sampling", "on").returncode == 0
    try:
        ask(api, api_lab, f"Keep this too: {marker}", max_tokens=2)
    finally:
        assert api_lab.storage_cli("api-sampling", "off").returncode == 0
    kept = api_lab.store.api_samples()
    assert [s.messages[0]["content"] for s in kept] == [f"Keep this too: {marker}"]
    actions = [e.action for e in api_lab.store.audit_events(object_type="api")]
    assert actions[-2:] == ["api.sampling_on", "api.sampling_off"]


def test_creating_and_revoking_keys_is_audited(api_lab):
    made = api_lab.storage_cli("add-api-key", "audited", "--submissions", "1")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("cvl-") and "\n" not in secret  # the key alone on stdout
    assert api_lab.store.api_key_for(secret).submissions == (1,)
    api_lab.store.revoke_api_key("audited", actor=ADMIN)
    events = api_lab.store.audit_events(object_type="api_key", object_id="audited")
    assert [(e.action, e.actor) for e in events] == [
        ("api_key.create", "system"),
        ("api_key.revoke", ADMIN),
    ]
    assert events[0].details == {"prefix": secret[:8], "submissions": [1], "metrics": False}
    assert secret not in str([e.details for e in events])
    assert api_lab.store.api_key_for(secret) is None


def test_bad_requests_get_openai_shaped_400s(api_lab):
    secret = api_lab.new_key("sloppy")
    headers = {"authorization": f"Bearer {secret}"}
    url = api_lab.base_url + "/chat/completions"
    cases = [
        ({"messages": [{"role": "user", "content": "x"}]}, "'model' is required"),
        ({"model": api_lab.model.name, "messages": []}, "'messages'"),
        (
            {
                "model": api_lab.model.name,
                "messages": [{"role": "user", "content": "x"}],
                "temperature": 5,
            },
            "'temperature'",
        ),
        (
            {
                "model": api_lab.model.name,
                "messages": [{"role": "user", "content": "x"}],
                "control_vector": {"submission": "one"},
            },
            "control_vector.submission",
        ),
    ]
    for body, words in cases:
        answer = httpx.post(url, json=body, headers=headers, timeout=30)
        assert answer.status_code == 400, body
        assert words in answer.json()["error"]["message"]
        assert answer.json()["error"]["type"] == "invalid_request_error"
    unknown = httpx.post(
        url,
        json={"model": "gpt-4", "messages": [{"role": "user", "content": "x"}]},
        headers=headers,
        timeout=30,
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "not_found_error"


def test_a_huge_max_tokens_is_refused_with_400_naming_the_limit_not_clamped(api_lab):
    api = client(api_lab, api_lab.new_key("huge"))
    with pytest.raises(openai.BadRequestError) as refused:
        ask(api, api_lab, max_tokens=1_000_000_000, stream=True)
    assert refused.value.body["code"] == "max_tokens_too_large"
    assert "at most 1,024 new tokens" in refused.value.body["message"]  # the default limit
    assert ask(api, api_lab, max_tokens=1024).choices[0].finish_reason in ("stop", "length")
