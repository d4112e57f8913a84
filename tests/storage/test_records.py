"""Example sets, vectors, evaluations: stored with lineage, returned as frozen values."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from storage import NotFoundError, PermissionDeniedError, Store, ValidationError

from .helpers import evaluation_results

LINEAGE = {
    "model_id": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "model_fingerprint": "f" * 16,
    "dataset_hash": "d" * 64,
    "method": "R-C",
    "negatives": "random",
    "token_position": "last",
    "layers": [3, 4, 5],
    "norms": {"3": 1.25, "4": 2.5},
    "tool_version": "0.1.0",
    "created_by": "alice",
}


def test_example_set_vector_evaluation_round_trip(store: Store, people: dict) -> None:
    es = store.add_example_set("Arithmetic", b"p,q\n", "../../arith.csv", "c" * 64, 12, "alice")
    assert (es.name, es.filename, es.row_count, es.created_by) == (
        "Arithmetic",
        "arith.csv",
        12,
        "alice",
    )
    vector = store.add_vector(b"safetensors", LINEAGE, "alice", example_set_id=es.id)
    assert vector.lineage == LINEAGE and vector.example_set_id == es.id
    assert vector.created_at.tzinfo is not None
    ev = store.add_evaluation(
        vector.id, {"strengths": [0, 0.5]}, {"acc": [0.4, 0.6], "p": None}, "alice"
    )
    assert store.get_evaluation(ev.id).results == {"acc": [0.4, 0.6], "p": None}
    assert store.get_vector(vector.id) == vector and store.list_example_sets() == [es]
    with pytest.raises(dataclasses.FrozenInstanceError):
        vector.created_by = "mallory"  # type: ignore[misc]
    events = store.audit_events(object_type="vector", object_id=vector.id)
    assert events[0].details["content_hash"] == vector.content_hash
    assert events[0].details["model_id"] == LINEAGE["model_id"]


def test_inputs_are_validated(store: Store, people: dict) -> None:
    with pytest.raises(NotFoundError, match="no example set with id 99"):
        store.add_vector(b"x", {}, "alice", example_set_id=99)
    with pytest.raises(NotFoundError, match="no vector with id 42"):
        store.add_evaluation(42, {}, {}, "alice")
    with pytest.raises(ValidationError, match="null instead of NaN"):
        store.add_evaluation(1, {}, {"p": float("nan")}, "alice")
    with pytest.raises(ValidationError, match="lineage metadata must be a dictionary"):
        store.add_vector(b"x", ["not", "a", "dict"], "alice")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="row count"):
        store.add_example_set("x", b"x", "x.csv", "c" * 64, -1, "alice")
    with pytest.raises(PermissionDeniedError, match="'system' cannot"):
        store.add_vector(b"x", {}, "system")
    with pytest.raises(NotFoundError, match="no submission with id 7"):
        store.get_submission(7)
    with pytest.raises(ValidationError, match="whole number"):
        store.get_vector("1")  # type: ignore[arg-type]
    assert store.verify().count == 4  # only the four users were created


def test_records_are_derived_from_the_tables_and_detached(store: Store, people: dict) -> None:
    from sqlalchemy import inspect

    from storage import StoredSubmission, StoredUser, tables

    columns = [a.key for a in inspect(tables.SubmissionRow).column_attrs]
    assert [f.name for f in dataclasses.fields(StoredSubmission)] == [*columns, "reviews"]
    user_columns = {a.key for a in inspect(tables.UserRow).column_attrs}
    assert {f.name for f in dataclasses.fields(StoredUser)} == user_columns - {"password_hash"}

    vector = store.add_vector(b"weights", dict(LINEAGE), "alice")
    vector.lineage["layers"].append(99)  # a caller scribbling on its copy...
    vector.lineage["method"] = "PCA"
    assert store.get_vector(vector.id).lineage == LINEAGE  # ...never reaches the database
    ev = store.add_evaluation(
        vector.id, {"layers": [1, 3]}, evaluation_results([0.0, 0.5]), "alice"
    )
    sub = store.create_submission(vector.id, 0.5, [3, 1], ev.id, "alice")
    assert sub.layers == (1, 3) and sub.reviews == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        sub.status = "approved"  # type: ignore[misc]
    assert store.get_submission(sub.id).status == "draft"
    assert pickle.loads(pickle.dumps(sub)) == sub  # plain values: safe to hand to other processes


def test_list_vectors_newest_first_and_by_creator(store: Store, people: dict) -> None:
    assert store.list_vectors() == [] and store.list_vectors(created_by="alice") == []
    made = [
        store.add_vector(f"weights {i}".encode(), {"i": i}, who)
        for i, who in enumerate(["alice", "bob", "alice", "rita", "alice"])
    ]
    assert store.list_vectors() == made[::-1]  # the records add_vector returned, newest first
    assert [v.id for v in store.list_vectors(created_by="alice")] == [
        made[4].id,
        made[2].id,
        made[0].id,
    ]
    assert store.list_vectors("rita") == [made[3]]
    assert store.list_vectors(created_by="ada") == []
    assert store.list_vectors(created_by="nobody") == []
    assert store.verify().count == 4 + 5  # listing is not audited


def test_list_evaluations_newest_first_and_by_creator(store: Store, people: dict) -> None:
    assert store.list_evaluations() == [] and store.list_evaluations(created_by="bob") == []
    vector = store.add_vector(b"weights", dict(LINEAGE), "alice")
    made = [
        store.add_evaluation(vector.id, {"run": i}, evaluation_results([0.0, 0.5]), who)
        for i, who in enumerate(["bob", "alice", "bob", "alice"])
    ]
    assert store.list_evaluations() == made[::-1]
    assert store.list_evaluations(created_by="bob") == [made[2], made[0]]
    assert [e.config["run"] for e in store.list_evaluations("alice")] == [3, 1]
    assert store.list_evaluations(created_by="rita") == []
    assert store.verify().count == 4 + 1 + 4  # listing is not audited
