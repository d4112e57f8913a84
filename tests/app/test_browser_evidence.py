"""The evidence in a real browser, at 1366 and 800 px: the report's first screen and the warning a
reviewer reads above Approve when a submission goes against the evidence.

The submission is planted in the running app's store the way the lab stores one (a vector, an
evaluation of 40 three-option held-out questions in which no strength beat the unsteered model,
so the evaluation chose none, and a submission at strength 0.5 with the builder's reason). The
harness (a real ``app.py`` process, sign-in through /login, Chromium) is
:mod:`tests.app.test_browser`'s. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import re

import pytest

from tests.app.browser import ARTIFACTS, choose, login, shot, tab

pytestmark = pytest.mark.browser

WIDTHS = (1366, 800)
REASON = "The pilot team wants to see it on real questions first."
QUESTIONS = 40


def _result(alpha: float, correct: int, p: float) -> dict:
    accuracy = correct / QUESTIONS
    return {
        "alpha": alpha,
        "accuracy": accuracy,
        "accuracy_norm": accuracy,
        "ci_low": max(0.0, accuracy - 0.12),
        "ci_high": min(1.0, accuracy + 0.14),
        "kl": 0.0 if alpha == 0 else 0.2 * alpha,
        "entropy_bits": 1.4,
        "mass_correct": 0.3,
        "mass_incorrect": 0.6,
        "mcnemar_p": p,
        "n": QUESTIONS,
        "correct": correct,
    }


def planted_results() -> dict:
    """An evaluation as the engine stores it: 40 held-out three-option questions, nothing chosen."""
    samples = [
        {
            "row": 7 + i,
            "prompt": f"Is statement {i} valid? (a) yes (b) no (c) cannot tell",
            "answer": "b",
            "unsteered": "b",
            "steered": "b" if i else "a",
            "alpha": alpha,
            "unsteered_correct": True,
            "steered_correct": bool(i),
        }
        for alpha in (0.5, 1.0)
        for i in range(3)
    ]
    prompts = ["Name a fruit.", "What colour is the sky?", "Say hello."]
    return {
        "model": "SmolLM2-135M-Instruct",
        "rows": QUESTIONS,
        "mode": "choice",
        "results": [_result(0.0, 14, 1.0), _result(0.5, 2, 0.0004), _result(1.0, 1, 0.0001)],
        "build_results": [_result(0.0, 15, 1.0), _result(0.5, 3, 0.001), _result(1.0, 2, 0.0)],
        "verdict": (
            "No strength did better than the unsteered model on the 40 build questions "
            "(15 of 40 correct without the vector), so no strength was chosen; on the 40 "
            "held-out questions the model answered 14 correctly without the vector."
        ),
        "outcome": "no_strength_chosen",
        "chosen_alpha": 0.0,
        "chosen_on": "build",
        "chance": 1 / 3,
        "options": [3, 3],
        "side_effects": {
            "perplexity": {"0": 21.5, "0.5": 30.2, "1": 55.0},
            "changed_share": {"0": 0.0, "0.5": 1.0, "1": 1.0},
            "answers": [
                {"prompt": p, "answers": {"0": f"plain {i}", "0.5": f"odd {i}", "1": f"x {i}"}}
                for i, p in enumerate(prompts)
            ],
        },
        "samples": samples,
    }


def plant(store) -> int:
    """The submission: strength 0.5 on layers 6-7 of a vector covering every layer."""
    import torch

    from steering.vectors import ControlVector

    lineage = {
        "model_id": "default",
        "model_name": "SmolLM2-135M-Instruct",
        "model_fingerprint": "f" * 64,
        "method": "mean_diff",
        "method_paper_name": "R-C",
        "negatives": "column",
        "layers": list(range(30)),
        "dataset_name": "logic-160",
        "dataset_hash": "d" * 64,
        "split_seed": 0,
    }
    vector = ControlVector({i: torch.full((576,), 0.01) for i in range(30)}, lineage)
    stored = store.add_vector(vector.to_bytes(), vector.metadata, "demo-builder")
    config = {"strengths": [0.0, 0.5, 1.0], "layers": [6, 7], "build_rows": 40,
              "heldout_rows": 40, "side_effects": True, "dataset_hash": "d" * 64}  # fmt: skip
    evaluation = store.add_evaluation(stored.id, config, planted_results(), "demo-builder")
    draft = store.create_submission(stored.id, 0.5, [6, 7], evaluation.id, "demo-builder")
    return store.submit(draft.id, "demo-builder", draft.version, REASON).id


@pytest.fixture(scope="module")
def planted(server):
    with server.store() as store:
        return plant(store)


@pytest.fixture(scope="module")
def report_file(server, planted, tmp_path_factory):
    from dashboard.report import evaluation_report_html

    with server.store() as store:
        sub = store.get_submission(planted)
        page = evaluation_report_html(
            sub,
            store.get_vector(sub.vector_id),
            store.get_evaluation(sub.evaluation_id),
            against_evidence=store.against_evidence(planted),
        )
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def _inside_first_screen(page, selector: str) -> None:
    box = page.locator(selector).bounding_box()
    viewport = page.viewport_size
    assert box is not None, selector
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"] + 1, (selector, box)
    assert box["y"] + box["height"] <= viewport["height"], (selector, box)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_reports_first_screen_says_what_to_do(report_file, page, width):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": width, "height": 800})
    page.goto(report_file.as_uri())
    recommendation = page.locator("#recommendation")
    expect(recommendation).to_contain_text("Recommendation: do not deploy.")
    expect(recommendation).to_contain_text("14 of 40 held-out questions (35%)")
    warning = page.locator("#against-evidence")
    expect(warning).to_contain_text("Submitted against the evidence by demo-builder")
    expect(warning).to_contain_text(REASON)
    # Both on the first screen, before any scrolling, the status below them.
    _inside_first_screen(page, "#recommendation")
    _inside_first_screen(page, "#against-evidence")
    # The chart's data has the guessing line, the unsteered line and the submitted strength.
    names = page.evaluate("() => document.querySelector('.js-plotly-plot').data.map(t => t.name)")
    assert "guessing (33%)" in names
    assert "without the vector (35%)" in names
    assert "submitted strength 0.5" in names
    # No legend entry covers another.
    boxes = page.evaluate(
        "() => [...document.querySelectorAll('.legend .traces')].map(e => {"
        "const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })"
    )
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert a[2] <= b[0] + 1 or b[2] <= a[0] + 1 or a[3] <= b[1] + 1 or b[3] <= a[1] + 1
    ARTIFACTS.mkdir(exist_ok=True)
    shot(page, f"report-first-screen-{width}", full=False)
    # The technical details stay folded until asked for.
    expect(page.locator("#technical table").first).to_be_hidden()
    page.locator("#technical summary").click()
    expect(page.locator("#technical")).to_contain_text("KL (nats)")
    page.locator("#technical summary").click()
    expect(page.locator("#technical table").first).to_be_hidden()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_reviewer_is_warned_above_approve(server, page, planted, width):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": width, "height": 800})
    login(page, server, "demo-reviewer")
    tab(page, "5 · Review")
    choose(page, "review-queue", re.compile(rf"^#{planted} "))
    warning = page.locator("#review-against")
    expect(warning).to_contain_text("Submitted against the evidence.")
    expect(warning).to_contain_text(REASON)
    approve = page.locator("#approve")
    expect(approve).to_be_visible()
    assert warning.bounding_box()["y"] < approve.bounding_box()["y"]
    box = page.locator("#review-headline")  # the recommendation heads the tab, in its box
    expect(box).to_contain_text("Recommendation: do not deploy.")
    expect(page.locator("#review-samples")).to_contain_text("✗ wrong")
    expect(page.locator("#review-effects-words")).to_contain_text("changed 3 of 3")
    warning.scroll_into_view_if_needed()
    shot(page, f"review-against-evidence-{width}", full=False)
