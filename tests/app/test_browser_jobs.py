"""A reload during an evaluation, in a real browser: the reloaded page shows the evaluation still
running, with its progress, and then its result without a click (the job is a record the page
polls). On the bundled model, through ``app.py``; the harness is :mod:`tests.app.browser`'s.
"""

from __future__ import annotations

import re
import time

import pytest

from dashboard.job_watch import TICK_S
from tests.app.browser import ARTIFACTS, LONG, login, shot, tab

pytestmark = pytest.mark.browser


def test_a_reload_during_an_evaluation_shows_it_running_then_its_result(server, page):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1366, "height": 900})
    login(page, server, "demo-builder")
    page.locator("#model-load").click()
    expect(page.locator("#model-status")).to_contain_text("Model ready", timeout=LONG)
    tab(page, "2 · Examples")
    page.locator("#use-bundled").click()
    expect(page.locator("#examples-status")).to_contain_text("held-out rows")
    tab(page, "3 · Build")
    page.locator("#build-rows input").fill("12")
    page.locator("#build-button").click()
    expect(page.locator("#build-status")).to_contain_text("Recommended layers", timeout=LONG)

    # An evaluation long enough to reload in the middle of it.
    tab(page, "4 · Compare")
    page.locator("#eval-strengths input, #eval-strengths textarea").first.fill("0, 0.5, 1")
    page.locator("#eval-max input").fill("30")
    page.locator("#eval-side-effects input").uncheck()
    page.locator("#eval-button").click()
    expect(page.locator("#eval-status")).to_contain_text("this should take")
    with server.store() as store:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job = store.latest_job("demo-builder", ["evaluation"])
            if job is not None and job.open:
                break
            page.wait_for_timeout(500)
        assert job is not None and job.open, "the evaluation should still be running"

    try:
        reloaded(page, server, job.id)
    finally:  # the server's log, to read what the page's events did
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "jobs-server.log").write_text(server.output(), encoding="utf-8")


def reloaded(page, server, job_id: int) -> None:
    from playwright.sync_api import expect

    page.reload()
    expect(page.locator("#header-user")).to_contain_text("demo-builder")
    tab(page, "4 · Compare")
    status = page.locator("#eval-status")
    expect(status).to_contain_text(re.compile(r"Your evaluation \(started \d+ (s|minutes) ago"))
    expect(status).to_contain_text("is still running; its result will appear here")
    expect(status.locator("progress")).to_be_visible()
    shot(page, "jobs-01-running-after-reload")
    page.wait_for_timeout(3 * TICK_S * 1000)  # a few polls later: still shown, never an error mark
    expect(status).not_to_contain_text("Error")

    # No click: the result appears when the job is done.
    expect(status).to_contain_text("has finished: its result is below", timeout=LONG)
    expect(status).not_to_contain_text("Error")
    expect(page.locator("#eval-chart .js-plotly-plot")).to_be_visible()
    expect(page.locator("#compare-earlier input")).to_have_value(re.compile(r"^#\d+ · vector #"))
    shot(page, "jobs-02-result-after-reload")
    with server.store() as store:
        done = store.get_job(job_id)
    assert done.state == "done" and done.result_id is not None
