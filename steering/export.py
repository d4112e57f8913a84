"""llama.cpp's control-vector GGUF: export (``llama-cli --control-vector-scaled FILE ALPHA``) and import.

llama.cpp adds tensor ``direction.{i}`` to the output of block ``i``, the same convention as our
``layer.{i}``, and rejects ``i = 0``. So block 0 cannot be exported: without an explicit layer choice
it is left out and the file's metadata says so (``controlvector.lab.dropped_layers``); an explicit
choice that contains 0 is refused instead of writing a file llama.cpp would refuse.

Import reads such a file whoever wrote it (this lab, repeng, ``llama-cvector-generator``), checks
that it fits the model it will be used with, and gives a project vector whose lineage says it was
imported (``source: imported``, the file's sha256, its ``model_hint``).

A conditional vector (``ControlVector.condition``) exports its directions as any other, and its
gate goes into the metadata only: ``controlvector.condition_layer`` (uint32),
``controlvector.condition_threshold`` and ``controlvector.condition_build_balanced_accuracy``
(float64), with the sentence of ``gguf_condition_warning`` as ``controlvector.lab.condition_notice``.
The condition direction itself is not written: llama.cpp refuses a control-vector file holding any
tensor but ``direction.{i}``, and it has no condition anyway; it applies a control vector to every
prompt. Importing such a file therefore gives an unconditional vector; its lineage keeps the
recorded gate (``source_condition``) and says why it is not applied (``import_note``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import gguf
import numpy as np
import torch

from steering.errors import SteeringError
from steering.vectors import ControlVector
from steering.version import __version__

ARCHITECTURE = "controlvector"
BLOCK_ZERO_NOTICE = (
    "Block 0 is left out of the llama.cpp file: llama.cpp cannot steer the output of block 0."
)
CONDITION_FIELDS = ("layer", "threshold", "build_balanced_accuracy")


def gguf_condition_warning(vector: ControlVector) -> str | None:
    """What to tell a person exporting a conditional vector to llama.cpp (None: unconditional)."""
    gate = vector.condition
    if gate is None:
        return None
    return (
        "llama.cpp applies a control vector to every prompt, so this file will steer every "
        "request, not only questions like the vector's examples: its condition (block "
        f"{gate.layer}, threshold {gate.threshold:.3f}) is recorded in the file but not applied."
    )


def exportable_layers(vector: ControlVector, layers: Sequence[int] | None = None) -> list[int]:
    """The layers a llama.cpp file gets: ``layers`` as chosen, or the vector's without block 0."""
    if layers is not None:
        chosen = sorted(set(int(i) for i in layers))
        if 0 in chosen:
            raise SteeringError(
                "Layer 0 cannot be exported to llama.cpp (it only steers block outputs from "
                "layer 1). Choose layers without 0, e.g. the recommended layers."
            )
        vector.select(chosen)  # names any layer the vector does not have
        return chosen
    chosen = [i for i in vector.layers if i != 0]
    if not chosen:
        raise SteeringError(
            "This vector only steers block 0, which llama.cpp cannot steer: build it on other layers."
        )
    return chosen


