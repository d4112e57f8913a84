"""Control-vector GGUF files written the way other tools write them, for import tests."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np


def write_like_repeng(
    path: Path,
    directions: dict[int, np.ndarray],
    *,
    arch: str = "controlvector",
    hint: str = "llama",
) -> Path:
    """A control vector as repeng's ``export_gguf`` writes it: the gguf package's own writer,
    ``controlvector.model_hint`` and ``layer_count``, one F32 ``direction.{i}`` per layer."""
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_string(f"{arch}.model_hint", hint)
    writer.add_uint32(f"{arch}.layer_count", len(directions))
    for layer, values in directions.items():
        writer.add_tensor(f"direction.{layer}", values.astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
