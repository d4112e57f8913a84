"""Conditional steering in a real browser (issue 21, "Done when"): a builder builds a vector that
steers only questions like its examples, sees the gate's chart and sentence, and Compare says,
for each steered answer, whether the vector was applied.

The bundled model and the bundled arithmetic set, 16 rows per split (the fewest a gate is built
from): the box "Steer only questions like these examples" is on for them and off, with its
reason, for 12. A quick check on this model beforehand: the gate (chosen at the first block) puts
every build question above its threshold and every everyday prompt below it, and the held-out
word problems above it too. The harness (a real ``app.py`` process, sign-in through /login,
Debian's Chromium) is :mod:`tests.app.test_browser`'s. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.app.browser import ARTIFACTS, LONG, choose, login, shot, tab

pytestmark = pytest.mark.browser

EVERYDAY = "What is a good way to keep basil fresh in the kitchen?"


def test_build_a_conditional_vector_see_its_chart_and_whether_compare_applied_it(server, page):
    from playwright.sync_api import expect

    timings: dict[str, float] = {}
    page.set_viewport_size({"width": 1366, "height": 900})
    login(page, server, "demo-builder")
    started = time.perf_counter()
    page.locator("#model-load").click()
    expect(page.locator("#model-status")).to_contain_text("Model ready", timeout=LONG)
    timings["model load"] = time.perf_counter() - started

    tab(page, "2 · Examples")
    page.locator("#use-bundled").click()
    expect(page.locator("#examples-status")).to_contain_text("held-out rows")

    # Build: the box follows the rows the build would use.
    tab(page, "3 · Build")
    box = page.locator("#build-condition input[type=checkbox]")
    expect(page.locator("#build-condition")).to_contain_text(
        "Steer only questions like these examples"
    )
    rows = page.locator("#build-rows input")
    rows.fill("12")
    expect(page.locator("#build-condition")).to_contain_text(
        "at least 16 build rows and this build would use 12"
    )
    expect(box).not_to_be_checked()
    rows.fill("16")
    expect(page.locator("#build-condition")).to_contain_text("your 16 build rows")
    expect(box).to_be_checked()
    started = time.perf_counter()
    page.locator("#build-button").click()
    expect(page.locator("#build-status")).to_contain_text("everyday prompts to tell your questions")
    expect(page.locator("#build-status")).to_contain_text("Recommended layers", timeout=LONG)
    timings["build with a gate (16 rows)"] = time.perf_counter() - started
    gate = page.locator("#build-gate")
    expect(gate).to_contain_text("steers only questions that read like your examples")
    expect(gate).to_contain_text("of your 16 build questions")
    expect(page.locator("#build-gate-chart .js-plotly-plot")).to_be_visible()
    expect(page.locator("#build-gate-chart")).to_contain_text("the gate opens at")
    page.locator("#build-gate-technical").get_by_text("Technical details of the gate").click()
    expect(page.locator("#build-gate-details")).to_contain_text("Block the gate reads")
    shot(page, "condition-01-build")

    # Compare: a held-out word problem is steered; an everyday request is the model's own.
    tab(page, "4 · Compare")
    choose(page, "compare-question", re.compile(r"\?"))
    expect(page.locator("#compare-prompt textarea")).not_to_have_value("")
    page.locator("#compare-tokens input[type=number]").fill("16")
    started = time.perf_counter()
    page.locator("#compare-button").click()
    verdict = page.locator("#compare-gate")
    expect(verdict).to_contain_text(
        re.compile(r"Applied: this question reads like your examples \(similarity -?[\d.]+; the "),
        timeout=LONG,
    )
    timings["side-by-side answer, gate open"] = time.perf_counter() - started
    shot(page, "condition-02-applied")

    page.locator("#compare-prompt textarea").fill(EVERYDAY)
    started = time.perf_counter()
    page.locator("#compare-button").click()
    expect(verdict).to_contain_text(
        "Not applied: this question does not read like your examples", timeout=LONG
    )
    expect(verdict).to_contain_text("so this answer is the model's own.")
    timings["side-by-side answer, gate closed"] = time.perf_counter() - started
    plain = page.locator("#answer-unsteered textarea").input_value()
    steered = page.locator("#answer-steered textarea").input_value()
    assert plain.strip() and plain == steered  # not applied: the same answer
    shot(page, "condition-03-not-applied")

    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "condition-timings.txt").write_text(
        "".join(f"{step}: {seconds:.1f} s\n" for step, seconds in timings.items())
    )
    print(timings)
