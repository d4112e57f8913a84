"""The journey, second pass, in a real browser: work persists, lists stay current, long steps say
how long they take, the template downloads, and each role lands where its work is.

A builder builds a small vector (the estimate is on screen before it starts), signs out and in
again, reopens the vector from "Reopen your earlier work", evaluates it (estimate first, one
progress bar) and submits it; the Review list shows the submission without a Refresh button; the
Examples tab's template downloads with the documented columns. A reviewer then lands on Review,
told how many submissions wait, without the building tabs. At 1366 and 800 px. The step times go
to ``test-artifacts/journey2-timings.txt``. The harness is :mod:`tests.app.test_browser`'s.
"""

from __future__ import annotations

import csv
import re
import time

import pytest

from steering.data.examples import KNOWN_COLUMNS
from tests.app.browser import ARTIFACTS, LONG, choose, login, logout, shot, tab

pytestmark = pytest.mark.browser


def test_reopen_evaluate_submit_after_signing_in_again(server, page):
    from playwright.sync_api import expect

    timings: dict[str, float] = {}
    page.set_viewport_size({"width": 1366, "height": 900})
    login(page, server, "demo-builder")
    # The builder's tabs, and no reviewer's count in the header.
    expect(page.get_by_role("tab", name="3 · Build")).to_be_visible()
    expect(page.locator("#header-user")).not_to_contain_text("waiting")

    started = time.perf_counter()
    page.locator("#model-load").click()
    expect(page.locator("#model-status")).to_contain_text("Model ready", timeout=LONG)
    timings["model load"] = time.perf_counter() - started

    # Examples: the bundled set; it is listed under earlier work at once (no Refresh).
    tab(page, "2 · Examples")
    page.locator("#use-bundled").click()
    expect(page.locator("#examples-status")).to_contain_text("held-out rows")
    expect(page.locator("#examples-preview")).to_contain_text("choices")  # every column
    expect(page.locator("#examples-earlier input")).to_have_value(re.compile(r"^#\d+ · arithmetic"))

    # The template downloads with the documented columns.
    page.locator("#template-csv").click()
    expect(page.locator("#examples-status")).to_contain_text("example-set-template.csv")
    with page.expect_download() as download_info:
        page.locator("#examples-status a").first.click()
    target = ARTIFACTS / "example-set-template.csv"
    download_info.value.save_as(target)
    with target.open(encoding="utf-8-sig", newline="") as handle:
        table = list(csv.reader(handle))
    assert table[0] == list(KNOWN_COLUMNS) and len(table) == 3

    # Build: the estimate shows before the work, then the vector is listed at once.
    tab(page, "3 · Build")
    page.locator("#build-rows input").fill("12")
    started = time.perf_counter()
    page.locator("#build-button").click()
    expect(page.locator("#build-status")).to_contain_text("this should take")
    expect(page.locator("#build-status")).to_contain_text("Recommended layers", timeout=LONG)
    timings["build (12 rows)"] = time.perf_counter() - started
    expect(page.locator("#build-status")).to_contain_text("estimated beforehand")
    vector_label = page.locator("#build-earlier input").input_value()
    vector_id = int(re.match(r"#(\d+)", vector_label).group(1))
    shot(page, "journey2-01-build")

    # Sign out, sign in again: the session is empty, the store is not.
    logout(page)
    page.set_viewport_size({"width": 800, "height": 900})
    login(page, server, "demo-builder")
    tab(page, "4 · Compare")
    page.locator("#eval-button").click()
    expect(page.locator("#eval-status")).to_contain_text("Build a vector first")

    tab(page, "3 · Build")
    started = time.perf_counter()
    choose(page, "build-earlier", re.compile(rf"^#{vector_id} "))
    expect(page.locator("#build-status")).to_contain_text(f"Reopened vector #{vector_id}")
    timings["reopen the vector"] = time.perf_counter() - started

    # Evaluate the reopened vector: the estimate first, then one bar, then the evidence.
    tab(page, "4 · Compare")
    expect(page.locator("#compare-layers textarea, #compare-layers input").first).not_to_have_value(
        ""
    )
    page.locator("#eval-strengths input, #eval-strengths textarea").first.fill("0, 1")
    page.locator("#eval-max input").fill("6")
    page.locator("#eval-side-effects input").uncheck()
    started = time.perf_counter()
    page.locator("#eval-button").click()
    expect(page.locator("#eval-status")).to_contain_text("this should take")
    expect(page.locator("#eval-status")).to_contain_text("Evaluated in", timeout=LONG)
    timings["evaluation (2 strengths, 6 + 6 questions)"] = time.perf_counter() - started
    expect(page.locator("#eval-chart .js-plotly-plot")).to_be_visible()
    expect(page.locator("#compare-earlier input")).to_have_value(
        re.compile(rf"^#\d+ · vector #{vector_id} ")
    )
    shot(page, "journey2-02-evaluated")

    # Submit strength 1 (the only one besides 0); against the evidence it asks for a reason.
    choose(page, "submit-strength", "1")
    page.wait_for_timeout(1500)  # the choice is checked against the evidence on the server
    if page.locator("#submit-reason textarea").is_visible():
        page.locator("#submit-reason textarea").fill("A first try to show the review step.")
    page.locator("#submit").click()
    expect(page.locator("#submit-status")).to_contain_text("sent for review")
    sid = int(re.search(r"#(\d+)", page.locator("#submit-status").inner_text()).group(1))

    # The Review list already has it: no Refresh pressed.
    tab(page, "5 · Review")
    choose(page, "review-queue", re.compile(rf"^#{sid} "))
    expect(page.locator("#review-summary")).to_contain_text(f"Submission #{sid}")
    logout(page)

    # The reviewer lands on Review, told a submission waits, without the building tabs.
    login(page, server, "demo-reviewer")
    expect(page.locator("#header-user")).to_contain_text("1 submission waiting for review")
    expect(page.get_by_role("tab", name="5 · Review")).to_have_attribute("aria-selected", "true")
    for hidden in ("1 · Model", "2 · Examples", "3 · Build", "4 · Compare"):
        expect(page.get_by_role("tab", name=hidden)).to_have_count(0)
    choose(page, "review-queue", re.compile(rf"^#{sid} "))
    expect(page.locator("#approve")).to_be_visible()
    shot(page, "journey2-03-reviewer")

    (ARTIFACTS / "journey2-timings.txt").write_text(
        "".join(f"{step}: {seconds:.1f} s\n" for step, seconds in timings.items())
    )
    print(timings)
