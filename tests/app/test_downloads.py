"""Downloads of an approved submission: the llama.cpp file carries exactly what was approved.

Block 0 cannot be steered by llama.cpp: it is left out of the GGUF file, said on screen and in the
file's metadata; a submission of block 0 alone gets a message and no file. The HTML report carries
the audit trail's latest signed checkpoint.
"""

from __future__ import annotations

import gguf
import numpy as np
import pytest

from dashboard.common import UserError, export_folder
from dashboard.tabs import compare, downloads, review
from steering.export import BLOCK_ZERO_NOTICE
from steering.vectors import ControlVector
from tests.app.support import PASSWORD, REASON, attach_evaluation, builder_with_vector, login


def _approved_on(ctx, examples_file, layers: list[int]) -> int:
    """A submission of Bob's on ``layers`` (as evaluated) at strength 0.5, approved by Rita."""
    builder = builder_with_vector(ctx, examples_file)
    builder.recommended = list(layers)
    attach_evaluation(ctx, builder)  # evaluated on these layers, chosen strength 0.5
    compare.submit(ctx, builder, reason=REASON)
    sid = ctx.store.list_submissions()[-1].id
    reviewer = login(ctx, "rita", PASSWORD)
    review.show_submission(ctx, reviewer, sid)
    review.decide(ctx, reviewer, "approve", "Fine.")
    return sid


def _field(reader: gguf.GGUFReader, name: str):
    field = reader.fields[name]
    return field.parts[field.data[0]]


def test_gguf_has_the_submissions_layers_but_block_zero_and_its_strength(ctx, examples_file):
    sid = _approved_on(ctx, examples_file, [0, 1, 2])
    sub = ctx.store.get_submission(sid)
    assert list(sub.layers) == [0, 1, 2] and sub.strength == 0.5
    session = login(ctx, "bob", PASSWORD)
    path = downloads.download_gguf(ctx, session, sid)
    reader = gguf.GGUFReader(path)
    tensors = {t.name: np.asarray(t.data, dtype=np.float32) for t in reader.tensors}
    assert sorted(tensors) == ["direction.1", "direction.2"]
    stored = ControlVector.from_bytes(ctx.store.read_vector_file(sub.vector_id))
    for i in (1, 2):
        np.testing.assert_array_equal(tensors[f"direction.{i}"], stored.directions[i].numpy())
    assert float(_field(reader, "controlvector.strength")[0]) == pytest.approx(0.5)
    assert int(_field(reader, "controlvector.layer_count")[0]) == 2
    # Left out, and said so in the file and on screen.
    assert bytes(_field(reader, "controlvector.lab.dropped_layers")).decode() == "0"
    assert bytes(_field(reader, "controlvector.lab.notice")).decode() == BLOCK_ZERO_NOTICE
    assert downloads.gguf_note(ctx, sid) == BLOCK_ZERO_NOTICE
    event = ctx.store.audit_events(action="vector.export")[-1]
    assert event.details["layers"] == [1, 2] and event.details["left_out"] == [0]


def test_without_block_zero_nothing_is_said(ctx, examples_file):
    sid = _approved_on(ctx, examples_file, [1, 3])
    path = downloads.download_gguf(ctx, login(ctx, "bob", PASSWORD), sid)
    reader = gguf.GGUFReader(path)
    assert sorted(t.name for t in reader.tensors) == ["direction.1", "direction.3"]
    assert "controlvector.lab.dropped_layers" not in reader.fields
    assert downloads.gguf_note(ctx, sid) == ""


def test_a_submission_of_block_zero_alone_gets_a_message_and_no_file(ctx, examples_file):
    sid = _approved_on(ctx, examples_file, [0])
    session = login(ctx, "bob", PASSWORD)
    with pytest.raises(UserError, match="steers only block 0, which llama.cpp cannot steer"):
        downloads.download_gguf(ctx, session, sid)
    assert list(export_folder(ctx, "bob").glob("*.gguf")) == []
    assert ctx.store.audit_events(action="vector.export") == []
    # The lab's own format still carries it.
    assert ControlVector.load(downloads.download_safetensors(ctx, session, sid)).layers == [0]


def test_the_report_carries_the_latest_audit_checkpoint(ctx, examples_file):
    sid = _approved_on(ctx, examples_file, [1, 2])
    checkpoint = ctx.store.checkpoint()
    page = downloads.download_report(ctx, login(ctx, "rita", PASSWORD), sid).read_text("utf-8")
    assert "<h2>Audit checkpoint</h2>" in page
    assert f"<td>{checkpoint.head}</td>" in page and f"<td>{checkpoint.sig}</td>" in page
    assert "Where the vector came from: Built in this lab from the example set" in page


def test_the_downloaded_report_quotes_the_builders_reason_and_api_use(ctx, examples_file):
    sid = _approved_on(ctx, examples_file, [1, 2])
    page = downloads.download_report(ctx, login(ctx, "rita", PASSWORD), sid).read_text("utf-8")
    # The submission went against the evidence: the report quotes the reason the builder gave.
    assert REASON in page
    assert "<h2>Use through the API</h2><p>Not used through the API so far.</p>" in page
