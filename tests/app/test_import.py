"""Import on the Build tab: a llama.cpp control vector made elsewhere, then evaluated and reviewed.

The files are written with the ``gguf`` package the way repeng writes them (its own writer, F32
``direction.{i}`` tensors, ``controlvector.model_hint``), not with the lab's exporter.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from gradio import utils as gr_utils

from dashboard.common import KNOWN_ERRORS, UserError
from dashboard.tabs import build, compare, downloads, examples, review
from steering.errors import SteeringError
from steering.vectors import ControlVector
from tests.app.support import PASSWORD, login
from tests.gguf_files import write_like_repeng

HIDDEN = 32  # tests.tiny's hidden size (4 decoder blocks)


def _directions(size: int = HIDDEN, layers=(1, 2), seed: int = 7) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {i: rng.normal(0, 0.5, size).astype(np.float32) for i in layers}


def test_an_imported_vector_is_stored_evaluated_submitted_and_reviewed(
    ctx, examples_file, tmp_path
):
    session = login(ctx, "bob", PASSWORD)
    examples.upload_examples(ctx, session, examples_file)
    written = _directions()
    path = write_like_repeng(tmp_path / "repeng.gguf", written, hint="llama")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    view = build.import_vector(ctx, session, str(path))

    # Stored exactly as a built vector is: the file with its lineage, the session steers it.
    assert session.vector.layers == [1, 2] and view.layers_text == "1-2"
    assert session.recommended == [1, 2] and view.figure is None
    stored = ctx.store.get_vector(session.vector_id)
    assert stored.created_by == "bob"
    assert stored.lineage["source"] == "imported"
    assert stored.lineage["source_sha256"] == digest
    assert stored.lineage["model_hint"] == "llama"
    assert stored.lineage["model_id"] == ctx.models["tiny"].spec  # as a build records it
    kept = ControlVector.from_bytes(ctx.store.read_vector_file(session.vector_id))
    for i, values in written.items():
        np.testing.assert_array_equal(kept.directions[i].numpy(), values)
    assert ctx.store.audit_events(action="vector.add")[-1].actor == "bob"
    assert f"Imported from repeng.gguf \\(sha256 {digest[:16]}…, made for llama\\)" in view.summary

    # Compare and the held-out evaluation run on it as on a built vector.
    plain, steered = compare.compare(
        ctx, session, compare.AnswerRequest("What is 2 plus 3?", 4.0, None, 4)
    )
    assert plain != steered
    compare.evaluate(ctx, session, "0, 1", None, 4, side_effects=False)
    evaluation = ctx.store.get_evaluation(session.evaluation_id)
    assert evaluation.vector_id == session.vector_id and evaluation.config["layers"] == [1, 2]
    strength = session.evaluation.chosen_alpha or 1.0
    compare.submit(ctx, session, strength=strength, reason="Trying the imported vector.")
    sub = ctx.store.list_submissions()[-1]
    assert (sub.vector_id, list(sub.layers), sub.strength) == (session.vector_id, [1, 2], strength)

    # The reviewer and the report are told where the vector came from.
    origin = f"Imported from repeng.gguf (sha256 {digest[:16]}…, made for llama)"
    reviewer = login(ctx, "rita", PASSWORD)
    shown = review.show_submission(ctx, reviewer, sub.id)
    escaped = f"Imported from repeng.gguf \\(sha256 {digest[:16]}…, made for llama\\)"
    assert f"- **Where it came from** {escaped}" in shown.summary
    review.decide(ctx, reviewer, "approve", "Checked on held-out rows.")
    page = downloads.download_report(ctx, reviewer, sub.id).read_text(encoding="utf-8")
    assert f"Where the vector came from: {origin}" in page


def test_a_vector_for_another_hidden_size_is_refused_and_nothing_is_stored(ctx, tmp_path):
    session = login(ctx, "bob", PASSWORD)
    path = write_like_repeng(tmp_path / "wide.gguf", _directions(size=HIDDEN + 16))
    with pytest.raises(SteeringError, match="hidden size is 32: this vector was made for another"):
        build.import_vector(ctx, session, str(path))
    assert ctx.store.audit_events(action="vector.add") == []
    assert session.vector is None and session.vector_id is None


def test_a_vector_for_more_blocks_than_the_model_has_is_refused(ctx, tmp_path):
    session = login(ctx, "bob", PASSWORD)
    path = write_like_repeng(tmp_path / "deep.gguf", _directions(layers=(2, 9)))
    with pytest.raises(SteeringError, match="steers block 9, but the model has blocks 0-3"):
        build.import_vector(ctx, session, str(path))
    assert ctx.store.audit_events(action="vector.add") == []


def test_a_file_that_is_not_a_gguf_gives_a_clear_error(ctx, tmp_path):
    session = login(ctx, "bob", PASSWORD)
    path = tmp_path / "notes.gguf"
    path.write_text("not a model file", encoding="utf-8")
    with pytest.raises(KNOWN_ERRORS, match="'notes.gguf' is not a readable GGUF file"):
        build.import_vector(ctx, session, str(path))
    with pytest.raises(UserError, match="Choose a llama.cpp control-vector file"):
        build.import_vector(ctx, session, None)
    assert ctx.store.audit_events(action="vector.add") == []


def test_the_upload_is_deleted_once_read_even_when_refused(ctx, tmp_path):
    session = login(ctx, "bob", PASSWORD)
    folder = Path(gr_utils.get_upload_folder()) / "test-import-upload"
    folder.mkdir(parents=True, exist_ok=True)
    good = write_like_repeng(folder / "good.gguf", _directions())
    build.import_vector(ctx, session, str(good))
    assert not good.exists()
    folder.mkdir(parents=True, exist_ok=True)
    bad = write_like_repeng(folder / "bad.gguf", _directions(size=HIDDEN + 1))
    with pytest.raises(SteeringError):
        build.import_vector(ctx, session, str(bad))
    assert not bad.exists() and not folder.exists()
