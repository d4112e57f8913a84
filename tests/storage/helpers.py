"""Shared test helpers (fixtures live in conftest.py)."""

from __future__ import annotations

import hashlib
import json
import struct
import uuid

from storage import Store, StoredSubmission


def safetensors_bytes(
    tensors: dict[str, list[float]], metadata: dict[str, str] | None = None
) -> bytes:
    """A float32 safetensors file written from the format's definition (no library involved)."""
    header: dict[str, object] = {"__metadata__": metadata or {"id": str(uuid.uuid4())}}
    body = b""
    for name, values in tensors.items():
        data = struct.pack(f"<{len(values)}f", *values)
        header[name] = {
            "dtype": "F32",
            "shape": [len(values)],
            "data_offsets": [len(body), len(body) + len(data)],
        }
        body += data
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + body


def evaluation_results(strengths: list[float]) -> dict[str, object]:
    """Stored evaluation results as the engine writes them: one entry per strength tested."""
    return {
        "results": [
            {"alpha": float(a), "accuracy": 0.4 + 0.1 * i, "ci_low": 0.2, "ci_high": 0.8, "n": 10}
            for i, a in enumerate(strengths)
        ],
        "chosen_alpha": strengths[-1],
    }


def make_submission(
    store: Store, builder: str = "alice", strength: float = 0.5
) -> StoredSubmission:
    """A vector with an evaluation and a draft submission of it, created by ``builder``."""
    vector = store.add_vector(
        safetensors_bytes({"layer.2": [0.5, -1.0], "layer.3": [0.25, 2.0]}),
        {"model_id": "tiny", "method": "R-C", "layers": [2, 3]},
        builder,
    )
    evaluation = store.add_evaluation(
        vector.id,
        {"strengths": [0.0, strength], "layers": [2, 3]},
        evaluation_results([0.0, strength]),
        builder,
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
