"""The number format a model is loaded in, chosen per machine, with the reason in plain words.

``auto`` decides by the hardware alone, so the same machine always decides the same: bfloat16 on
CUDA and on a CPU that reports native bfloat16 products (Linux ``/proc/cpuinfo`` flags
``avx512_bf16`` or ``amx_bf16``), float32 otherwise. A CPU without them (AVX2 only) emulates
bfloat16 products and runs them slower than float32, which is why the choice is not the same
everywhere. ``float32`` and ``bfloat16`` are taken as asked (``STEERING_DTYPE`` or ``--dtype``).

The CPU's flags are read through :data:`cpuinfo_reader`, which tests replace
(:func:`use_cpuinfo`) to act out both kinds of CPU.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from steering.errors import SteeringError
from steering.settings import DTYPES

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
CPUINFO = Path("/proc/cpuinfo")
FORMATS = {"float32": torch.float32, "bfloat16": torch.bfloat16}
ASKED_FOR = "asked for by STEERING_DTYPE/--dtype"


@dataclass(frozen=True)
class Precision:
    """A model's number format and why it was chosen (``"bfloat16: native on this CPU"``)."""

    dtype: torch.dtype
    reason: str

    @property
    def name(self) -> str:
        """``"float32"`` or ``"bfloat16"`` (the format's name in lineage and on screens)."""
        return dtype_name(self.dtype)

    def lineage(self) -> dict[str, str]:
        """The two lineage keys every vector and evaluation carries."""
        return {"dtype": self.name, "dtype_reason": self.reason}


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _read_proc_cpuinfo() -> str:
    try:
        return CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:  # not Linux, or /proc is not mounted: no flags known
        return ""


cpuinfo_reader: Callable[[], str] = _read_proc_cpuinfo


def use_cpuinfo(reader: Callable[[], str] | None) -> None:
    """Read the CPU's flags through ``reader`` from now on (None: ``/proc/cpuinfo`` again)."""
    global cpuinfo_reader
    cpuinfo_reader = reader or _read_proc_cpuinfo
    cpu_flags.cache_clear()


def parse_flags(cpuinfo: str) -> frozenset[str]:
    """Every flag named on a ``flags`` line of ``/proc/cpuinfo`` text (x86 Linux)."""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags.update(value.split())
    return frozenset(flags)


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """This CPU's flags, read once per process (the hardware does not change while it runs)."""
    return parse_flags(cpuinfo_reader())


def native_bf16_cpu(flags: frozenset[str] | None = None) -> bool:
    """Whether the CPU does bfloat16 products natively (``avx512_bf16`` or ``amx_bf16``)."""
    found = cpu_flags() if flags is None else flags
    return any(flag in found for flag in NATIVE_BF16_FLAGS)


def check_format(requested: str) -> str:
    """``requested`` as one of ``auto``, ``float32``, ``bfloat16``; anything else is refused."""
    wanted = str(requested).strip().lower()
    if wanted not in DTYPES:
        raise SteeringError(
            f"The number format must be one of {', '.join(DTYPES)}, not {requested!r}."
        )
    return wanted


def choose(requested: str | torch.dtype, device: torch.device | str) -> Precision:
    """The format to load a model in on ``device``: ``requested``, or the hardware's for auto."""
    if isinstance(requested, torch.dtype):
        requested = dtype_name(requested)
    wanted = check_format(requested)
    if wanted != "auto":
        return Precision(FORMATS[wanted], f"{wanted}: {ASKED_FOR}")
    if torch.device(device).type == "cuda":
        return Precision(torch.bfloat16, "bfloat16: CUDA")
    if torch.device(device).type == "cpu" and native_bf16_cpu():
        return Precision(torch.bfloat16, "bfloat16: native on this CPU")
    if torch.device(device).type == "cpu":
        return Precision(torch.float32, "float32: this CPU has no native bfloat16")
    return Precision(torch.float32, f"float32: no known native bfloat16 on {device}")


def as_given(dtype: torch.dtype) -> Precision:
    """The format of a model built in-process (not by ``load_model``), as it was given."""
    return Precision(dtype, f"{dtype_name(dtype)}: the format the model was built in")
