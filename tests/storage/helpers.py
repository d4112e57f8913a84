"""Shared test helpers (fixtures live in conftest.py)."""

from __future__ import annotations

import hashlib
import json
import uuid

from storage import Store, StoredSubmission


def make_submission(
    store: Store, builder: str = "alice", strength: float = 0.5
) -> StoredSubmission:
    """A vector with an evaluation and a draft submission of it, created by ``builder``."""
    vector = store.add_vector(
        f"vector-bytes-{uuid.uuid4()}".encode(),
        {"model_id": "tiny", "method": "R-C", "layers": [2, 3]},
        builder,
    )
    evaluation = store.add_evaluation(
        vector.id, {"strengths": [0.0, strength]}, {"accuracy": {"0.0": 0.4, "0.5": 0.6}}, builder
    )
    return store.create_submission(vector.id, strength, [2, 3], evaluation.id, builder)


def independent_hash(prev_hash: str, row: dict) -> str:
    """The documented rule, written out again so the test does not trust the code under test."""
    body = {
        "seq": row["seq"],
        "ts": row["ts"],
        "actor": row["actor"],
        "action": row["action"],
        "object_type": row["object_type"],
        "object_id": row["object_id"],
        "details": json.loads(row["details"]),
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()
