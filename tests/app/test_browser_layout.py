"""Controls that fit: every visible button, tab and table header readable at 1366, 800 and 400 px.

For a builder and a reviewer, each tab they can see is opened at each width and measured in the
page itself: a control's text is not clipped (``scrollWidth <= clientWidth``), no word of it is
broken across lines (each word's text range draws as one box), and it lies inside the window. At
1366 and 800 px the evaluation's table also shows every column, KL included, without scrolling.
The evidence comes from a real EvaluationReport stored for the builder and reopened on Compare.
The harness is :mod:`tests.app.test_browser`'s.
"""

from __future__ import annotations

import pytest

from tests.app.browser import login, shot
from tests.app.support import sample_report

pytestmark = pytest.mark.browser

WIDTHS = (1366, 800, 400)
SMOLLM2_HIDDEN = 576

# Returns one line per problem: which control, what is wrong, its size.
MEASURE = """() => {
  const problems = [];
  const visible = e => {
    const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden'
      && e.closest('[hidden]') === null;
  };
  const name = e => (e.id ? '#' + e.id : e.tagName.toLowerCase())
    + ' "' + e.innerText.trim().replace(/\\s+/g, ' ').slice(0, 40) + '"';
  const brokenWord = e => {
    const walker = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const re = /\\S+/g;
      let m;
      while ((m = re.exec(node.data)) !== null) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
        if (lines.size > 1) return m[0];
      }
    }
    return null;
  };
  // Inside a box that scrolls sideways (a wide table), a control may lie past the window.
  const scrolls = e => {
    for (let p = e.parentElement; p; p = p.parentElement) {
      const x = getComputedStyle(p).overflowX;
      if ((x === 'auto' || x === 'scroll') && p.scrollWidth > p.clientWidth) return true;
    }
    return false;
  };
  const controls = [...document.querySelectorAll('button, th')]
    .filter(e => visible(e) && e.innerText.trim().length > 0);
  for (const e of controls) {
    const r = e.getBoundingClientRect();
    if (e.scrollWidth > e.clientWidth + 1)
      problems.push(`${name(e)} clipped: text ${e.scrollWidth}px in ${e.clientWidth}px`);
    const word = brokenWord(e);
    if (word !== null) problems.push(`${name(e)} breaks the word "${word}" across lines`);
    if (!scrolls(e) && (r.left < -1 || r.right > window.innerWidth + 1))
      problems.push(`${name(e)} outside the window: ${Math.round(r.left)}..${Math.round(r.right)}`);
  }
  return problems;
}"""

# The right edge of the last header of the evaluation table against its scrolling box.
KL_SHOWN = """() => {
  const table = document.querySelector('#eval-table');
  const box = table.querySelector('.table-wrap, .table-container') || table;
  const heads = [...table.querySelectorAll('th')].filter(h => /KL/.test(h.innerText));
  if (heads.length === 0) return 'no KL column';
  const right = heads[0].getBoundingClientRect().right;
  const edge = box.getBoundingClientRect().right;
  return right <= edge + 1 ? '' : `KL header ends at ${Math.round(right)}, box at ${Math.round(edge)}`;
}"""


@pytest.fixture(scope="module")
def planted(server):
    """An evaluated vector of demo-builder's (a real report) and a submission waiting for review."""
    import torch

    from steering.vectors import ControlVector

    report = sample_report()
    vector = ControlVector(
        {1: torch.ones(SMOLLM2_HIDDEN), 2: torch.ones(SMOLLM2_HIDDEN)},
        {"model_id": "default", "method": "mean_diff", "recommended_layers": [1, 2]},
    )
    with server.store() as store:
        stored = store.add_vector(vector.to_bytes(), vector.metadata, "demo-builder")
        evaluation = store.add_evaluation(
            stored.id, {"layers": [1, 2], "strengths": [0, 0.5]}, report.to_dict(), "demo-builder"
        )
        draft = store.create_submission(stored.id, 0.5, [1, 2], evaluation.id, "demo-builder")
        store.submit(draft.id, "demo-builder", draft.version, "Layout check only.")
        return evaluation.id


def _visible_tabs(page) -> list[str]:
    return [
        t.inner_text().strip()
        for t in page.get_by_role("tab").all()
        if t.is_visible() and t.inner_text().strip()
    ]


def _open_everything(page) -> None:
    """Open the folds so the controls and tables inside them are measured too."""
    for fold in page.locator(".label-wrap:not(.open)").all():
        if fold.is_visible():
            fold.click()


def _check_tab(page, label: str, width: int, who: str) -> list[str]:
    page.get_by_role("tab", name=label).click()
    page.wait_for_timeout(300)
    _open_everything(page)
    page.wait_for_timeout(300)
    slug = label.split("·")[-1].strip().lower()
    shot(page, f"layout-{who}-{width}-{slug}")
    return [f"{who} at {width}px, {label}: {p}" for p in page.evaluate(MEASURE)]


@pytest.mark.parametrize("who", ["demo-builder", "demo-reviewer"])
def test_every_control_fits_at_three_widths(server, page, planted, who):
    from playwright.sync_api import expect

    problems: list[str] = []
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    login(page, server, who)
    if who == "demo-builder":
        # The evidence tables are on screen: reopen the planted evaluation on Compare.
        page.get_by_role("tab", name="4 · Compare").click()
        page.locator("#compare-earlier input").click()
        page.get_by_role("option", name=f"#{planted} ").first.click()
        expect(page.locator("#eval-verdict")).not_to_be_empty()
    else:
        expect(page.get_by_role("tab", name="5 · Review")).to_have_attribute(
            "aria-selected", "true"
        )
    tabs = _visible_tabs(page)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for label in tabs:
            problems += _check_tab(page, label, width, who)
            if label == "4 · Compare" and width != 400:
                kl = page.evaluate(KL_SHOWN)
                if kl:
                    problems.append(f"{who} at {width}px, results table: {kl}")
        page_width = page.evaluate("document.documentElement.scrollWidth")
        if page_width > width + 2:
            problems.append(f"{who} at {width}px: the page is {page_width}px wide")
    assert not problems, "\n".join(problems)
