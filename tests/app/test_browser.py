"""The dashboard in a real browser: Playwright driving Debian's Chromium against ``app.py``.

The app runs in a subprocess on a free local port with a temporary database and data folder, on
the bundled model (what users get); the converted GGUF is cached in the usual cache folder (or
``STEERING_CACHE_DIR``), so only the very first run pays for the conversion. Screenshots of every
tab go to ``test-artifacts/``.
"""

from __future__ import annotations

import csv
import re
import time
from pathlib import Path

import pytest

from tests.app.browser import ARTIFACTS, EVIL, LONG, Server, choose, login, logout, shot, tab

pytestmark = pytest.mark.browser

# ------------------------------------------------------------------------------ the journey


def test_whole_journey(server, page):
    from playwright.sync_api import expect

    timings: dict[str, float] = {}
    assert set(server.passwords) == {"demo-builder", "demo-reviewer"}
    page.goto(server.url)  # anonymous: sent to the sign-in page
    expect(page.locator("form[action='/login']")).to_be_visible()
    shot(page, "00-login")
    login(page, server, "demo-builder")

    # 1. Model
    started = time.perf_counter()
    page.locator("#model-load").click()
    expect(page.locator("#model-status")).to_contain_text("Model ready", timeout=LONG)
    timings["model load (click to card)"] = time.perf_counter() - started
    expect(page.locator("#model-card")).to_contain_text("30")
    shot(page, "01-model")

    # 2. Examples: the bundled arithmetic set
    tab(page, "2 · Examples")
    expect(page.locator("#bundled-set input")).to_have_value("arithmetic")
    page.locator("#use-bundled").click()
    expect(page.locator("#examples-status")).to_contain_text("held-out rows")
    expect(page.locator("#examples-preview")).to_contain_text("The answer is")
    shot(page, "02-examples")

    # 3. Build
    tab(page, "3 · Build")
    page.locator("#build-rows input").fill("24")  # a quick first try keeps the test short
    started = time.perf_counter()
    page.locator("#build-button").click()
    expect(page.locator("#build-status")).to_contain_text("Recommended layers", timeout=LONG)
    timings["build"] = time.perf_counter() - started
    expect(page.locator("#build-chart .js-plotly-plot")).to_be_visible()
    shot(page, "03-build")

    # 4. Compare: a held-out question, both answers side by side
    tab(page, "4 · Compare")
    expect(page.locator("#compare-layers textarea, #compare-layers input").first).not_to_have_value(
        ""
    )
    choose(page, "compare-question", re.compile(r"\?"))
    expect(page.locator("#compare-prompt textarea")).not_to_have_value("")
    page.locator("#compare-tokens input[type=number]").fill("24")
    started = time.perf_counter()
    page.locator("#compare-button").click()
    expect(page.locator("#compare-status")).to_contain_text("one batched call", timeout=LONG)
    timings["side-by-side answer"] = time.perf_counter() - started
    unsteered = page.locator("#answer-unsteered textarea").input_value()
    steered = page.locator("#answer-steered textarea").input_value()
    assert unsteered.strip() and steered.strip()

    # Held-out evaluation, kept small: two strengths besides 0, 12 questions per split.
    page.locator("#eval-strengths input, #eval-strengths textarea").first.fill("0, 0.5, 1")
    page.locator("#eval-max input").fill("12")
    started = time.perf_counter()
    page.locator("#eval-button").click()
    expect(page.locator("#eval-verdict")).to_contain_text("strength", timeout=LONG)
    timings["held-out evaluation"] = time.perf_counter() - started
    expect(page.locator("#eval-chart .js-plotly-plot")).to_be_visible()
    page.locator("#eval-technical").get_by_text("Technical details").click()  # the fold
    expect(page.locator("#eval-table")).to_contain_text("0.5")
    shot(page, "04-compare")

    # Only evaluated strengths are offered; with none chosen (no strength helped on the build
    # rows) submitting asks for one of them.
    strength_box = page.locator("#submit-strength input")
    if not strength_box.input_value():
        page.locator("#submit").click()
        expect(page.locator("#submit-status")).to_contain_text("evaluated strengths")
        choose(page, "submit-strength", "0.5")
    page.locator("#submit").click()
    status = page.locator("#submit-status")
    expect(status).to_contain_text(re.compile("sent for review|against the evidence"))
    if "against the evidence" in status.inner_text():
        # The verdict does not recommend deploying: the builder writes why, then submits.
        page.locator("#submit-reason textarea").fill("A first look for the team.")
        page.locator("#submit").click()
        expect(status).to_contain_text("sent for review")
    sid = int(re.search(r"#(\d+)", page.locator("#submit-status").inner_text()).group(1))

    # The builder sees their submission but is not offered its approval.
    tab(page, "5 · Review")  # switching tab fills the queue again
    choose(page, "review-queue", re.compile(rf"^#{sid} "))
    expect(page.locator("#review-note")).to_contain_text("only reviewers and admins can approve")
    expect(page.locator("#approve")).to_be_hidden()
    logout(page)

    # 5. The reviewer approves: they land on Review, told what waits
    login(page, server, "demo-reviewer")
    expect(page.locator("#header-user")).to_contain_text("waiting for review")
    expect(page.get_by_role("tab", name="5 · Review")).to_have_attribute("aria-selected", "true")
    choose(page, "review-queue", re.compile(rf"^#{sid} "))
    expect(page.locator("#review-summary")).to_contain_text(f"Submission #{sid}")
    expect(page.locator("#approve")).to_be_visible()
    page.locator("#review-comment textarea").fill("Accuracy holds up on held-out rows.")
    page.locator("#approve").click()
    expect(page.locator("#review-status")).to_contain_text("approved")
    expect(page.locator("#revoke")).to_be_visible()
    shot(page, "05-review")

    # 6. Audit
    tab(page, "6 · Audit")
    page.locator("#audit-show").click()
    table = page.locator("#audit-table")
    for action in ("login", "example_set.add", "vector.add", "evaluation.add"):
        expect(table).to_contain_text(action)
    expect(table).to_contain_text("submission.approve")
    page.locator("#audit-verify").click()
    expect(page.locator("#audit-result")).to_contain_text("Intact")
    shot(page, "06-audit")

    # 7. Downloads: the GGUF is a valid llama.cpp control vector with the approved strength
    tab(page, "7 · Downloads")  # opening the tab lists the approval just made: no Refresh
    choose(page, "downloads-approved", re.compile(rf"^#{sid} "))
    page.locator("#get-gguf").click()
    expect(page.locator("#downloads-status")).to_contain_text(".gguf")
    with page.expect_download() as download_info:
        page.locator("#downloads-status a").first.click()
    download = download_info.value
    target = ARTIFACTS / download.suggested_filename
    download.save_as(target)
    shot(page, "07-downloads")
    _check_gguf(target, server, sid)

    page.locator("#get-report").click()
    expect(page.locator("#downloads-status")).to_contain_text(".html")
    with page.expect_download() as download_info:
        page.locator("#downloads-status a").first.click()
    report = ARTIFACTS / download_info.value.suggested_filename
    download_info.value.save_as(report)
    text = report.read_text(encoding="utf-8")
    assert "Plotly.newPlot" in text and "<script src=" not in text

    # A narrow window: every tab still reads (screenshots to look at).
    page.set_viewport_size({"width": 400, "height": 800})
    for label, name in (  # the reviewer's tabs (the building tabs are not theirs)
        ("5 · Review", "narrow-05-review"),
        ("6 · Audit", "narrow-06-audit"),
        ("7 · Downloads", "narrow-07-downloads"),
    ):
        tab(page, label)  # tabs wrap onto more lines instead of hiding in a menu
        shot(page, name)
        # Wide tables and charts scroll inside their boxes; the page itself never scrolls sideways.
        page_width = page.evaluate("document.documentElement.scrollWidth")
        assert page_width <= 420, f"{label} is {page_width} px wide: {_widest(page)}"
    logout(page)
    shot(page, "narrow-00-login")

    (ARTIFACTS / "journey-timings.txt").write_text(
        "".join(f"{step}: {seconds:.1f} s\n" for step, seconds in timings.items())
    )
    print(timings)


