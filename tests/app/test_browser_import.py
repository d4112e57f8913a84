"""The journey with a vector made elsewhere, in a real browser, up to its approval.

A builder uploads a llama.cpp control vector written the way repeng writes it (the ``gguf``
package's writer) on the Build tab, evaluates it on a few held-out questions and submits it; a
reviewer reads where it came from and approves it. A file made for another model is refused on
screen first. The harness (a real ``app.py`` process, sign-in through /login, Chromium) is
:mod:`tests.app.test_browser`'s.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.app.browser import LONG, choose, login, logout, shot, tab
from tests.gguf_files import write_like_repeng

pytestmark = pytest.mark.browser

SMOLLM2_HIDDEN = 576  # SmolLM2-135M, the bundled model the app loads by default


def test_imported_vector_journey_up_to_approval(server, page, tmp_path):
    from playwright.sync_api import expect

    rng = np.random.default_rng(0)
    good = write_like_repeng(
        tmp_path / "repeng-smollm2.gguf",
        {i: rng.normal(0, 0.05, SMOLLM2_HIDDEN) for i in (12, 13, 14)},
    )
    wrong = write_like_repeng(
        tmp_path / "for-another-model.gguf", {12: rng.normal(0, 0.05, SMOLLM2_HIDDEN + 64)}
    )
    login(page, server, "demo-builder")

    # 1. Model: the picker describes the installed bundled models; load the default.
    expect(page.locator("#model-bundled")).to_contain_text("Apache 2.0")
    expect(page.locator("#model-picker")).to_contain_text("SmolLM2-135M-Instruct")
    page.locator("#model-load").click()
    expect(page.locator("#model-status")).to_contain_text("Model ready", timeout=LONG)

    # 2. Examples: the bundled arithmetic set (its held-out rows evaluate the vector).
    tab(page, "2 · Examples")
    page.locator("#use-bundled").click()
    expect(page.locator("#examples-status")).to_contain_text("held-out rows")

    # 3. Build: a file for another model is refused, then the good file is imported.
    tab(page, "3 · Build")
    page.get_by_text("Use a vector made elsewhere").click()
    upload = page.locator("#import-gguf input[type=file]")
    upload.set_input_files(str(wrong))
    expect(page.locator("#build-status")).to_contain_text(
        "the model's hidden size is 576: this vector was made for another model", timeout=LONG
    )
    with server.store() as store:
        assert store.audit_events(action="vector.add") == []  # nothing stored
    expect(upload).to_have_count(1)  # the box is emptied after each upload, ready for the next
    upload.set_input_files(str(good))
    expect(page.locator("#build-status")).to_contain_text(
        "Imported from repeng-smollm2.gguf", timeout=LONG
    )
    expect(page.locator("#build-status")).to_contain_text("made for llama")
    shot(page, "import-03-build")

    # 4. Compare: the layers the file holds; a small held-out evaluation; submit.
    tab(page, "4 · Compare")
    layers_box = page.locator("#compare-layers textarea, #compare-layers input").first
    expect(layers_box).to_have_value("12-14")
    page.locator("#eval-strengths input, #eval-strengths textarea").first.fill("0, 1")
    page.locator("#eval-max input").fill("6")
    page.locator("#eval-side-effects input").uncheck()
    page.locator("#eval-button").click()
    expect(page.locator("#eval-verdict")).to_contain_text("strength", timeout=LONG)
    # A random direction rarely helps: then no strength is preselected, and 1 is chosen.
    if float(page.locator("#submit-strength input").input_value() or 0) == 0:
        choose(page, "submit-strength", "1")
    page.locator("#submit").click()
    status = page.locator("#submit-status")
    expect(status).to_contain_text(re.compile("sent for review|against the evidence"))
    if "against the evidence" in status.inner_text():
        # A strength the evaluation did not choose: the builder writes why, then submits.
        page.locator("#submit-reason textarea").fill("Trying the imported vector on the pilot.")
        page.locator("#submit").click()
        expect(status).to_contain_text("sent for review")
    sid = int(re.search(r"#(\d+)", status.inner_text()).group(1))
    logout(page)

    # 5. The reviewer sees where the vector came from and approves it.
    login(page, server, "demo-reviewer")
    tab(page, "5 · Review")
    choose(page, "review-queue", re.compile(rf"^#{sid} "))
    summary = page.locator("#review-summary")
    expect(summary).to_contain_text("Imported from repeng-smollm2.gguf")
    expect(summary).to_contain_text("made for llama")
    page.locator("#review-comment textarea").fill("Held-out accuracy checked.")
    page.locator("#approve").click()
    expect(page.locator("#review-status")).to_contain_text("approved")
    shot(page, "import-05-review")
    with server.store() as store:
        sub = store.get_submission(sid)
        lineage = store.get_vector(sub.vector_id).lineage
    assert sub.status == "approved" and list(sub.layers) == [12, 13, 14]
    assert lineage["source"] == "imported" and lineage["source_file"] == "repeng-smollm2.gguf"
