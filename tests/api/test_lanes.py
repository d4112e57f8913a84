"""Separate lanes: with the API saturated, a reviewer can still sign in and approve.

The whole app is served in-process on a tiny model (tests/api/whole_app.py). 64 streaming
clients over 8 keys fill the API (every key at its 8 requests in flight, all 64 admitted). The
reviewer's sign-in (``POST /login``) and approval (page load, choosing the submission, the
Approve click, all through Gradio's queue) must complete while every stream is still open, in
two states of the API, both reached by holding something the test controls rather than by
timing:

1. decoding held: the decoding loop waits before its next forward pass, 64 requests in flight;
2. the API's own blocking calls held: every answer is complete but its usage counter write is
   held, as when SQLite's write lock is contended at the end of 64 answers. These calls run on
   the API's lane of a few threads; were they on the pool the sign-in and the gate use, 64 held
   writes would take all of its 40 threads and the sign-in would wait for them.

Waits are bounded and generous (the client's 60 s); nothing asserts a duration.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import httpx
import pytest

from dashboard.api.lane import API_THREADS
from steering.engine.models import fingerprint
from tests.api.conftest import add_submission, random_vector
from tests.api.inprocess import SPEC, StepGate, chat_body, tiny_model, wait_until
from tests.api.whole_app import approve, serve_whole_app, sign_in
from tests.security.conftest import make_store

CLIENTS, KEYS = 64, 8
HOLD_LIMIT_S = 300.0  # a held write gives up after this (the test releases it long before)


@dataclass
class StreamClient:
    """One streaming API client on its own thread: its status and whether its answer ended."""

    url: str
    secret: str
    status: int | None = None
    lines: list[str] = field(default_factory=list)
    ended: threading.Event = field(default_factory=threading.Event)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        return thread

    def _run(self) -> None:
        try:
            with httpx.stream(
                "POST",
                self.url + "/v1/chat/completions",
                json=chat_body(max_tokens=24, stream=True),
                headers={"authorization": f"Bearer {self.secret}"},
                timeout=HOLD_LIMIT_S,
            ) as answer:
                self.status = answer.status_code
                self.lines.extend(line for line in answer.iter_lines() if line)
        finally:
            self.ended.set()


class HeldWrites:
    """Stands in for the store's usage-counter write: each call waits until released."""

    def __init__(self, real) -> None:
        self.real = real
        self.release = threading.Event()
        self.inside = 0
        self.most_inside = 0
        self.done = 0
        self._lock = threading.Lock()

    def __call__(self, *args, **kwargs):
        with self._lock:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        try:
            self.release.wait(timeout=HOLD_LIMIT_S)
            return self.real(*args, **kwargs)
        finally:
            with self._lock:
                self.inside -= 1
                self.done += 1


@pytest.fixture()
def store(tmp_path):
    with make_store(tmp_path / "data") as opened:
        yield opened


def reviewer_gets_through(app, name: str, submission_id: int) -> None:
    """Sign in, then approve: both complete (the store shows the approval)."""
    with app.client() as client:
        signed = sign_in(client, name)
        assert signed.status_code == 200, signed.text
        status, _ = approve(client, submission_id)
        assert status == 200
    assert app.ctx.store.get_submission(submission_id).status == "approved"


def test_sign_in_and_approval_complete_while_64_streams_fill_the_api(store, tmp_path, monkeypatch):
    lineage = {"model_id": SPEC, "model_fingerprint": fingerprint(tiny_model())}
    vector = random_vector(tiny_model(), 1)
    first, second = (add_submission(store, vector, lineage, "submitted") for _ in range(2))
    secrets = [store.add_api_key(f"load-{k}")[1] for k in range(KEYS)]
    with serve_whole_app(store, tmp_path / "data") as app:
        loop = app.loop()
        gate = StepGate(app.ctx.model(SPEC))
        clients = [StreamClient(app.url, secrets[i % KEYS]) for i in range(CLIENTS)]
        threads = [c.start() for c in clients]
        try:
            wait_until(lambda: loop.running + loop.waiting == CLIENTS, "all 64 admitted")

            # 1. Decoding held, every request in flight.
            reviewer_gets_through(app, "bob", first)
            assert not any(c.ended.is_set() for c in clients)

            # 2. Every answer complete, every usage write held on the API's lane.
            held = HeldWrites(store.record_api_use)
            monkeypatch.setattr(store, "record_api_use", held)
            gate.close()
            wait_until(lambda: len(loop.departures) == CLIENTS, "every answer complete")
            wait_until(lambda: held.inside > 0, "the first usage write")
            reviewer_gets_through(app, "fay", second)
            assert not any(c.ended.is_set() for c in clients)  # none has its end yet
            assert held.done == 0 and held.most_inside <= API_THREADS
            held.release.set()
        finally:
            gate.close()
            monkeypatch.undo()
            for thread in threads:
                thread.join(timeout=HOLD_LIMIT_S)
    assert [c.status for c in clients] == [200] * CLIENTS
    assert all(c.lines[-1] == "data: [DONE]" for c in clients)
    assert sum(u.count for u in store.api_usage()) == CLIENTS  # the held writes all landed
