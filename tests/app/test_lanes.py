"""The dashboard's heavy-job lane (dashboard.ui.queue_in_lanes): the heavy handlers share one
concurrency group of HEAVY_AT_ONCE, and Gradio's handlers run on a thread pool of its own, so a
crowd of heavy jobs leaves a light event (a review decision) and the sign-in free to run.

The real dashboard's wiring is checked on build_ui; the behaviour on a small Blocks whose four
heavy handlers (named as the tabs name theirs) wait until the test lets them finish, served by
the real web layer in-process."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import gradio as gr
import httpx
import pytest
import uvicorn

from dashboard.ui import (
    GRADIO_THREADS,
    HEAVY_AT_ONCE,
    HEAVY_HANDLERS,
    HEAVY_LANE,
    build_ui,
    queue_in_lanes,
)
from dashboard.web.server import create_server
from tests.api.inprocess import wait_until
from tests.api.whole_app import sign_in
from tests.security.conftest import free_port, make_store
from tests.security.helpers import join

HEAVY_EVENTS = 2 * HEAVY_AT_ONCE  # twice what the lane runs at once


def test_the_dashboards_heavy_handlers_share_the_heavy_lane(ctx):
    demo = queue_in_lanes(build_ui(ctx))
    lanes = {event.name: event.concurrency_id for event in demo.fns.values()}
    heavy = {name for name, lane in lanes.items() if lane == HEAVY_LANE}
    assert heavy == HEAVY_HANDLERS
    limits = {e.concurrency_limit for e in demo.fns.values() if e.concurrency_id == HEAVY_LANE}
    assert limits == {HEAVY_AT_ONCE}
    # Every other event has a group of its own: no light event waits behind another kind.
    light = [e.concurrency_id for e in demo.fns.values() if e.concurrency_id != HEAVY_LANE]
    assert len(light) == len(set(light))
    assert demo.max_threads == GRADIO_THREADS != 40  # 40 would mean anyio's default pool


def test_a_heavy_handler_missing_from_the_page_is_an_error():
    with gr.Blocks() as demo:
        gr.Button("x").click(lambda: None)
    with pytest.raises(RuntimeError, match="do_build"):
        queue_in_lanes(demo)


class HeldJobs:
    """Heavy handlers that count themselves running and wait for the test."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.running = 0
        self.started = 0
        self._lock = threading.Lock()

    def handler(self, name: str) -> Callable[[str], str]:
        def job(text: str) -> str:
            with self._lock:
                self.running += 1
                self.started += 1
            try:
                self.release.wait(timeout=120)
                return text
            finally:
                with self._lock:
                    self.running -= 1

        job.__name__ = name
        return job


def held_blocks(jobs: HeldJobs) -> gr.Blocks:
    with gr.Blocks() as demo:
        box = gr.Textbox(label="in")
        out = gr.Textbox(label="out")
        for name in sorted(HEAVY_HANDLERS):
            gr.Button(name).click(jobs.handler(name), box, out, api_name=name)
        gr.Button("decide").click(lambda text: text.upper(), box, out, api_name="decide")
    return demo


def fn_ids(demo: gr.Blocks) -> dict[str, int]:
    return {str(event.api_name): event._id for event in demo.fns.values()}


def test_a_crowd_of_heavy_jobs_leaves_a_light_event_and_the_sign_in_free(tmp_path):
    jobs = HeldJobs()
    with make_store(tmp_path / "data") as store:
        demo = queue_in_lanes(held_blocks(jobs))
        app = create_server(store, demo, data_dir=tmp_path / "data")
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        ids = fn_ids(demo)
        results: list[tuple[int, object]] = []
        workers: list[threading.Thread] = []
        try:
            wait_until(lambda: server.started, "the server")
            url = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=url, timeout=60) as builder:
                assert sign_in(builder, "ann").status_code == 200
                names = sorted(HEAVY_HANDLERS)
                for i in range(HEAVY_EVENTS):
                    index = ids[names[i % len(names)]]
                    session = uuid.uuid4().hex[:11]

                    def run(index: int = index, session: str = session) -> None:
                        results.append(join(builder, index, [f"job {index}"], session))

                    workers.append(threading.Thread(target=run, daemon=True))
                    workers[-1].start()
                wait_until(lambda: jobs.running == HEAVY_AT_ONCE, "the lane to fill")
                with httpx.Client(base_url=url, timeout=60) as reviewer:
                    assert sign_in(reviewer, "bob").status_code == 200
                    decided = join(reviewer, ids["decide"], ["approve"], uuid.uuid4().hex[:11])
                assert decided == (200, ["APPROVE"])
                # The light event ran to its end while the heavy ones beyond the lane waited.
                assert jobs.started == HEAVY_AT_ONCE
                jobs.release.set()
                for worker in workers:
                    worker.join(timeout=60)
        finally:
            jobs.release.set()
            server.should_exit = True
            thread.join(timeout=30)
    assert jobs.started == HEAVY_EVENTS
    assert sorted(status for status, _ in results) == [200] * HEAVY_EVENTS