def export_gguf(
    vector: ControlVector,
    path: str | Path,
    *,
    layers: Sequence[int] | None = None,
    model_hint: str | None = None,
    strength: float | None = None,
) -> Path:
    """Write ``vector`` (at ``layers``, see ``exportable_layers``) as a llama.cpp control vector.

    ``strength`` is recorded in the metadata (llama.cpp takes the strength on its command line).
    """
    chosen = exportable_layers(vector, layers)
    dropped = [i for i in vector.layers if i not in chosen] if layers is None else []
    if strength is not None and not np.isfinite(strength):
        raise SteeringError("The strength must be a finite number to be exported.")
    for i in chosen:
        if not bool(torch.isfinite(vector.directions[i]).all()):
            raise SteeringError(f"The vector's layer {i} holds values that are not finite numbers.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    hint = model_hint or str(vector.metadata.get("model_architecture") or "llama")
    # Write beside the target and rename, so a reader never sees half a file.
    handle, staging = tempfile.mkstemp(dir=path.parent, suffix=".gguf.tmp")
    os.close(handle)
    try:
        writer = gguf.GGUFWriter(staging, ARCHITECTURE)
        writer.add_string(f"{ARCHITECTURE}.model_hint", hint)
        writer.add_uint32(f"{ARCHITECTURE}.layer_count", len(chosen))
        if strength is not None:
            writer.add_float32(f"{ARCHITECTURE}.strength", float(strength))
        if dropped:
            writer.add_string(f"{ARCHITECTURE}.lab.dropped_layers", ",".join(map(str, dropped)))
            writer.add_string(f"{ARCHITECTURE}.lab.notice", BLOCK_ZERO_NOTICE)
        if vector.condition is not None:
            _add_condition(writer, vector)
        for key in ("model_id", "model_fingerprint", "method", "dataset_hash"):
            if vector.metadata.get(key):
                writer.add_string(f"{ARCHITECTURE}.lab.{key}", str(vector.metadata[key]))
        for i in chosen:
            direction = vector.directions[i].float().cpu().numpy().astype(np.float32)
            writer.add_tensor(f"direction.{i}", direction)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(staging, path)
    finally:
        if os.path.exists(staging):
            os.unlink(staging)
    return path


def _add_condition(writer: gguf.GGUFWriter, vector: ControlVector) -> None:
    gate = vector.condition
    assert gate is not None  # the caller checks
    writer.add_uint32(f"{ARCHITECTURE}.condition_layer", int(gate.layer))
    writer.add_float64(f"{ARCHITECTURE}.condition_threshold", float(gate.threshold))
    writer.add_float64(
        f"{ARCHITECTURE}.condition_build_balanced_accuracy", float(gate.build_balanced_accuracy)
    )
    writer.add_string(f"{ARCHITECTURE}.lab.condition_notice", str(gguf_condition_warning(vector)))


def _number_field(reader: gguf.GGUFReader, name: str) -> float | None:
    field = reader.fields.get(name)
    if field is None or not field.data:
        return None
    try:
        value = float(field.parts[field.data[0]][0])
    except (IndexError, TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def _recorded_condition(reader: gguf.GGUFReader) -> dict[str, float] | None:
    """The gate a file records in its metadata (all three numbers), or None."""
    values = {f: _number_field(reader, f"{ARCHITECTURE}.condition_{f}") for f in CONDITION_FIELDS}
    if any(v is None for v in values.values()):
        return None
    return {f: int(v) if f == "layer" else v for f, v in values.items() if v is not None}


def _string_field(reader: gguf.GGUFReader, name: str) -> str | None:
    field = reader.fields.get(name)
    if field is None or not field.data:
        return None
    try:
        return bytes(field.parts[field.data[0]]).decode("utf-8")
    except (UnicodeDecodeError, IndexError, TypeError):
        return None


def import_gguf(
    path: str | Path,
    *,
    num_layers: int,
    hidden_size: int,
    model_id: str = "",
    model_fingerprint: str = "",
) -> ControlVector:
    """Read a llama.cpp control-vector GGUF as a project vector for a model of this shape.

    Refuses, naming what does not fit, a file that is not a control vector, a tensor that is not a
    1-D ``direction.{i}`` of ``hidden_size`` finite numbers, or a block index the model lacks.
    """
    path = Path(path)
    if not path.is_file():
        raise SteeringError(f"No GGUF file at '{path}'.")
    data = path.read_bytes()
    try:
        reader = gguf.GGUFReader(path)
    except Exception as error:  # the gguf package raises ValueError, struct.error, IndexError...
        raise SteeringError(f"'{path.name}' is not a readable GGUF file ({error}).") from error
    architecture = _string_field(reader, "general.architecture")
    if architecture != ARCHITECTURE:
        raise SteeringError(
            f"'{path.name}' is a GGUF file of kind '{architecture}', not a llama.cpp control vector "
            "(general.architecture must be 'controlvector')."
        )
    directions: dict[int, torch.Tensor] = {}
    for tensor in reader.tensors:
        prefix, _, index = tensor.name.partition(".")
        if prefix != "direction" or not index.isdigit():
            raise SteeringError(
                f"Unexpected tensor '{tensor.name}' in '{path.name}': expected 'direction.<block>'."
            )
        values = np.asarray(tensor.data, dtype=np.float32).reshape(-1)
        if values.size != hidden_size:
            raise SteeringError(
                f"'{tensor.name}' has {values.size} numbers but the model's hidden size is "
                f"{hidden_size}: this vector was made for another model."
            )
        if not np.isfinite(values).all():
            raise SteeringError(f"'{tensor.name}' holds values that are not finite numbers.")
        block = int(index)
        if block >= num_layers:
            raise SteeringError(
                f"'{tensor.name}' steers block {block}, but the model has blocks 0-{num_layers - 1}: "
                "this vector was made for another model."
            )
        directions[block] = torch.from_numpy(values.copy())
    if not directions:
        raise SteeringError(f"'{path.name}' holds no 'direction.<block>' tensors.")
    vector = ControlVector(directions)  # unconditional: a GGUF file cannot hold the gate
    vector.metadata = {
        "source": "imported",
        "source_file": path.name,
        "source_sha256": hashlib.sha256(data).hexdigest(),
        "model_hint": _string_field(reader, f"{ARCHITECTURE}.model_hint") or "",
        "model_id": model_id,
        "model_fingerprint": model_fingerprint,
        "method": "imported",
        "layers": vector.layers,
        "norms": {str(i): round(v, 6) for i, v in vector.norms().items()},
        "tool_version": __version__,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    recorded = _recorded_condition(reader)
    if recorded is not None:
        vector.metadata["source_condition"] = recorded
        vector.metadata["import_note"] = (
            f"The file records a condition (block {recorded['layer']}, threshold "
            f"{recorded['threshold']:.3f}) but not its direction, so this imported vector is "
            "unconditional: it steers every prompt."
        )
    return vector
