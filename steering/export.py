"""Export to llama.cpp's control-vector GGUF (``llama-cli --control-vector-scaled FILE ALPHA``).

llama.cpp adds tensor ``direction.{i}`` to the output of block ``i``, the same convention as our
``layer.{i}``, and rejects ``i = 0``; so block 0 cannot be exported and we say so instead of
writing a file llama.cpp would refuse.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import gguf
import numpy as np

from steering.errors import SteeringError
from steering.vectors import ControlVector

ARCHITECTURE = "controlvector"


def export_gguf(
    vector: ControlVector,
    path: str | Path,
    *,
    model_hint: str | None = None,
    strength: float | None = None,
) -> Path:
    """Write ``vector`` as a llama.cpp control vector; ``strength`` is recorded in the metadata."""
    if 0 in vector.directions:
        raise SteeringError(
            "Layer 0 cannot be exported to llama.cpp (it only steers block outputs from layer 1). "
            "Choose layers without 0, e.g. the recommended layers."
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    hint = model_hint or str(vector.metadata.get("model_architecture") or "llama")
    # Write beside the target and rename, so a reader never sees half a file.
    handle, staging = tempfile.mkstemp(dir=path.parent, suffix=".gguf.tmp")
    os.close(handle)
    try:
        writer = gguf.GGUFWriter(staging, ARCHITECTURE)
        writer.add_string(f"{ARCHITECTURE}.model_hint", hint)
        writer.add_uint32(f"{ARCHITECTURE}.layer_count", len(vector.directions))
        if strength is not None:
            writer.add_float32(f"{ARCHITECTURE}.strength", float(strength))
        for key in ("model_id", "model_fingerprint", "method", "dataset_hash"):
            if vector.metadata.get(key):
                writer.add_string(f"{ARCHITECTURE}.lab.{key}", str(vector.metadata[key]))
        for i, direction in vector.items():
            writer.add_tensor(f"direction.{i}", direction.float().cpu().numpy().astype(np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(staging, path)
    finally:
        if os.path.exists(staging):
            os.unlink(staging)
    return path
