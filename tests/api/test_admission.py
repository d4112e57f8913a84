"""Admission with back-pressure, against the API served in-process (tests/api/inprocess.py) with
its decoding loop held at every step, so requests stay in flight exactly as long as the test
wants: a key past its requests in flight gets 429, a request that would wait past the queue gets
503, both at once and with Retry-After; ``max_tokens`` past the limit is 400, never clamped."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from dashboard.api.protocol import DONE_EVENT, parse_chat
from dashboard.api.settings import ApiSettings
from storage import Store
from tests.api.inprocess import SPEC, chat_body, serve, wait_until


@pytest.fixture()
def store(tmp_path):
    with Store.open(None, tmp_path / "data") as opened:
        yield opened


def in_background(api, secret: str, results: list, **body) -> threading.Thread:
    thread = threading.Thread(target=lambda: results.append(api.chat(secret, **body)))
    thread.start()
    return thread


def retry_after(answer: httpx.Response) -> int:
    value = int(answer.headers["retry-after"])  # whole seconds
    assert value >= 1
    return value


def test_a_key_past_its_requests_in_flight_gets_429_at_once_and_others_go_on(store, tmp_path):
    with serve(store, ApiSettings(key_concurrency=2), data_dir=tmp_path) as api:
        gate = api.gate()
        busy, other = api.key("busy"), api.key("other")
        results: list = []
        threads = [in_background(api, busy, results) for _ in range(2)]
        loop = api.loop()
        wait_until(lambda: loop.running + loop.waiting == 2, "two requests in flight")
        # The loop is held: only an answer given at once, without a row, can come back.
        refused = httpx.post(
            api.url + "/v1/chat/completions",
            json=chat_body(),
            headers=api.headers(busy),
            timeout=10,
        )
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert error["code"] == "too_many_concurrent_requests"
        assert error["type"] == "rate_limit_error"
        assert "STEERING_API_KEY_CONCURRENCY" in error["message"]
        retry_after(refused)
        threads.append(in_background(api, other, results))  # another key is not limited
        wait_until(lambda: loop.running + loop.waiting == 3, "the other key's request admitted")
        gate.close()
        for thread in threads:
            thread.join(timeout=60)
        assert [r.status_code for r in results] == [200, 200, 200]
        # Finished requests give their places back: the busy key may send two again.
        assert api.service.admission.in_flight(api.ctx.store.api_key_for(busy)) == 0
        assert api.chat(busy).status_code == 200


def test_a_request_that_would_wait_past_the_queue_gets_503_at_once(store, tmp_path):
    settings = ApiSettings(max_batch=1, queue=1)
    with serve(store, settings, data_dir=tmp_path) as api:
        gate = api.gate()
        results: list = []
        loop = api.loop()
        # One at a time: sent together, the second may find the first still queued, and the
        # queue's one place taken, and be refused (rightly).
        threads = [in_background(api, api.key("k0"), results)]
        wait_until(lambda: loop.running == 1, "the first request holding the row")
        threads.append(in_background(api, api.key("k1"), results))
        wait_until(lambda: loop.running == 1 and loop.waiting == 1, "one row, one waiting")
        refused = httpx.post(
            api.url + "/v1/chat/completions",
            json=chat_body(),
            headers=api.headers(api.key("late")),
            timeout=10,
        )
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "server_busy"
        assert "STEERING_API_QUEUE" in refused.json()["error"]["message"]
        retry_after(refused)
        gate.close()
        for thread in threads:
            thread.join(timeout=60)
        assert [r.status_code for r in results] == [200, 200]
        assert max(loop.batch_sizes) == 1  # the second waited for the first's row


def test_the_per_minute_rate_limit_says_when_to_come_back(store, tmp_path):
    with serve(store, ApiSettings(rate_per_minute=2), data_dir=tmp_path) as api:
        secret = api.key("counted")
        for _ in range(2):
            assert httpx.get(api.url + "/v1/models", headers=api.headers(secret)).status_code == 200
        limited = httpx.get(api.url + "/v1/models", headers=api.headers(secret))
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "rate_limit_exceeded"
        assert 1 <= retry_after(limited) <= 60


@pytest.mark.parametrize("stream", [False, True])
def test_max_tokens_past_the_limit_is_refused_naming_it_never_clamped(store, tmp_path, stream):
    with serve(store, ApiSettings(max_tokens=64), data_dir=tmp_path) as api:
        secret = api.key("greedy")
        refused = api.chat(secret, max_tokens=65, stream=stream)
        assert refused.status_code == 400
        error = refused.json()["error"]
        assert error["code"] == "max_tokens_too_large"
        assert "at most 64 new tokens" in error["message"]
        assert "STEERING_API_MAX_TOKENS" in error["message"]
        newer = api.chat(secret, max_completion_tokens=1_000_000_000, max_tokens=None)
        assert newer.json()["error"]["code"] == "max_tokens_too_large"
        assert "'max_completion_tokens'" in newer.json()["error"]["message"]
        served = api.chat(secret, max_tokens=64)
        assert served.status_code == 200
        assert served.json()["usage"]["completion_tokens"] <= 64


def test_a_key_at_its_limit_may_ask_again_as_soon_as_it_reads_the_end(store, tmp_path):
    """The key's place is free once the answer is complete, before its stream closes: a client
    that sends its next request on ``[DONE]`` is not refused as still in flight (seen on the
    service's own stream, at the moment it hands out ``[DONE]``)."""
    with serve(store, ApiSettings(key_concurrency=1), data_dir=tmp_path) as api:
        wait_until(lambda: api.ctx.is_loaded(SPEC), "the model to load")
        service = api.service
        key = store.api_key_for(api.key("eager"))
        chat = parse_chat(chat_body(max_tokens=4, stream=True), service.settings.max_tokens)

        async def in_flight_at_the_end() -> int:
            answer = await service.lane.run(service.start, key, chat, time.monotonic())
            try:
                async for event in service.stream(answer):
                    if event == DONE_EVENT:
                        return service.admission.in_flight(key)
                raise AssertionError("the stream ended without [DONE]")
            finally:
                service.finish(answer)

        assert asyncio.run(in_flight_at_the_end()) == 0
        assert service.admission.in_flight(key) == 0
