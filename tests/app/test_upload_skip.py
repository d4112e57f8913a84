"""Uploads: a new file goes straight into the emptied upload box, and a file with broken rows
offers "Use the N valid rows and skip M"; the skipped rows stay with the example set (reopened
alike), and the builder, the reviewer and the report all read which rows were left out."""

from __future__ import annotations

import gradio as gr
import pytest

from dashboard.common import UserError
from dashboard.report import evaluation_report_html
from dashboard.tabs import build, compare, examples, review
from dashboard.ui import build_ui
from dashboard.views.examples import skipped_rows_sentence
from tests.app.handlers import component
from tests.app.support import PASSWORD, REASON, attach_evaluation, csv_text, login, rows

SKIPPED = (
    "2 rows of the file were skipped because of problems, on its builder's choice (rows 3 and 6)"
)


@pytest.fixture()
def broken_file(tmp_path) -> str:
    table = rows(12)
    table[1]["positive"] = ""  # file row 3
    table[4]["prompt"] = ""  # file row 6
    path = tmp_path / "broken.csv"
    path.write_text(csv_text(table), encoding="utf-8")
    return str(path)


def test_broken_rows_are_offered_to_skip_and_the_choice_is_kept(ctx, broken_file, tmp_path):
    session = login(ctx, "bob", PASSWORD)
    refused = examples.upload_examples(ctx, session, broken_file)
    assert refused.skip_offer == "Use the 10 valid rows and skip 2"
    assert "was not accepted: 2 problems found. Nothing was stored." in refused.summary
    assert "or use the 10 valid rows without rows 3 and 6" in refused.summary
    assert list(refused.errors["row"]) == [3, 6]
    assert ctx.store.list_example_sets() == [] and session.example_set is None

    used = examples.use_valid_rows(ctx, session)
    (stored,) = ctx.store.list_example_sets()
    assert stored.skipped_rows == (3, 6) and stored.row_count == 10
    assert session.example_set is not None and len(session.example_set) == 10
    assert SKIPPED in used.summary and used.skip_offer == ""
    assert session.pending_upload is None
    with pytest.raises(UserError, match="Upload the file again"):
        examples.use_valid_rows(ctx, session)  # used once; nothing waits any more

    # Reopened later: the same rows are skipped again, so it is the same set.
    again = login(ctx, "bob", PASSWORD)
    examples.reopen(ctx, again, stored.id)
    assert again.example_set is not None
    assert again.example_set.content_hash == stored.content_hash
    assert again.example_set.skipped_rows == (3, 6)


def test_the_reviewer_and_the_report_read_which_rows_were_skipped(ctx, broken_file):
    builder = login(ctx, "bob", PASSWORD)
    examples.upload_examples(ctx, builder, broken_file)
    examples.use_valid_rows(ctx, builder)
    build.build(ctx, builder, layers="1-2")
    vector = ctx.store.get_vector(builder.vector_id)
    assert vector.lineage["skipped_rows"] == [3, 6]
    attach_evaluation(ctx, builder)
    compare.submit(ctx, builder, reason=REASON)
    sid = ctx.store.list_submissions()[-1].id

    shown = review.show_submission(ctx, login(ctx, "rita", PASSWORD), sid)
    assert SKIPPED in shown.evidence.examples
    sub = ctx.store.get_submission(sid)
    page = evaluation_report_html(sub, vector, ctx.store.get_evaluation(sub.evaluation_id))
    assert SKIPPED in page


def test_a_whole_file_problem_offers_nothing_to_skip(ctx, tmp_path):
    path = tmp_path / "no-positive.csv"
    path.write_text("prompt,answer\nWhat is 1 plus 1?,2\n", encoding="utf-8")
    session = login(ctx, "bob", PASSWORD)
    refused = examples.upload_examples(ctx, session, str(path))
    assert refused.skip_offer == "" and session.pending_upload is None
    assert "or use the" not in refused.summary


def test_many_skipped_rows_are_counted_past_the_listed_ones():
    sentence = skipped_rows_sentence(list(range(2, 32)))
    assert sentence.startswith("30 rows of the file were skipped")
    assert "(rows 2, 3, 4," in sentence and "21 and 10 more)" in sentence
    assert skipped_rows_sentence([7]) == (
        "1 row of the file was skipped because of problems, on its builder's choice (row 7); "
        "the rest were used."
    )
    assert skipped_rows_sentence(()) == ""


def test_the_upload_box_is_emptied_after_each_file_and_the_offer_is_a_button(ctx):
    demo = build_ui(ctx)
    upload = component(demo, "upload-examples")
    config = demo.get_config_file()
    (first,) = [
        d
        for d in config["dependencies"]
        if [upload._id, "upload"] in [list(t) for t in d["targets"]]
    ]
    # The event after the upload's handler writes None into the box, whatever the outcome.
    after = [d for d in config["dependencies"] if d.get("trigger_after") == first["id"]]
    assert [d["outputs"] for d in after] == [[upload._id]]
    assert not after[0].get("trigger_only_on_success")  # a refused file is emptied too
    offer = component(demo, "examples-use-valid")
    assert isinstance(offer, gr.Button) and offer.visible is False
    assert offer._id in first["outputs"]
