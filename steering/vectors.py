"""The control vector: the value type and its safetensors file format (the build is in build.py).

File: one float32 tensor ``layer.{i}`` per steered block, added to the output of block ``i``; the
safetensors metadata holds the lineage (all values are strings; lists and dicts as JSON).

A conditional vector also holds its gate (conditional activation steering, Lee et al. 2024): the
tensor ``condition.{layer}`` (the condition direction read at the output of that block) and the
metadata ``condition_layer``, ``condition_threshold`` and ``condition_build_balanced_accuracy``. A
prompt is steered only when the cosine between its reading and that direction reaches the
threshold (steering.engine.gate). A file without them is unconditional.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load, save

from steering.errors import SteeringError

FILE_FORMAT = "control-vector-lab/1"
CONDITION_KEYS = ("condition_layer", "condition_threshold", "condition_build_balanced_accuracy")


@dataclass(frozen=True)
class GateCondition:
    """When a conditional vector applies: ``cosine(reading at block layer, direction) >= threshold``.

    ``build_balanced_accuracy`` is how well that rule told the task's prompts from everyday ones
    on the prompts it was chosen on (a fraction 0-1).
    """

    layer: int
    direction: torch.Tensor
    threshold: float
    build_balanced_accuracy: float

    def metadata(self) -> dict[str, str]:
        return {
            "condition_layer": str(self.layer),
            "condition_threshold": repr(float(self.threshold)),
            "condition_build_balanced_accuracy": repr(float(self.build_balanced_accuracy)),
        }


@dataclass
class ControlVector:
    """Per-layer directions (float32, CPU) and the lineage that explains where they came from."""

    directions: dict[int, torch.Tensor]
    metadata: dict[str, Any] = field(default_factory=dict)
    condition: GateCondition | None = None

    @property
    def layers(self) -> list[int]:
        return sorted(self.directions)

    @property
    def hidden_size(self) -> int:
        return int(next(iter(self.directions.values())).numel())

    def norms(self) -> dict[int, float]:
        return {i: float(v.norm()) for i, v in sorted(self.directions.items())}

    def select(self, layers: Sequence[int] | None) -> ControlVector:
        """The same vector restricted to ``layers`` (all when None)."""
        if layers is None:
            return self
        missing = [i for i in layers if i not in self.directions]
        if missing:
            raise SteeringError(
                f"The vector has no direction for layer(s) {missing}; it covers {self.layers}."
            )
        return ControlVector(
            {i: self.directions[i] for i in layers}, dict(self.metadata), self.condition
        )

    def to_bytes(self) -> bytes:
        tensors = {f"layer.{i}": v.detach().float().cpu().contiguous() for i, v in self.items()}
        meta = {
            k: v if isinstance(v, str) else json.dumps(v)
            for k, v in self.metadata.items()
            if k not in CONDITION_KEYS  # written from the condition itself, below
        }
        if self.condition is not None:
            name = f"condition.{self.condition.layer}"
            tensors[name] = self.condition.direction.detach().float().cpu().contiguous()
            meta |= self.condition.metadata()
        meta["format"] = FILE_FORMAT
        return save(tensors, metadata=meta)

    def items(self) -> list[tuple[int, torch.Tensor]]:
        return sorted(self.directions.items())

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.to_bytes())
        return path

    def content_hash(self) -> str:
        """SHA-256 of the directions (and the gate, when there is one), so the same vector hashes
        the same whatever its lineage; an unconditional vector hashes as it always has."""
        digest = hashlib.sha256()
        for i, v in self.items():
            digest.update(f"layer.{i}".encode())
            digest.update(v.detach().float().cpu().contiguous().numpy().tobytes())
        if self.condition is not None:
            digest.update(f"condition.{self.condition.layer}".encode())
            digest.update(self.condition.direction.detach().float().cpu().numpy().tobytes())
            for key, value in sorted(self.condition.metadata().items()):
                digest.update(f"{key}={value}".encode())
        return digest.hexdigest()

    @classmethod
    def from_bytes(cls, data: bytes) -> ControlVector:
        try:
            tensors = load(data)
        except Exception as error:  # safetensors raises its own error types
            raise SteeringError(f"This is not a valid safetensors vector file: {error}") from error
        return cls._from_tensors(tensors, _metadata_from_bytes(data))

    @classmethod
    def load(cls, path: str | Path) -> ControlVector:
        path = Path(path)
        if not path.is_file():
            raise SteeringError(f"No vector file at '{path}'.")
        return cls.from_bytes(path.read_bytes())

    @classmethod
    def _from_tensors(cls, tensors: dict[str, torch.Tensor], raw: dict[str, str]) -> ControlVector:
        directions: dict[int, torch.Tensor] = {}
        conditions: dict[int, torch.Tensor] = {}
        for name, tensor in tensors.items():
            prefix, _, index = name.partition(".")
            if prefix not in ("layer", "condition") or not index.isdigit() or tensor.dim() != 1:
                raise SteeringError(
                    f"Unexpected tensor '{name}' in the vector file: expected 1-D 'layer.<i>' "
                    "(or one 'condition.<i>')."
                )
            (directions if prefix == "layer" else conditions)[int(index)] = tensor.float()
        if not directions:
            raise SteeringError("The vector file holds no 'layer.<i>' tensors.")
        if len({v.numel() for v in [*directions.values(), *conditions.values()]}) != 1:
            raise SteeringError("The vector file's layers have different sizes.")
        metadata = _decode_metadata(raw)
        return cls(directions, metadata, _condition(conditions, metadata))


def _condition(tensors: dict[int, torch.Tensor], metadata: dict[str, Any]) -> GateCondition | None:
    """The gate stored in a file (its metadata keys are taken out of the lineage), or None."""
    present = [key for key in CONDITION_KEYS if key in metadata]
    if not tensors and not present:
        return None
    if len(tensors) != 1 or len(present) != len(CONDITION_KEYS):
        raise SteeringError(
            "The vector file's condition is incomplete: it needs one 'condition.<i>' tensor and "
            f"the metadata {', '.join(CONDITION_KEYS)}."
        )
    values = {key: metadata.pop(key) for key in CONDITION_KEYS}
    try:
        layer = int(values["condition_layer"])
        threshold = float(values["condition_threshold"])
        accuracy = float(values["condition_build_balanced_accuracy"])
    except (TypeError, ValueError):
        raise SteeringError(
            "The vector file's condition metadata must be numbers "
            f"(got layer {values['condition_layer']!r}, threshold "
            f"{values['condition_threshold']!r})."
        ) from None
    ((index, direction),) = tensors.items()
    if index != layer:
        raise SteeringError(
            f"The vector file's condition tensor is for block {index} but its metadata says "
            f"block {layer}."
        )
    if not (math.isfinite(threshold) and math.isfinite(accuracy)) or direction.norm() == 0:
        raise SteeringError("The vector file's condition holds a non-finite or empty value.")
    return GateCondition(layer, direction, threshold, accuracy)


def _metadata_from_bytes(data: bytes) -> dict[str, str]:
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_len])
    return dict(header.get("__metadata__") or {})


def _decode_metadata(raw: dict[str, str]) -> dict[str, Any]:
    decoded: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "format":
            continue
        try:
            parsed = json.loads(value)
            decoded[key] = parsed if isinstance(parsed, (list, dict)) else value
        except ValueError:
            decoded[key] = value
    return decoded


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The lineage of a vector file without loading its tensors."""
    with safe_open(str(path), framework="pt") as handle:
        return _decode_metadata(handle.metadata() or {})
