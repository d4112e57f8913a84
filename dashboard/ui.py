"""The whole dashboard assembled from its tabs (:mod:`dashboard.tabs`): layout order and wiring.

Every tab is created first, then the events that reach across tabs are wired, because some of
them update a component of a tab created later (an example set fills the Compare tab's question
list). Model output only ever goes into text boxes, so it is shown as text and never rendered as
HTML or Markdown.

Lanes (:func:`queue_in_lanes`): the heavy jobs (build, evaluation, answer generation, a model
load) share one concurrency group of ``HEAVY_AT_ONCE`` events, so however many wait, they hold
at most that many of Gradio's workers and threads; every other event (a review decision, a
refresh) keeps its own group. Gradio's handlers run on a thread pool of Gradio's own
(``GRADIO_THREADS``), not on the default pool that the sign-in, the session gate and the
download links use; the API has a lane of its own (:mod:`dashboard.api.lane`).
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from dashboard import job_watch
from dashboard.browser_state import BrowserSession
from dashboard.context import AppContext
from dashboard.tabs import (
    admin,
    audit,
    build,
    compare,
    downloads,
    examples,
    model,
    review,
    signin,
)

CSS_PATH = Path(__file__).resolve().parent.parent / "assets" / "css" / "app.css"
TITLE = "Control-vector lab"


def css() -> str:
    return CSS_PATH.read_text(encoding="utf-8") if CSS_PATH.is_file() else ""


# The tabs for building a vector: a role that reviews (storage.workflow.may_review) does not see
# them. Named by the ``id`` each tab module gives its tab.
BUILDER_TABS = ("model", "examples", "build", "compare")

# The heavy jobs' handlers, by the names the tabs give them: model work of seconds to minutes.
HEAVY_HANDLERS = frozenset({"do_build", "do_evaluate", "do_generate", "do_load"})
HEAVY_LANE = "heavy-jobs"
HEAVY_AT_ONCE = 4  # on a small machine more would only share its cores, each slower
LIGHT_AT_ONCE = 4  # of each other event (Gradio's default would be 1)
# Not 40: Gradio keeps anyio's default pool (the light routes' pool) when it is given 40.
GRADIO_THREADS = 32


def build_ui(ctx: AppContext) -> gr.Blocks:
    """A header naming the signed-in user, seven tabs following the journey, then Admin (admins).

    Served by :func:`dashboard.web.server.create_server`, which signs people in on ``/login``.
    """
    with gr.Blocks(title=TITLE) as demo:
        state = gr.State(BrowserSession())
        with gr.Column(elem_id="main-panel"):
            header = signin.create_header()
            with gr.Tabs(elem_id="tabs", overflow_behavior="wrap") as tabs:
                model_tab = model.create_ui(ctx, state)
                examples_tab = examples.create_ui()
                build_tab = build.create_ui()
                compare_tab = compare.create_ui(ctx, state)
                review_tab = review.create_ui(ctx, state)
                audit.create_ui(ctx, state)
                downloads_tab = downloads.create_ui(ctx, state)
                admin_tab = admin.create_ui(ctx, state)  # shown to admins only
        builder_tabs = [t for t in tabs.children if getattr(t, "id", None) in BUILDER_TABS]
        # Hidden until the page load shows them to a role that builds (dashboard.tabs.signin):
        # Gradio shows a hidden tab on request, but does not take a shown tab's name away.
        for tab in builder_tabs:
            tab.visible = False

        lists = signin.Lists(
            examples_tab.earlier, build_tab.earlier, compare_tab.earlier, review_tab, downloads_tab
        )
        signin.wire(ctx, demo, tabs, state, header, builder_tabs, lists)
        model.wire(ctx, demo, state, model_tab)
        examples.wire(ctx, state, examples_tab, compare_tab.question)
        build.wire(
            ctx,
            state,
            build_tab,
            compare_tab.steer_layers,
            compare_tab.strengths,
            compare_tab.question,
        )
        admin.wire(ctx, demo, state, admin_tab)
        # A job left running by an earlier page (a reload, a new sign-in) shows in its tab.
        job_watch.wire_load(ctx, demo, state, [build_tab.job, *compare_tab.jobs])
    return demo


def queue_in_lanes(demo: gr.Blocks) -> gr.Blocks:
    """Turn on Gradio's queue with the dashboard's lanes (see the module's doc); returns ``demo``.

    Raises RuntimeError when a heavy handler is missing (renamed in its tab), so that a job
    never leaves its lane unnoticed."""
    demo.max_threads = GRADIO_THREADS  # read by queue() and by the thread pool made at start-up
    demo.queue(default_concurrency_limit=LIGHT_AT_ONCE)
    found: set[str] = set()
    for event in demo.fns.values():
        if event.name in HEAVY_HANDLERS:
            event.concurrency_id = HEAVY_LANE
            event.concurrency_limit = HEAVY_AT_ONCE
            found.add(event.name)
    missing = sorted(HEAVY_HANDLERS - found)
    if missing:
        raise RuntimeError(f"No event runs the heavy handlers {missing}: update HEAVY_HANDLERS.")
    return demo
