"""Whether a stored vector file can be exported: a readable safetensors file of finite numbers.

A vector with an infinite or NaN value cannot be turned into a llama.cpp file and would steer a
model into nonsense, so the store refuses to submit it rather than letting the download fail after
approval. The store never imports the engine (torch, safetensors' torch layer), so the format is
read here with the standard library: an 8-byte little-endian header length, a JSON header naming
each tensor's dtype, shape and byte range, then the raw little-endian data.
"""

from __future__ import annotations

import json
import struct
import sys
from typing import Literal

# dtype -> (bytes per value, memoryview code of an unsigned int that size, exponent-bits mask).
# A float is non-finite exactly when all its exponent bits are set (inf and NaN alike).
_Code = Literal["Q", "I", "H"]
_FLOATS: dict[str, tuple[int, _Code, int]] = {
    "F64": (8, "Q", 0x7FF0000000000000),
    "F32": (4, "I", 0x7F800000),
    "F16": (2, "H", 0x7C00),
    "BF16": (2, "H", 0x7F80),
}
_MAX_HEADER = 100_000_000  # the safetensors format's own limit


def export_problem(data: bytes) -> str | None:
    """Why this vector file cannot be exported (in words), or None when it can."""
    if len(data) < 8:
        return "its file is not a safetensors file (too short)"
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > min(_MAX_HEADER, len(data) - 8):
        return "its file is not a safetensors file (bad header length)"
    try:
        header = json.loads(data[8 : 8 + header_len])
    except (UnicodeDecodeError, ValueError):
        return "its file is not a safetensors file (unreadable header)"
    if not isinstance(header, dict):
        return "its file is not a safetensors file (unreadable header)"
    body = memoryview(data)[8 + header_len :]
    tensors = {name: info for name, info in header.items() if name != "__metadata__"}
    if not tensors:
        return "its file holds no tensors"
    for name in sorted(tensors):
        problem = _tensor_problem(name, tensors[name], body)
        if problem is not None:
            return problem
    return None


def _tensor_problem(name: str, info: object, body: memoryview) -> str | None:
    if not isinstance(info, dict) or info.get("dtype") not in _FLOATS:
        dtype = info.get("dtype") if isinstance(info, dict) else None
        return f"its tensor '{name}' is not a floating-point tensor (dtype {dtype!r})"
    size, code, exponent = _FLOATS[info["dtype"]]
    offsets = info.get("data_offsets")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) for o in offsets)
        or not 0 <= offsets[0] <= offsets[1] <= len(body)
        or (offsets[1] - offsets[0]) % size
    ):
        return f"its tensor '{name}' points outside the file"
    raw = body[offsets[0] : offsets[1]]
    values = raw.cast(code) if sys.byteorder == "little" else _swapped(raw, size, code)
    bad = sum(1 for bits in values if bits & exponent == exponent)
    if bad:
        values_are = "1 value that is" if bad == 1 else f"{bad} values that are"
        return f"its tensor '{name}' holds {values_are} infinite or NaN"
    return None


def _swapped(raw: memoryview, size: int, code: _Code) -> list[int]:
    """Little-endian values read on a big-endian machine."""
    return [int.from_bytes(raw[i : i + size], "little") for i in range(0, len(raw), size)]
