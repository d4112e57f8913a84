"""After a new sign-in: the Model tab says a loaded model is ready, a reopened vector shows the
layer chart of its build (the scores are kept in its lineage), the page can open on the tab its
address names, and the Review queue needs no Refresh button."""

from __future__ import annotations

import gradio as gr
import pytest

from dashboard import events
from dashboard.tabs import build, examples, model, signin
from dashboard.ui import build_ui
from dashboard.web import SignedInUser
from steering.build import LayerScore, stored_layer_scores
from tests.app.handlers import by_id, component, handler_of, processed
from tests.app.support import PASSWORD, login


@pytest.fixture()
def demo(ctx) -> gr.Blocks:
    return build_ui(ctx)


def signed_in(monkeypatch, session) -> None:
    user = SignedInUser(session.user, session.role, session.owner)
    monkeypatch.setattr(events, "current_user", lambda request: user)


def test_a_reopened_vector_shows_the_layer_chart_of_its_build(ctx, examples_file):
    session = login(ctx, "bob", PASSWORD)
    examples.upload_examples(ctx, session, examples_file)
    built = build.build(ctx, session)
    stored = ctx.store.get_vector(session.vector_id)
    scores = stored_layer_scores(stored.lineage)
    assert [s.layer for s in scores] == sorted(session.vector.layers)
    again = login(ctx, "bob", PASSWORD)  # a new sign-in: nothing in the session
    reopened = build.reopen_vector(ctx, again, session.vector_id)
    assert reopened.figure is not None
    (bars, *_) = reopened.figure.data
    (built_bars, *_) = built.figure.data
    # The same bars, heights and colours (recommended layers marked) as right after the build.
    assert list(bars.x) == list(built_bars.x)
    assert list(bars.y) == pytest.approx(list(built_bars.y), abs=1e-6)
    assert list(bars.marker.color) == list(built_bars.marker.color)


def test_layer_scores_round_trip_through_the_lineage():
    score = LayerScore(layer=3, separation=0.75, effect_size=1.2345678, pairs=8)
    assert LayerScore.from_dict(score.to_dict()) == LayerScore(3, 0.75, 1.234568, 8)
    # A vector from before the scores were kept (or imported) has none: no chart, no error.
    assert stored_layer_scores({"method": "mean_diff"}) == []


def model_load_handler(demo):
    return handler_of(demo, None, "load", output="model-status")


def test_the_model_tab_says_ready_on_a_new_sign_in_when_the_model_is_loaded(demo, ctx, monkeypatch):
    session = login(ctx, "bob", PASSWORD)
    session.model_spec = None  # a new page: the default model
    signed_in(monkeypatch, session)
    block_fn = model_load_handler(demo)
    shown = by_id(block_fn, block_fn.fn(session))
    assert shown["model-status"] == model.READY
    assert "tiny" in shown["model-card"]


def test_the_model_tab_stays_as_it_is_while_the_model_is_not_loaded(demo, ctx, monkeypatch):
    session = login(ctx, "bob", PASSWORD)
    session.model_spec = "not-loaded-yet"
    signed_in(monkeypatch, session)
    block_fn = model_load_handler(demo)
    values = processed(demo, block_fn, block_fn.fn(session))
    assert values == [gr.skip(), gr.skip()]
    assert not ctx.is_loaded("not-loaded-yet")  # asking did not load it


def test_the_review_tab_has_no_refresh_button(demo):
    labels = [b.value for b in demo.blocks.values() if isinstance(b, gr.Button)]
    assert "Refresh" in labels  # the Admin tab keeps its own
    assert not [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "review-refresh"]
    # The queue is filled again by each tab switch and by its filter.
    queue = component(demo, "review-queue")
    switch = handler_of(demo, "tabs", "select")
    assert queue in switch.outputs
    assert queue in handler_of(demo, "review-filter", "change").outputs


@pytest.mark.parametrize(
    ("reviewer", "asked", "lands"),
    [
        (False, "downloads", "downloads"),
        (True, "downloads", "downloads"),
        (False, None, "model"),
        (True, None, "review"),
        (True, "build", "review"),  # not a reviewer's tab
        (False, "admin", "model"),
        (False, "<script>", "model"),
    ],
)
def test_the_page_opens_on_the_tab_its_address_names(reviewer, asked, lands):
    assert signin.landing_tab(reviewer, asked) == lands


def test_the_page_load_follows_the_tab_in_the_address(demo, ctx, monkeypatch):
    from gradio.context import LocalContext
    from starlette.requests import Request

    session = login(ctx, "bob", PASSWORD)
    signed_in(monkeypatch, session)
    block_fn = handler_of(demo, None, "load", output="tabs")
    for query, lands in ((b"tab=downloads", "downloads"), (b"", "model")):
        scope = {"type": "http", "method": "GET", "path": "/", "query_string": query}
        token = LocalContext.request.set(gr.Request(request=Request(scope)))
        try:
            result = by_id(block_fn, block_fn.fn(session))
        finally:
            LocalContext.request.reset(token)
        assert result["tabs"].selected == lands