def _widest(page) -> str:
    """The outermost elements wider than the window, to say what to fix."""
    return page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 20)
            .filter(e => !(e.parentElement && e.parentElement.getBoundingClientRect().right
                           > window.innerWidth + 20))
            .slice(0, 5)
            .map(e => e.tagName + '.' + e.className + '#' + e.id + ' '
                      + Math.round(e.getBoundingClientRect().width))
            .join(' | ')"""
    )


def _check_gguf(path: Path, server: Server, sid: int) -> None:
    import gguf

    with server.store() as store:
        sub = store.get_submission(sid)
    assert path.name == f"control-vector-{sid}-strength-{sub.strength:g}.gguf"
    reader = gguf.GGUFReader(path)
    arch = reader.fields["general.architecture"]
    assert bytes(arch.parts[arch.data[0]]).decode() == "controlvector"
    strength = reader.fields["controlvector.strength"]
    assert float(strength.parts[strength.data[0]][0]) == pytest.approx(sub.strength)
    assert sorted(t.name for t in reader.tensors) == sorted(f"direction.{i}" for i in sub.layers)
    assert all(t.data.shape[-1] == 576 for t in reader.tensors)  # SmolLM2-135M hidden size


# ------------------------------------------------------------------------------ the guards


@pytest.fixture(scope="module")
def planted_submission(server):
    """A submitted vector by demo-builder whose stored sample answer contains HTML."""
    import torch

    from steering.vectors import ControlVector

    vector = ControlVector({3: torch.ones(576)}, {"model_id": "default", "method": "mean_diff"})
    with server.store() as store:
        stored = store.add_vector(vector.to_bytes(), vector.metadata, "demo-builder")
        results = {
            "results": [
                {"alpha": 0.0, "accuracy": 0.5, "ci_low": 0.3, "ci_high": 0.7, "n": 10},
                {"alpha": 1.0, "accuracy": 0.6, "ci_low": 0.4, "ci_high": 0.8, "n": 10},
            ],
            "verdict": f"Planted verdict {EVIL}",
            "chosen_alpha": 1.0,
            "samples": [{"prompt": "What is 2+2?", "steered": EVIL}],
        }
        evaluation = store.add_evaluation(stored.id, {"layers": [3]}, results, "demo-builder")
        draft = store.create_submission(stored.id, 1.0, [3], evaluation.id, "demo-builder")
        return store.submit(draft.id, "demo-builder", draft.version).id


def test_builder_cannot_approve_own_submission(server, page, planted_submission):
    from playwright.sync_api import expect

    login(page, server, "demo-builder")
    tab(page, "5 · Review")  # switching tab fills the queue again
    choose(page, "review-queue", re.compile(rf"^#{planted_submission} "))
    expect(page.locator("#review-summary")).to_contain_text(f"Submission #{planted_submission}")
    expect(page.locator("#review-note")).to_contain_text("only reviewers and admins can approve")
    expect(page.locator("#approve")).to_be_hidden()
    expect(page.locator("#reject")).to_be_hidden()
    with server.store() as store:
        assert store.get_submission(planted_submission).status == "submitted"


def test_model_answer_with_html_is_shown_as_text(server, page, planted_submission):
    from playwright.sync_api import expect

    login(page, server, "demo-reviewer")
    tab(page, "5 · Review")
    choose(page, "review-queue", re.compile(rf"^#{planted_submission} "))
    # Samples are Markdown with model text escaped: the HTML shows literally, never runs.
    expect(page.locator("#review-samples")).to_contain_text(EVIL)
    expect(page.locator("#review-summary")).to_contain_text("<script>window.__pwned")
    assert page.evaluate("() => window.__pwned") is None
    assert page.locator("#evil-bold").count() == 0
    # A prompt typed with HTML in it stays text too (Compare is a builder's tab).
    logout(page)
    login(page, server, "demo-builder")
    tab(page, "4 · Compare")
    page.locator("#compare-prompt textarea").fill(EVIL)
    expect(page.locator("#compare-prompt textarea")).to_have_value(EVIL)
    assert page.evaluate("() => window.__pwned") is None
    shot(page, "08-html-as-text")


def test_invalid_upload_shows_row_errors_and_stores_nothing(server, page, tmp_path):
    from playwright.sync_api import expect

    bad = tmp_path / "bad-pairs.csv"
    with bad.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", "positive", "negative"])
        writer.writerow(["What is 1+1?", "1+1 is 2. The answer is 2.", "The answer is 3."])
        writer.writerow(["What is 2+2?", "", "The answer is 5."])
        writer.writerow(["", "3+3 is 6.", "The answer is 7."])
    with server.store() as store:
        before = len(store.list_example_sets())
    login(page, server, "demo-builder")
    tab(page, "2 · Examples")
    page.locator("#upload-examples input[type=file]").set_input_files(str(bad))
    expect(page.locator("#examples-status")).to_contain_text("Nothing was stored")
    errors = page.locator("#examples-errors")
    expect(errors).to_be_visible()
    expect(errors).to_contain_text("row 3: column 'positive' is empty")  # header = row 1
    expect(errors).to_contain_text("row 4: column 'prompt' is empty")
    expect(page.locator("#examples-status")).to_contain_text("2 problems found")
    shot(page, "09-invalid-upload")
    with server.store() as store:
        assert len(store.list_example_sets()) == before
