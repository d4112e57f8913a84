"""``GET /metrics``: Prometheus's text format, for metrics keys (``add-api-key --metrics``) and
signed-in admins; 401 without credentials, 403 for any other key or user. The counters move by
exactly the requests sent, checked against the requests' own answers and against what the
decoding loop recorded (its steps and departures), on the API served in-process
(tests/api/inprocess.py); the sign-in cookie is checked on the real app (app.py)."""

from __future__ import annotations

import threading

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dashboard.api.settings import ApiSettings
from steering.engine.models import fingerprint
from tests.api.conftest import add_submission, random_vector
from tests.api.inprocess import SPEC, chat_body, serve, tiny_model, wait_until
from tests.security.conftest import make_store
from tests.security.helpers import signed_in

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
WHOLE_TOKENS, STREAM_TOKENS = 6, 7  # different budgets tell the rows apart in the departures


@pytest.fixture()
def store(tmp_path):
    with make_store(tmp_path / "data") as opened:
        yield opened


def scrape(url: str, headers: dict[str, str]) -> Samples:
    answer = httpx.get(url + "/metrics", headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    found: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def moved_in_all(before: Samples, after: Samples, name: str) -> float:
    """How far ``name`` moved summed over all its label values."""
    return sum(after[k] - before.get(k, 0.0) for k in after if k[0] == name)


def stream(api, secret: str, **body: object) -> list[str]:
    with httpx.stream(
        "POST",
        api.url + "/v1/chat/completions",
        json=chat_body(stream=True, **body),
        headers=api.headers(secret),
        timeout=60,
    ) as answer:
        assert answer.status_code == 200
        return [line for line in answer.iter_lines() if line.startswith("data: ")]


def loaded(api):
    wait_until(lambda: api.ctx.is_loaded(SPEC), "the model to load")
    return api


def test_metrics_need_a_metrics_key(store, tmp_path):
    with serve(store, ApiSettings(), data_dir=tmp_path) as api:
        loaded(api)
        _, reader = store.add_api_key("scraper", metrics=True)
        _, gone = store.add_api_key("old-scraper", metrics=True)
        store.revoke_api_key("old-scraper")
        ordinary = api.key("team")
        anonymous = httpx.get(api.url + "/metrics")
        assert anonymous.status_code == 401
        assert "--metrics" in anonymous.json()["error"]["message"]
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        for secret in (gone, "cvl-not-a-key"):
            assert httpx.get(api.url + "/metrics", headers=api.headers(secret)).status_code == 401
        refused = httpx.get(api.url + "/metrics", headers=api.headers(ordinary))
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "metrics_not_allowed"
        assert "cvlab_api" not in refused.text
        assert (
            "cvlab_api_queue_depth 0.0"
            in httpx.get(api.url + "/metrics", headers=api.headers(reader)).text
        )
        # A metrics key is an ordinary key besides: it may call the API under the same rules.
        assert api.chat(reader).status_code == 200


def test_the_counters_move_by_exactly_the_requests_sent(store, tmp_path):
    lineage = {"model_id": SPEC, "model_fingerprint": fingerprint(tiny_model())}
    steered = add_submission(store, random_vector(tiny_model(), 1), lineage, "approved")
    with serve(store, ApiSettings(max_tokens=64), data_dir=tmp_path) as api:
        loaded(api)
        _, reader = store.add_api_key("scraper", metrics=True)
        secret = api.key("team")
        before = scrape(api.url, api.headers(reader))

        answers: list[httpx.Response] = []
        together = [
            threading.Thread(target=lambda: answers.append(api.chat(secret, max_tokens=6)))
            for _ in range(3)
        ]
        for thread in together:
            thread.start()
        for thread in together:
            thread.join(timeout=60)
        answers.append(
            api.chat(secret, max_tokens=WHOLE_TOKENS, control_vector={"submission": steered})
        )
        streams = [stream(api, secret, max_tokens=STREAM_TOKENS) for _ in range(2)]
        too_long = api.chat(secret, max_tokens=65)  # refused: past the limit (400)
        unknown = api.chat(secret, model="gpt-4")  # refused: no such model (404)
        no_key = httpx.post(api.url + "/v1/chat/completions", json=chat_body())  # 401
        assert [a.status_code for a in answers] == [200] * 4
        assert all(lines[-1] == "data: [DONE]" for lines in streams)
        assert (too_long.status_code, unknown.status_code, no_key.status_code) == (400, 404, 401)
        loop = api.loop()
        wait_until(lambda: loop.running == 0, "the rows to leave")
        after = scrape(api.url, api.headers(reader))

    requests = "cvlab_api_requests_total"
    assert moved(before, after, requests, model=SPEC, status="200") == 6
    assert moved(before, after, requests, model=SPEC, status="400") == 1
    assert moved(before, after, requests, model="unknown", status="404") == 1  # not "gpt-4"
    assert moved(before, after, requests, model="unknown", status="401") == 1
    assert moved_in_all(before, after, requests) == 9
    assert moved(before, after, "cvlab_api_request_seconds_count") == 9

    rows = "cvlab_api_rows_total"
    assert moved(before, after, rows, model=SPEC, steered="false") == 5
    assert moved(before, after, rows, model=SPEC, steered="true") == 1

    # Tokens: what the answers say they got, and what the loop made for the streams.
    departures = loop.departures
    assert len(departures) == 6
    streamed = [d for d in departures if d.ticket.request.max_new_tokens == STREAM_TOKENS]
    whole = sum(a.json()["usage"]["completion_tokens"] for a in answers)
    tokens = moved(before, after, "cvlab_api_generated_tokens_total", model=SPEC)
    assert (
        tokens == whole + sum(d.produced for d in streamed) == sum(d.produced for d in departures)
    )
    assert tokens > 0
    answered = sum(1 for d in departures if d.produced > 0)
    assert moved(before, after, "cvlab_api_time_to_first_token_seconds_count") == answered

    # Every decoding step, with the rows it ran, as the loop itself recorded them.
    steps = loop.batch_sizes
    assert moved(before, after, "cvlab_api_batch_rows_count") == len(steps)
    assert moved(before, after, "cvlab_api_batch_rows_sum") == sum(steps)
    one_row = moved(before, after, "cvlab_api_batch_rows_bucket", le="1.0")
    assert one_row == sum(1 for rows_in_step in steps if rows_in_step == 1)
    assert after[("cvlab_api_queue_depth", ())] == 0


def test_the_queue_depth_is_the_requests_waiting_for_a_row(store, tmp_path):
    with serve(store, ApiSettings(max_batch=1), data_dir=tmp_path) as api:
        loaded(api)
        _, reader = store.add_api_key("scraper", metrics=True)
        gate = api.gate()
        results: list[httpx.Response] = []
        threads = [
            threading.Thread(target=lambda i=i: results.append(api.chat(api.key(f"k{i}"))))
            for i in range(3)
        ]
        for thread in threads:
            thread.start()
        loop = api.loop()
        wait_until(lambda: loop.running == 1 and loop.waiting == 2, "one row, two waiting")
        assert scrape(api.url, api.headers(reader))[("cvlab_api_queue_depth", ())] == 2
        gate.close()
        for thread in threads:
            thread.join(timeout=60)
        assert [r.status_code for r in results] == [200, 200, 200]
        assert scrape(api.url, api.headers(reader))[("cvlab_api_queue_depth", ())] == 0


def test_the_real_app_lets_admins_and_metrics_keys_read_the_metrics(api_lab):
    made = api_lab.storage_cli("add-api-key", "prometheus", "--metrics")
    assert made.returncode == 0, made.stderr
    reader = made.stdout.strip()
    assert "prometheus" in api_lab.storage_cli("api-keys").stdout
    with api_lab.server.client() as anonymous:
        refused = anonymous.get("/metrics", headers={"accept": "text/html"})
        assert refused.status_code == 401  # not a redirect to /login
        keyed = anonymous.get("/metrics", headers={"authorization": f"Bearer {reader}"})
        assert keyed.status_code == 200 and "cvlab_api_requests_total" in keyed.text
        assert keyed.headers["x-frame-options"] == "DENY"  # behind the security headers
    with signed_in(api_lab.server, "ada") as admin:  # the sign-in cookie of an admin
        assert admin.get("/metrics").status_code == 200
        assert "cvlab_api_batch_rows_bucket" in admin.get("/metrics").text
    for name in ("bob", "ann"):  # a reviewer, a builder
        with signed_in(api_lab.server, name) as other:
            answer = other.get("/metrics")
            assert answer.status_code == 403 and "cvlab_api" not in answer.text
    ordinary = api_lab.new_key("not-a-scraper")
    with api_lab.server.client() as keyed_client:
        answer = keyed_client.get("/metrics", headers={"authorization": f"Bearer {ordinary}"})
        assert answer.status_code == 403
