"""Opening a "Reopen your earlier work" list and closing it without a choice leaves the page as it
was, at 1366, 800 and 400 px: no error mark on the list or elsewhere, no error toast, and no
"didn't return enough output values" in the server log. The harness is
:mod:`tests.app.browser`'s."""

from __future__ import annotations

import pytest

from tests.app.browser import login, shot
from tests.app.support import csv_text, rows, sample_report

pytestmark = pytest.mark.browser

WIDTHS = (1366, 800, 400)
SMOLLM2_HIDDEN = 576
LISTS = (("2 · Examples", "examples-earlier"), ("3 · Build", "build-earlier"))
LISTS += (("4 · Compare", "compare-earlier"),)
NOT_ENOUGH = "didn't return enough output values"
# Gradio's marks of a failed event: the status tracker's "Error" over a component, a toast.
ERROR_MARKS = """() => [...document.querySelectorAll('.error, .toast-body, [data-testid="toast-body"]')]
  .filter(e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; })
  .map(e => (e.id || e.className) + ': ' + e.innerText.trim().slice(0, 80))"""


@pytest.fixture(scope="module")
def earlier_work(server):
    """An example set, a vector and an evaluation of demo-builder's, so every list has entries."""
    import torch

    from steering.vectors import ControlVector

    data = csv_text(rows()).encode()
    vector = ControlVector(
        {1: torch.ones(SMOLLM2_HIDDEN)}, {"model_id": "default", "method": "mean_diff"}
    )
    with server.store() as store:
        example_set = store.add_example_set(
            "pairs", data, "pairs.csv", "e" * 64, 12, "demo-builder"
        )
        stored = store.add_vector(
            vector.to_bytes(), vector.metadata, "demo-builder", example_set.id
        )
        store.add_evaluation(stored.id, {"layers": [1]}, sample_report().to_dict(), "demo-builder")


def test_closing_a_list_without_a_choice_changes_nothing(server, page, earlier_work):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    login(page, server, "demo-builder")
    problems: list[str] = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for label, elem_id in LISTS:
            page.get_by_role("tab", name=label).click()
            box = page.locator(f"#{elem_id} input")
            box.click()
            expect(page.get_by_role("option").first).to_be_visible()  # the list is open
            page.locator("#header-user").click()  # away, choosing nothing
            expect(page.get_by_role("option")).to_have_count(0)
            page.wait_for_timeout(1500)  # room for the event's answer to arrive
            marks = page.evaluate(ERROR_MARKS)
            if marks:
                shot(page, f"no-choice-{width}-{elem_id}")
                problems += [f"{width}px, {elem_id}: {mark}" for mark in marks]
            if box.input_value():
                problems.append(f"{width}px, {elem_id}: shows {box.input_value()!r}")
            # The list still opens: nothing blocks it.
            box.click()
            expect(page.get_by_role("option").first).to_be_visible()
            page.locator("#header-user").click()
    assert not problems, "\n".join(problems)
    assert NOT_ENOUGH not in server.output()


def test_the_way_back_from_a_dead_download_link_opens_downloads(server, page):
    from playwright.sync_api import expect

    from dashboard.web.gone_page import DOWNLOADS_URL

    login(page, server, "demo-builder")
    answer = page.goto(server.url + "downloads/no-such-link")
    assert answer is not None and answer.status == 404
    assert answer.headers["content-type"].startswith("text/html")
    page.locator("#back-to-downloads").click()
    assert page.url.endswith(DOWNLOADS_URL)
    expect(page.locator("#main-panel")).to_be_visible()
    # Gradio draws the tab bar twice (once for narrow windows): both say it.
    bars = page.get_by_role("tab", name="7 · Downloads")
    expect(bars.first).to_have_attribute("aria-selected", "true")
    for shown in bars.all():
        expect(shown).to_have_attribute("aria-selected", "true")
