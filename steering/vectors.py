"""The control vector: the value type and its safetensors file format (the build is in build.py).

File: one float32 tensor ``layer.{i}`` per steered block, added to the output of block ``i``; the
safetensors metadata holds the lineage (all values are strings; lists and dicts as JSON).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load, save

from steering.errors import SteeringError

FILE_FORMAT = "control-vector-lab/1"


@dataclass
class ControlVector:
    """Per-layer directions (float32, CPU) and the lineage that explains where they came from."""

    directions: dict[int, torch.Tensor]
    metadata: dict[str, Any] = field(default_factory=dict)

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
        return ControlVector({i: self.directions[i] for i in layers}, dict(self.metadata))

    def to_bytes(self) -> bytes:
        tensors = {f"layer.{i}": v.detach().float().cpu().contiguous() for i, v in self.items()}
        meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in self.metadata.items()}
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
        """SHA-256 of the directions alone, so the same vector hashes the same whatever its lineage."""
        digest = hashlib.sha256()
        for i, v in self.items():
            digest.update(f"layer.{i}".encode())
            digest.update(v.detach().float().cpu().contiguous().numpy().tobytes())
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
        for name, tensor in tensors.items():
            prefix, _, index = name.partition(".")
            if prefix != "layer" or not index.isdigit() or tensor.dim() != 1:
                raise SteeringError(
                    f"Unexpected tensor '{name}' in the vector file: expected 1-D 'layer.<i>'."
                )
            directions[int(index)] = tensor.float()
        if not directions:
            raise SteeringError("The vector file holds no 'layer.<i>' tensors.")
        if len({v.numel() for v in directions.values()}) != 1:
            raise SteeringError("The vector file's layers have different sizes.")
        return cls(directions, _decode_metadata(raw))


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
