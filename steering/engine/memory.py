"""Whether a second copy of a model fits in memory: free memory now against what a load needs.

Used by the API to serve a submission in the format it was evaluated in when the model is loaded
in the other one (``dashboard.api.formats``). A load reads the weights in float32 on the CPU and
casts them (``steering.engine.models.load_model``), so it needs four bytes per parameter of
processor memory, plus the copy in its format on the device it runs on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from steering.engine.precision import dtype_name
from steering.errors import SteeringError

MEMINFO = Path("/proc/meminfo")
# Room left for activations, caches and everything else the process allocates meanwhile.
HEADROOM = 1.25


def available_bytes(device: torch.device) -> int | None:
    """Free memory on ``device`` (for the CPU: Linux's MemAvailable); None when unknown."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        for line in MEMINFO.read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # the file counts kibibytes
    except (OSError, ValueError, IndexError):
        return None
    return None


def load_needs_bytes(parameters: int, dtype: torch.dtype, device: torch.device) -> dict[str, int]:
    """Bytes a load of ``parameters`` in ``dtype`` on ``device`` needs, per kind of memory."""
    size = torch.empty((), dtype=dtype).element_size()
    if device.type == "cpu":
        return {"cpu": int(parameters * (4 + size) * HEADROOM)}
    return {"cpu": int(parameters * 4 * HEADROOM), device.type: int(parameters * size * HEADROOM)}


class NotEnoughMemoryError(SteeringError):
    """A second copy of a model would not fit in the memory free now."""


def check_room_for_copy(
    parameters: int,
    dtype: torch.dtype,
    device: torch.device,
    free: Callable[[torch.device], int | None] = available_bytes,
) -> None:
    """Raise :class:`NotEnoughMemoryError`, saying how much is free and needed, unless a load of
    ``parameters`` in ``dtype`` on ``device`` fits (memory that cannot be measured is not refused)."""
    for kind, needed in load_needs_bytes(parameters, dtype, device).items():
        room = free(torch.device(kind))
        if room is not None and room < needed:
            where = "processor memory" if kind == "cpu" else f"{kind} memory"
            raise NotEnoughMemoryError(
                f"a second copy in {dtype_name(dtype)} needs about {needed / 1e9:.2f} GB of "
                f"{where} and {room / 1e9:.2f} GB is free"
            )
