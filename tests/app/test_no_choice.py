"""Choosing nothing changes nothing: a list opened and closed without a choice, or a tab switch
after the sign-in ended, gives Gradio one no-change value per output (an empty answer fails the
whole event and marks the list and every output with an error)."""

from __future__ import annotations

import gradio as gr
import pytest

from dashboard import events
from dashboard.browser_state import BrowserSession
from dashboard.ui import build_ui
from dashboard.web import NotSignedInError, SignedInUser
from tests.app.handlers import handler_of, processed
from tests.app.support import PASSWORD, login


@pytest.fixture()
def demo(ctx) -> gr.Blocks:
    return build_ui(ctx)


@pytest.mark.parametrize(
    ("elem_id", "extra"),
    [("examples-earlier", (0.3,)), ("build-earlier", ()), ("compare-earlier", ())],
)
@pytest.mark.parametrize("nothing", [None, ""])
def test_reopening_nothing_leaves_every_output_as_it_was(
    demo, ctx, monkeypatch, elem_id, extra, nothing
):
    session = login(ctx, "bob", PASSWORD)
    monkeypatch.setattr(
        events, "current_user", lambda request: SignedInUser("bob", "builder", session.owner)
    )
    block_fn = handler_of(demo, elem_id, "input")
    result = block_fn.fn(session, nothing, *extra)
    values = processed(demo, block_fn, result)
    assert len(values) == len(block_fn.outputs) > 1
    # Each value is Gradio's "no change", so nothing on the page moves or shows an error.
    assert all(v == gr.skip() or v is None for v in values), values
    assert "problem" not in str(result).lower()


def test_a_tab_switch_after_the_sign_in_ended_changes_nothing(demo, monkeypatch):
    def ended(request):
        raise NotSignedInError("Your sign-in has ended")

    monkeypatch.setattr(events, "current_user", ended)
    block_fn = handler_of(demo, "tabs", "select")
    values = processed(demo, block_fn, block_fn.fn(BrowserSession(), "submitted"))
    assert len(values) == len(block_fn.outputs) > 1
    assert all(v == gr.skip() for v in values)
