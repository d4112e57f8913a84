"""The number format on screen (issue 24): the Model tab's card, the HTML report and downloads
say what a vector was built in, what its evaluation ran in, and that the API serves that."""

from __future__ import annotations

import dataclasses
import re

import torch

from dashboard.report import evaluation_report_html
from dashboard.tabs import compare, downloads, model, review
from dashboard.views.model import model_card_markdown
from steering.engine.models import in_format
from steering.vectors import ControlVector
from tests.app.support import (
    PASSWORD,
    REASON,
    attach_evaluation,
    builder_with_vector,
    login,
    sample_report,
)


def _text(page: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)).strip()


def _approved(ctx, examples_file, dtype: str | None) -> int:
    """Bob's vector (built on the float32 tiny model), evaluated in ``dtype``, approved."""
    builder = builder_with_vector(ctx, examples_file)
    report = sample_report()
    if dtype is not None:
        report = dataclasses.replace(
            report, dtype=dtype, dtype_reason=f"{dtype}: native on this CPU"
        )
    attach_evaluation(ctx, builder, report)
    compare.submit(ctx, builder, reason=REASON)
    sid = ctx.store.list_submissions()[-1].id
    reviewer = login(ctx, "rita", PASSWORD)
    review.show_submission(ctx, reviewer, sid)
    review.decide(ctx, reviewer, "approve", "Fine.")
    return sid


def test_the_model_card_shows_the_format_and_why(ctx):
    ctx.models["tiny"] = in_format(ctx.models["tiny"], "bfloat16")
    session = login(ctx, "bob", PASSWORD)
    table = model.load_model_card(ctx, session, "tiny")
    card = dict(table.values.tolist())
    assert card["Number format"] == "bfloat16"
    assert card["Why this format"] == "asked for by STEERING_DTYPE/--dtype"
    markdown = model_card_markdown(table)
    assert "| Why this format | asked for by STEERING\\_DTYPE/--dtype |" in markdown


def test_the_report_says_the_evaluated_format_is_the_served_one(ctx, examples_file):
    sid = _approved(ctx, examples_file, "bfloat16")
    sub = ctx.store.get_submission(sid)
    vector = ctx.store.get_vector(sub.vector_id)
    assert vector.lineage["dtype"] == "float32"  # the dashboard's build recorded its format
    page = evaluation_report_html(sub, vector, ctx.store.get_evaluation(sub.evaluation_id))
    part = page[page.index("id='number-format'>") + len("id='number-format'>") :]
    assert _text(part[: part.index("</div>")]) == (
        "Number format. The evaluation ran in bfloat16 (native on this CPU); the API serves "
        "this submission in bfloat16, the format it was evaluated in. The vector was built in "
        "float32 (the format the model was built in); its file stores float32 numbers in any case."
    )


def test_an_evaluation_stored_before_formats_says_it_was_not_recorded(ctx, examples_file):
    sid = _approved(ctx, examples_file, None)
    sub = ctx.store.get_submission(sid)
    page = evaluation_report_html(
        sub, ctx.store.get_vector(sub.vector_id), ctx.store.get_evaluation(sub.evaluation_id)
    )
    assert "The evaluation ran in not recorded (made before formats were recorded" in page
    assert "the API serves it in the format the model is loaded in" in page


def test_downloads_carry_and_say_the_evaluated_format(ctx, examples_file):
    sid = _approved(ctx, examples_file, "bfloat16")
    session = login(ctx, "bob", PASSWORD)
    path = downloads.download_safetensors(ctx, session, sid)
    vector = ControlVector.load(path)
    assert vector.metadata["evaluated_dtype"] == "bfloat16"
    assert vector.metadata["dtype"] == "float32"  # what it was built in, from its lineage
    assert {t.dtype for t in vector.directions.values()} == {torch.float32}
    assert downloads.format_note(ctx, sid) == (
        "Evaluated in bfloat16 (native on this CPU); the API serves it in bfloat16. "
        "Vector files hold float32 numbers."
    )
