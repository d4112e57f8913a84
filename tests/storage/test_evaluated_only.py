"""Only what was evaluated can be submitted: strengths and layer sets the evaluation tested, a
vector that can be exported. Refusals store nothing and write no audit event."""

from __future__ import annotations

import json
import struct

import pytest
from sqlalchemy import text

from storage import Store, ValidationError
from storage.vector_file import export_problem

from .helpers import evaluation_results, safetensors_bytes

GOOD_VECTOR = {"layer.2": [0.5, -1.0], "layer.3": [0.25, 2.0]}


def vector_and_evaluation(
    store: Store, tensors: dict[str, list[float]] | None = None
) -> tuple[int, int]:
    """A vector on layers 2 and 3 evaluated at strengths 0, 0.5 and 1 on those layers."""
    vector = store.add_vector(safetensors_bytes(tensors or GOOD_VECTOR), {"model_id": "m"}, "alice")
    evaluation = store.add_evaluation(
        vector.id,
        {"strengths": [0.0, 0.5, 1.0], "layers": [2, 3]},
        evaluation_results([0.0, 0.5, 1.0]),
        "alice",
    )
    return vector.id, evaluation.id


@pytest.mark.parametrize(
    ("strength", "layers", "message"),
    [
        (0.75, [2, 3], "Strength 0.75 was not evaluated: evaluation 1 tested 0.5, 1"),
        (1e300, [2, 3], "Strength 1e\\+300 was not evaluated"),
        (-7, [2, 3], "Strength -7 was not evaluated"),
        (float("nan"), [2, 3], "finite"),
        (float("inf"), [2, 3], "finite"),
        (0.0, [2, 3], "nothing to approve"),
        (0.5, [1, 2], "Layers 1, 2 were not evaluated at strength 0.5: .* tested layers 2, 3"),
        (0.5, [2], "Layers 2 were not evaluated"),
    ],
)
def test_anything_not_evaluated_is_refused_and_nothing_stored(
    store: Store, people: dict, strength: float, layers: list[int], message: str
) -> None:
    vector_id, evaluation_id = vector_and_evaluation(store)
    events = store.verify().count
    with pytest.raises(ValidationError, match=message):
        store.create_submission(vector_id, strength, layers, evaluation_id, "alice")
    assert store.list_submissions() == []
    assert store.verify().count == events


def test_an_evaluated_strength_is_stored_as_evaluated(store: Store, people: dict) -> None:
    vector_id, evaluation_id = vector_and_evaluation(store)
    # A value typed back from a screen may differ from the evaluated one in its last bits.
    draft = store.create_submission(vector_id, 0.5 + 1e-15, [3, 2], evaluation_id, "alice")
    assert (draft.strength, draft.layers) == (0.5, (2, 3))
    sent = store.submit(draft.id, "alice", draft.version)
    event = store.audit_events(action="submission.submit")[-1]
    assert event.details["content"]["strength"] == 0.5 and sent.status == "submitted"


def test_a_layer_sweep_offers_each_of_its_layer_sets(store: Store, people: dict) -> None:
    vector = store.add_vector(safetensors_bytes(GOOD_VECTOR), {}, "alice")
    sweep = {
        "results": [
            {"alpha": 0.0, "accuracy": 0.5},
            {"alpha": 0.5, "accuracy": 0.6, "layers": [2]},
            {"alpha": 0.5, "accuracy": 0.7, "layers": [3]},
        ]
    }
    evaluation = store.add_evaluation(vector.id, {"layers": [2, 3]}, sweep, "alice")
    assert store.create_submission(vector.id, 0.5, [3], evaluation.id, "alice").layers == (3,)
    with pytest.raises(ValidationError, match="tested layers 2 or 3"):
        store.create_submission(vector.id, 0.5, [2, 3], evaluation.id, "alice")


def test_an_evaluation_that_names_no_layers_supports_nothing(store: Store, people: dict) -> None:
    vector = store.add_vector(safetensors_bytes(GOOD_VECTOR), {}, "alice")
    evaluation = store.add_evaluation(vector.id, {}, evaluation_results([0.0, 0.5]), "alice")
    with pytest.raises(ValidationError, match="lists no strength other than 0 with the layers"):
        store.create_submission(vector.id, 0.5, [2, 3], evaluation.id, "alice")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_a_vector_with_non_finite_values_is_refused_at_submission(
    store: Store, people: dict, bad: float
) -> None:
    vector_id, evaluation_id = vector_and_evaluation(
        store, {"layer.2": [0.5, bad, bad], "layer.3": [1.0, 2.0, 3.0]}
    )
    draft = store.create_submission(vector_id, 0.5, [2, 3], evaluation_id, "alice")
    events = store.verify().count
    with pytest.raises(ValidationError, match="'layer.2' holds 2 values that are infinite or NaN"):
        store.submit(draft.id, "alice", draft.version)
    assert store.get_submission(draft.id).status == "draft"
    assert store.verify().count == events


def test_submit_checks_again_a_draft_changed_behind_the_store(
    store: Store, people: dict, raw
) -> None:
    vector_id, evaluation_id = vector_and_evaluation(store)
    draft = store.create_submission(vector_id, 0.5, [2, 3], evaluation_id, "alice")
    with raw.begin() as conn:
        conn.execute(text("UPDATE submissions SET strength = 1e300 WHERE id = :i"), {"i": draft.id})
    with pytest.raises(ValidationError, match="Strength 1e\\+300 was not evaluated"):
        store.submit(draft.id, "alice", draft.version)
    assert store.get_submission(draft.id).status == "draft"


# ------------------------------------------------------------ the file check, format by format


def _file(dtype: str, raw: bytes) -> bytes:
    header = json.dumps({"t": {"dtype": dtype, "shape": [1], "data_offsets": [0, len(raw)]}})
    return struct.pack("<Q", len(header)) + header.encode() + raw


@pytest.mark.parametrize(
    ("dtype", "finite", "infinite"),
    [
        ("F64", struct.pack("<d", 1e300), struct.pack("<d", float("inf"))),
        ("F32", struct.pack("<f", -3.5), struct.pack("<f", float("nan"))),
        ("F16", struct.pack("<e", 65504.0), struct.pack("<e", float("-inf"))),
        # bfloat16 is the top half of a float32
        ("BF16", struct.pack("<f", 3e38)[2:], struct.pack("<f", float("nan"))[2:]),
    ],
)
def test_export_problem_reads_each_float_format(dtype: str, finite: bytes, infinite: bytes) -> None:
    assert export_problem(_file(dtype, finite)) is None
    assert export_problem(_file(dtype, finite * 3)) is None
    assert export_problem(_file(dtype, infinite)) == (
        "its tensor 't' holds 1 value that is infinite or NaN"
    )
    assert export_problem(_file(dtype, infinite + finite + infinite)) == (
        "its tensor 't' holds 2 values that are infinite or NaN"
    )


def test_export_problem_names_unreadable_files() -> None:
    assert export_problem(b"vector-bytes") == (
        "its file is not a safetensors file (bad header length)"
    )
    assert export_problem(b"short") == "its file is not a safetensors file (too short)"
    header = json.dumps({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})
    truncated = struct.pack("<Q", len(header)) + header.encode() + b"\x00" * 4
    assert export_problem(truncated) == "its tensor 't' points outside the file"
    assert export_problem(_file("I32", b"\x00" * 4)) == (
        "its tensor 't' is not a floating-point tensor (dtype 'I32')"
    )
