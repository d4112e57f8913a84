"""The first screen a manager sees and pages that fit their window, in a real browser.

A submission is planted in the running app's store (``test_browser_evidence.plant``: no strength
beat the model without the vector, submitted anyway with a reason) and approved by the demo
reviewer, so the report carries a disagreement and a signed checkpoint line (a long unbroken
token). Checked: in a 1366 x 900 window the report's first screen holds the decision, the
recommendation and what the vector is for; neither the report nor any tab a builder or reviewer
can open is wider than its window at 1366 and 400 px; at 400 px the review filter shows its
whole value and the audit table shows the action of each entry. The harness is
:mod:`tests.app.browser`'s; screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import re

import pytest

from tests.app.browser import login, shot
from tests.app.test_browser_evidence import plant

pytestmark = pytest.mark.browser

WIDTHS = (1366, 400)
COMMENT = "The pilot team needs it on Monday; we will watch the answers."

PAGE_WIDTH = "() => [document.documentElement.scrollWidth, window.innerWidth]"


@pytest.fixture(scope="module")
def planted(server):
    with server.store() as store:
        sid = plant(store)
        sub = store.get_submission(sid)
        store.review(sid, "approve", COMMENT, "demo-reviewer", sub.version)
        return sid


@pytest.fixture(scope="module")
def report_file(server, planted, tmp_path_factory):
    from dashboard.report import evaluation_report_html

    with server.store() as store:
        sub = store.get_submission(planted)
        checkpoint = store.latest_checkpoint()
        assert checkpoint is not None  # the approval wrote one: its line is the long token
        page = evaluation_report_html(
            sub,
            store.get_vector(sub.vector_id),
            store.get_evaluation(sub.evaluation_id),
            checkpoint=checkpoint,
            against_evidence=store.against_evidence(planted),
        )
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def _on_first_screen(page, selector: str) -> None:
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    assert box is not None, f"{selector} is not on the page"
    assert box["x"] >= 0 and box["x"] + box["width"] <= size["width"] + 1, (selector, box)
    assert box["y"] + box["height"] <= size["height"], (selector, box)


def _fits(page, what: str) -> list[str]:
    wide, window = page.evaluate(PAGE_WIDTH)
    return [] if wide <= window else [f"{what}: the page is {wide}px wide in a {window}px window"]


def test_the_reports_first_screen_holds_the_decision_and_what_it_is_for(report_file, page):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(report_file.as_uri())
    expect(page.locator("#decision")).to_contain_text("Decision: approved by demo-reviewer on")
    expect(page.locator("#recommendation")).to_contain_text("Recommendation: do not deploy.")
    expect(page.locator("#disagreement")).to_contain_text(
        "although the evidence says do not deploy. Their reason: “" + COMMENT + "”"
    )
    expect(page.locator("#purpose")).to_contain_text(
        "making the model SmolLM2-135M-Instruct answer questions like those of the example set "
        "“logic-160”"
    )
    expect(page.locator("#below-guessing")).to_contain_text(
        "At strength 0.5 the model gets 5% right"
    )
    for part in ("#decision", "#recommendation", "#disagreement", "#purpose"):
        _on_first_screen(page, part)
    shot(page, "report-headline-1366", full=False)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_report_is_never_wider_than_its_window(report_file, page, width):
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(report_file.as_uri())
    page.locator("#technical summary").click()  # the widest tables are in the fold
    assert not _fits(page, f"report at {width}px")
    if width == 400:
        # The sample answers stack: the answer with the vector lies inside the window.
        steered = page.locator("#samples td[data-label^='with the vector']").first
        box = steered.bounding_box()
        assert box is not None and box["x"] + box["width"] <= width
        # The results table is wider than the window: it scrolls in its box, and says so.
        wide = page.evaluate(
            "() => { const b = document.querySelector('#technical .scroll');"
            " return b.scrollWidth > b.clientWidth; }"
        )
        assert wide
        assert page.locator("#technical .scroll-note").is_visible()
    shot(page, f"report-{width}")


def _tabs(page) -> list[str]:
    """The ids of the tab buttons on screen, each once."""
    ids = page.evaluate(
        "() => [...document.querySelectorAll('button[role=tab]')]"
        ".filter(b => b.getBoundingClientRect().width > 0).map(b => b.id)"
    )
    return list(dict.fromkeys(i for i in ids if i))


@pytest.mark.parametrize("who", ["demo-builder", "demo-reviewer"])
def test_no_tab_is_wider_than_its_window(server, page, planted, who):
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    login(page, server, who)
    page.wait_for_timeout(1000)  # the tabs a role sees are settled after the page loads
    tabs = _tabs(page)
    assert len(tabs) >= 3, tabs
    problems: list[str] = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for tab_id in tabs:
            button = page.locator(f"#{tab_id}:visible")
            if button.count() == 0:
                problems.append(f"{who} at {width}px: {tab_id} is gone from the tab bar")
                continue
            button.first.click()
            page.wait_for_timeout(300)
            problems += _fits(page, f"{who} at {width}px, {tab_id}")
        shot(page, f"narrow-{who}-{width}")
    assert not problems, "\n".join(problems)


def test_at_400_px_the_filter_reads_whole_and_the_audit_shows_the_action(server, page, planted):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 400, "height": 900})
    login(page, server, "demo-reviewer")
    page.wait_for_timeout(1000)
    page.locator("#tab-review-button").first.click()
    choice = page.locator("#review-filter input")
    for value in ("submitted", "approved"):  # the first is the default; the last stays chosen
        if choice.input_value() != value:
            choice.click()
            page.get_by_role("option", name=value, exact=True).first.click()
        expect(choice).to_have_value(value)
        text, room = choice.evaluate("e => [e.scrollWidth, e.clientWidth]")
        assert text <= room, f"the filter's '{value}' needs {text}px in {room}px"
    # The approved submission's box is the first thing under the filter.
    page.locator("#review-queue input").click()
    page.get_by_role("option", name=re.compile(rf"^#{planted} ")).first.click()
    expect(page.locator("#review-headline")).to_contain_text("Decision: approved")
    expect(page.locator("#review-headline")).to_contain_text("What it is for:")
    shot(page, "review-400", full=False)

    page.locator("#tab-audit-button").first.click()
    page.locator("#audit-show").click()
    table = page.locator("#audit-table")
    expect(table).to_contain_text("submission.approve")
    heads = [h.strip() for h in table.locator("th").all_inner_texts()]
    assert heads[0].startswith("action"), heads
    cell = table.get_by_text("submission.approve", exact=True).first
    box = cell.bounding_box()
    assert box is not None and 0 <= box["x"] and box["x"] + box["width"] <= 400, box
    expect(page.locator("#audit-scroll-cue")).to_be_visible()  # the rest is a scroll away
    shot(page, "audit-400", full=False)
