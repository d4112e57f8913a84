"""The assembled Blocks app: tabs in the journey's order, headers users read, cross-tab wiring."""

from __future__ import annotations

import ast
from pathlib import Path

import gradio as gr
import pytest

from dashboard.ui import build_ui
from steering.evaluation.results import RESULT_COLUMNS

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboard"


@pytest.fixture()
def demo(ctx) -> gr.Blocks:
    return build_ui(ctx)


def _by_id(demo: gr.Blocks, elem_id: str):
    found = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == elem_id]
    assert len(found) == 1, f"{elem_id}: {len(found)} components"
    return found[0]


def _outputs_of(demo: gr.Blocks, source, event: str) -> set[str]:
    """The elem_ids every handler of ``source``'s ``event`` writes to."""
    outputs: set[str] = set()
    for fn in demo.fns.values():
        if (source._id, event) in fn.targets:
            outputs |= {getattr(o, "elem_id", None) for o in fn.outputs}
    return outputs


def test_tabs_follow_the_journey(demo):
    tabs = [b.label for b in demo.blocks.values() if isinstance(b, gr.Tab)]
    assert tabs == [
        "1 · Model",
        "2 · Examples",
        "3 · Build",
        "4 · Compare",
        "5 · Review",
        "6 · Audit",
        "7 · Downloads",
        "Admin",  # hidden until the page load finds an admin signed in
    ]
    assert demo.title == "Control-vector lab"


def test_the_tab_bar_holds_tabs_only_and_the_page_nothing_after_them(demo):
    """The browser places a tab by its position among the tab bar's children: anything else
    there (a component made while wiring events, say) puts a tab in another tab's place."""
    tabs = next(b for b in demo.blocks.values() if isinstance(b, gr.Tabs))
    assert tabs.children and all(isinstance(child, gr.Tab) for child in tabs.children), [
        type(child).__name__ for child in tabs.children
    ]
    assert not [type(b).__name__ for b in demo.children if isinstance(b, gr.Timer)]


def test_results_tables_carry_the_labels_with_units(demo):
    labels = [column.label for column in RESULT_COLUMNS]
    assert "KL (nats)" in labels
    for elem_id in ("eval-table", "review-table"):
        assert _by_id(demo, elem_id).headers == labels


def test_events_reach_across_tabs(demo):
    assert "compare-question" in _outputs_of(demo, _by_id(demo, "use-bundled"), "click")
    assert "compare-question" in _outputs_of(demo, _by_id(demo, "upload-examples"), "upload")
    assert "compare-layers" in _outputs_of(demo, _by_id(demo, "build-button"), "click")
    # Sign-in happens on /login; the page load names the user and fills the role's queues.
    loaded = _outputs_of(demo, demo, "load")
    assert {"review-queue", "review-filter", "downloads-approved", "header-user"} <= loaded
    assert not any("login" in (getattr(b, "elem_id", None) or "") for b in demo.blocks.values())
    decided = _outputs_of(demo, _by_id(demo, "approve"), "click")
    assert {"review-queue", "review-status", "approve", "reject", "revoke"} <= decided


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_views_and_report_import_no_tab_and_no_gradio():
    views = sorted(str(p.relative_to(DASHBOARD)) for p in (DASHBOARD / "views").glob("*.py"))
    assert "views/common.py" in views and "views/compare.py" in views
    for name in (*views, "report.py", "charts.py", "common.py", "browser_state.py"):
        imported = _imports(DASHBOARD / name)
        assert not any(m.startswith("dashboard.tabs") for m in imported), name
        assert "gradio" not in imported, name


def test_no_import_circle_inside_the_dashboard():
    modules = {
        ".".join(path.relative_to(DASHBOARD.parent).with_suffix("").parts).removesuffix(
            ".__init__"
        ): path
        for path in DASHBOARD.rglob("*.py")
    }
    graph = {name: {m for m in _imports(path) if m in modules} for name, path in modules.items()}

    def visit(name: str, trail: tuple[str, ...]) -> None:
        assert name not in trail, " -> ".join((*trail, name))
        for target in graph[name]:
            visit(target, (*trail, name))

    for name in graph:
        visit(name, ())


# ------------------------------------------------------------------ one heavy job per user


def test_a_second_heavy_job_of_the_same_user_is_refused_with_a_waiting_message(ctx, examples_file):
    from dashboard.common import UserError, one_job
    from dashboard.tabs import compare
    from tests.app.support import builder_with_vector

    session = builder_with_vector(ctx, examples_file)
    with one_job("bob", "evaluation"):
        with pytest.raises(UserError) as refused:
            compare.compare(ctx, session, compare.AnswerRequest("What is 2 plus 3?", 1.0, None, 4))
        with one_job("rita", "build"):  # someone else's job is not held up
            pass
    assert str(refused.value).startswith(
        "Waiting for your previous job to finish: your evaluation started "
    )
    assert str(refused.value).endswith(
        "This answer generation was not started; run it again when the other is done."
    )
    assert ctx.store.audit_events(action="generate") == []
    plain, steered = compare.compare(
        ctx, session, compare.AnswerRequest("What is 2 plus 3?", 1.0, None, 4)
    )
    assert isinstance(plain, str) and isinstance(steered, str)  # free again once it finished
    assert len(ctx.store.audit_events(action="generate")) == 1
