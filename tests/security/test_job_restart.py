"""A restart: the app process is killed while an evaluation runs; the next process marks the job
interrupted as it starts, and the user's next visit says so, once.

The real dashboard runs as its own process on a tiny model slowed in every forward pass
(``serve_app --slow-model``), so the evaluation is still running when the test kills it.
"""

from __future__ import annotations

import threading
import time

from storage import Store

from .bounded import Journey, ready_to_compare
from .conftest import BASE_ENV, make_store, start_server
from .helpers import signed_in

SLOW_S = "0.2"  # per forward pass: an evaluation of 4 questions then takes well over a minute
WAIT_S = 120.0
INTERRUPTED = "was interrupted when the app restarted, so it has no result; run it again."


def _running_evaluation(store: Store, user: str, deadline: float):
    while time.monotonic() < deadline:
        job = store.latest_job(user, ["evaluation"])
        if job is not None and job.open:
            return job
        time.sleep(0.2)
    raise AssertionError("the evaluation never started")


def test_a_job_running_when_the_process_is_killed_is_shown_interrupted_next_visit(
    tmp_path,
) -> None:
    data_dir = tmp_path / "lab"
    data_dir.mkdir()
    make_store(data_dir).close()
    first = start_server(data_dir, BASE_ENV, "--dashboard", "--slow-model", SLOW_S)
    try:
        with signed_in(first, "gus") as client:
            journey = Journey(client)
            ready_to_compare(journey)

            def evaluate() -> None:
                try:
                    journey.event(
                        "do_evaluate", eval_strengths="0, 0.5", eval_max=4, eval_side_effects=False
                    )
                except Exception:  # noqa: BLE001 - the process is killed under this request
                    pass

            threading.Thread(target=evaluate, daemon=True).start()
            with Store.open(None, data_dir) as store:
                job = _running_evaluation(store, "gus", time.monotonic() + WAIT_S)
                first.process.kill()  # no shutdown, no clean-up: as a power cut or OOM kill
                first.process.wait(timeout=30)
                assert store.get_job(job.id).state == "running"  # nobody said otherwise
    finally:
        first.stop()

    second = start_server(data_dir, BASE_ENV, "--dashboard")
    try:
        with Store.open(None, data_dir) as store:
            assert store.get_job(job.id).state == "interrupted"
        with signed_in(second, "gus") as client:
            visit = Journey(client).event("show_jobs")
            assert visit.status == 200
            assert "Your evaluation started " in visit.text and INTERRUPTED in visit.text
            again = Journey(client).event("show_jobs")  # said once
            assert again.status == 200 and INTERRUPTED not in again.text
        with Store.open(None, data_dir) as store:
            assert store.get_job(job.id).told is True
    finally:
        second.stop()
