"""Work persists: a builder signs in again and reopens their example set, vector and evaluation.

Each test starts a fresh BrowserSession (what a new sign-in or a reload gets) and checks that what
comes back from the store is what was made: the same vector numbers, the same split, the same
evaluation, ready to submit. Also the example-set template, and the lists the page keeps current.
"""

from __future__ import annotations

import csv
import io

import pytest
import torch

from dashboard import earlier
from dashboard.common import UserError
from dashboard.tabs import build, compare, examples, signin
from steering.data.examples import KNOWN_COLUMNS, load_examples
from steering.data.template import TEMPLATE_ROWS, template_bytes
from steering.layers import layers_text
from tests.app.support import PASSWORD, login


def _made(ctx, examples_file):
    """Bob's example set, vector and a small evaluation, made in one session."""
    session = login(ctx, "bob", PASSWORD)
    examples.upload_examples(ctx, session, examples_file, heldout_fraction=0.25)
    build.build(ctx, session, layers="1-2")
    compare.evaluate(ctx, session, "0, 1", "1-2", max_questions=3, side_effects=False)
    return session


def test_signing_in_again_lists_and_reopens_the_earlier_work(ctx, examples_file):
    before = _made(ctx, examples_file)
    again = login(ctx, "bob", PASSWORD)  # a new sign-in: nothing in the session
    assert again.vector is None and again.example_set is None

    assert [i for _, i in earlier.example_set_choices(ctx, again)] == [before.example_set_id]
    assert [i for _, i in earlier.vector_choices(ctx, again)] == [before.vector_id]
    assert [i for _, i in earlier.evaluation_choices(ctx, again)] == [before.evaluation_id]

    view = compare.reopen_evaluation(ctx, again, before.evaluation_id)
    # The vector is the stored one, number for number, and its example set is split as before.
    assert again.vector_id == before.vector_id
    for layer in (1, 2):
        assert torch.equal(again.vector.directions[layer], before.vector.directions[layer])
    assert again.example_set.content_hash == before.example_set.content_hash
    assert again.heldout_fraction == 0.25
    assert [e.row for e in again.heldout_rows] == [e.row for e in before.heldout_rows]
    assert again.evaluation_id == before.evaluation_id
    assert again.evaluation.to_dict() == before.evaluation.to_dict()
    assert again.evaluation_layers == [1, 2]
    assert view.verdict == before.evaluation.verdict

    # Continue: submit the reopened evaluation's strength 1 (with a reason, should it go against
    # the evidence), exactly as right after evaluating.
    message = compare.submit(ctx, again, 1.0, None, "Reopened to submit; checked by hand.")
    sent = ctx.store.list_submissions()[-1]
    assert f"Submission #{sent.id} sent for review" in message
    assert (sent.vector_id, sent.evaluation_id, sent.strength) == (
        before.vector_id,
        before.evaluation_id,
        1.0,
    )


def test_a_reopened_vector_brings_its_example_set_and_evaluates_again(ctx, examples_file):
    before = _made(ctx, examples_file)
    again = login(ctx, "bob", PASSWORD)
    view = build.reopen_vector(ctx, again, before.vector_id)
    assert f"Reopened vector #{before.vector_id}" in view.summary
    # The layers recommended at the build (else all the vector's), as the build offered them.
    assert view.layers_text == (
        layers_text(before.recommended) or layers_text(before.vector.layers)
    )
    assert again.example_set_id == before.example_set_id
    compare.evaluate(ctx, again, "0, 1", "1-2", max_questions=3, side_effects=False)
    evaluations = earlier.evaluations(ctx, again)
    assert [e.vector_id for e in evaluations] == [before.vector_id, before.vector_id]
    assert evaluations[0].id == again.evaluation_id  # newest first


def test_someone_elses_work_is_neither_listed_nor_reopened(ctx, examples_file):
    before = _made(ctx, examples_file)
    rita = login(ctx, "rita", PASSWORD)
    assert earlier.example_set_choices(ctx, rita) == []
    assert earlier.vector_choices(ctx, rita) == []
    with pytest.raises(UserError, match="made by bob, not you"):
        earlier.reopen_vector(ctx, rita, before.vector_id)
    with pytest.raises(UserError, match="made by bob, not you"):
        earlier.reopen_evaluation(ctx, rita, before.evaluation_id)
    assert rita.vector is None


def test_a_vector_for_another_model_asks_to_load_that_model(ctx, examples_file):
    before = _made(ctx, examples_file)
    again = login(ctx, "bob", PASSWORD)
    again.model_spec = "gemma-3-270m"
    with pytest.raises(UserError, match="made for the model 'tiny-llama'.*Load 'tiny-llama' on"):
        earlier.reopen_vector(ctx, again, before.vector_id)


def test_reopening_an_example_set_reads_the_stored_file(ctx, examples_file):
    before = _made(ctx, examples_file)
    again = login(ctx, "bob", PASSWORD)
    view = examples.reopen(ctx, again, before.example_set_id, 0.5)
    assert again.example_set.content_hash == before.example_set.content_hash
    assert len(again.heldout_rows) == 6 and "6 held-out rows" in view.summary
    assert view.preview["row"].tolist() == list(range(2, 14))  # header is row 1


def test_the_lists_follow_the_store(ctx, examples_file):
    bob = login(ctx, "bob", PASSWORD)
    assert signin.lists_of(ctx, bob, "all") == {
        "example_sets": [],
        "vectors": [],
        "evaluations": [],
        "review": [],
        "downloads": [],
    }
    made = _made(ctx, examples_file)
    compare.submit(ctx, made, 1.0, None, "For the list test.")
    found = signin.lists_of(ctx, bob, "all")
    assert [i for _, i in found["vectors"]] == [made.vector_id]
    assert len(found["review"]) == 1 and found["downloads"] == []
    assert "1 submission waiting for review" in signin.header_markdown(bob, 1)
    assert "3 submissions waiting" in signin.header_markdown(bob, 3)
    assert "waiting" not in signin.header_markdown(bob)


# ------------------------------------------------------------------------------ template


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_template_has_the_documented_columns_and_loads(fmt):
    data = template_bytes(fmt)
    loaded = load_examples(data, filename=f"template.{fmt}")
    assert len(loaded.examples) == 2
    assert [e.row for e in loaded.examples] == [2, 3]  # under the header, as Excel shows it
    assert [e.prompt for e in loaded.examples] == [row[0] for row in TEMPLATE_ROWS]
    assert loaded.examples[1].split == "heldout" and loaded.examples[0].choices == (
        "12",
        "7",
        "15",
    )
    if fmt == "csv":
        header = next(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        assert header == list(KNOWN_COLUMNS)


def test_the_template_is_written_to_the_users_folder(ctx):
    bob = login(ctx, "bob", PASSWORD)
    path = examples.template_file(ctx, bob, "xlsx")
    assert path.name == "example-set-template.xlsx"
    written = load_examples(path.read_bytes(), filename=path.name)
    assert (
        written.content_hash == load_examples(template_bytes("csv"), filename="t.csv").content_hash
    )
    with pytest.raises(UserError, match="csv, xlsx"):
        examples.template_file(ctx, bob, "ods")
