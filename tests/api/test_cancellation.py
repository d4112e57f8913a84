"""A caller that goes away, or whose time runs out, gives its decoding row back: asserted on the
decoding loop's own rows and departures (the API served in-process, tests/api/inprocess.py, its
loop held at every step so that the test decides when the next step runs)."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlparse

import httpx
import pytest

from dashboard.api.settings import ApiSettings
from storage import Store
from tests.api.inprocess import chat_body, serve, wait_until


@pytest.fixture()
def store(tmp_path):
    with Store.open(None, tmp_path / "data") as opened:
        yield opened


def only_ticket(loop):
    wait_until(lambda: loop.running == 1, "the request to hold a row")
    (ticket,) = loop.running_tickets()
    return ticket


def departure_of(loop, ticket):
    wait_until(lambda: any(d.ticket is ticket for d in loop.departures), "the row to leave")
    (found,) = [d for d in loop.departures if d.ticket is ticket]
    return found


def test_a_cut_stream_frees_its_row_at_the_next_step(store, tmp_path):
    with serve(store, ApiSettings(), data_dir=tmp_path) as api:
        gate = api.gate()
        loop = api.loop()
        body = chat_body(max_tokens=1000, stream=True)
        secret = api.key("cut")
        with httpx.stream(
            "POST", api.url + "/v1/chat/completions", json=body, headers=api.headers(secret)
        ) as answer:
            assert answer.status_code == 200
            ticket = only_ticket(loop)
            gate.allow(3)  # prefill and two steps
            lines = answer.iter_lines()  # kept: a dropped iterator closes the response
            first = next(lines)
            assert first.startswith("data: ") and '"role": "assistant"' in first
            wait_until(lambda: ticket.produced == 3, "three tokens")
            assert not ticket.cancelled
        # The client has hung up; the loop is held before its next pass.
        wait_until(lambda: ticket.cancelled, "the server to notice the cut")
        gate.allow(1)  # the step already under way completes; the row then leaves
        left = departure_of(loop, ticket)
        assert left.reason == "cancelled"
        assert left.produced <= 4  # nowhere near its 1,000 tokens
        assert loop.running == 0
        key = api.ctx.store.api_key_for(secret)
        wait_until(lambda: api.service.admission.in_flight(key) == 0, "the key's place back")


def test_a_client_that_hangs_up_on_a_whole_answer_frees_its_row(store, tmp_path):
    with serve(store, ApiSettings(), data_dir=tmp_path) as api:
        gate = api.gate()
        loop = api.loop()
        payload = json.dumps(chat_body(max_tokens=1000)).encode()
        where = urlparse(api.url)
        head = (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: {where.netloc}\r\n"
            f"Authorization: Bearer {api.key('hang-up')}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode()
        with socket.create_connection((where.hostname, where.port), timeout=30) as client:
            client.sendall(head + payload)
            ticket = only_ticket(loop)
            gate.allow(2)
            wait_until(lambda: ticket.produced == 2, "two tokens")
        wait_until(lambda: ticket.cancelled, "the server to notice the hang-up")
        gate.allow(1)
        left = departure_of(loop, ticket)
        assert left.reason == "cancelled" and left.produced <= 3
        assert loop.running == 0


def test_an_answer_unfinished_in_time_is_a_504_and_its_row_is_freed(store, tmp_path):
    with serve(store, ApiSettings(timeout_s=0.5), data_dir=tmp_path) as api:
        gate = api.gate()  # never allowed: the request cannot finish
        loop = api.loop()
        secret = api.key("slow")
        late = api.chat(secret, max_tokens=100)
        assert late.status_code == 504
        error = late.json()["error"]
        assert error["code"] == "timeout" and "STEERING_API_TIMEOUT_S" in error["message"]
        (ticket,) = loop.running_tickets()  # held in its prefill, given up by its waiter
        assert ticket.cancelled
        gate.close()
        assert departure_of(loop, ticket).reason in ("cancelled", "timeout")
        assert loop.running == 0
        assert api.service.admission.in_flight(api.ctx.store.api_key_for(secret)) == 0


def test_a_stream_unfinished_in_time_ends_with_a_timeout_event(store, tmp_path):
    with serve(store, ApiSettings(timeout_s=1.0), data_dir=tmp_path) as api:
        gate = api.gate()
        loop = api.loop()
        gate.allow(2)  # two tokens, then the loop is held past the time limit
        body = chat_body(max_tokens=100, stream=True)
        with httpx.stream(
            "POST",
            api.url + "/v1/chat/completions",
            json=body,
            headers=api.headers(api.key("slow-stream")),
            timeout=30,
        ) as answer:
            events = [line for line in answer.iter_lines() if line.startswith("data: ")]
        last = json.loads(events[-1].removeprefix("data: "))
        assert last["error"]["code"] == "timeout"
        assert "data: [DONE]" not in events
        gate.close()
        wait_until(lambda: loop.running == 0, "the row to leave")
        assert loop.departures[-1].reason in ("cancelled", "timeout")
