"""Shared helpers: side-by-side timing, the bundled example sets, and the machine record."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "assets" / "examples"


def compare(sides: dict[str, Callable[[], Any]], reps: int, warmup: int = 1) -> dict[str, float]:
    """Median seconds of each side; repetitions interleave the sides (rotating which goes first)
    so that load from other processes affects all of them alike."""
    names = list(sides)
    for _ in range(warmup):
        for name in names:
            sides[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(reps):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            sides[name]()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def load_rows(name: str, n: int) -> list[Any]:
    """``n`` rows of a bundled example set (``Example`` objects), repeating rows when it is short."""
    path = EXAMPLES / f"{name}.jsonl"
    from steering.data.examples import load_examples

    loaded = load_examples(path)
    rows = list(getattr(loaded, "examples", loaded))
    if not rows:
        raise SystemExit(f"The example set {path} is empty.")
    return [rows[i % len(rows)] for i in range(n)]


@contextmanager
def fixed_length(loaded: Any):
    """Generation without an end-of-sequence token, so every call makes exactly max_new_tokens."""
    config = loaded.model.generation_config
    saved = config.eos_token_id
    config.eos_token_id = None
    try:
        yield
    finally:
        config.eos_token_id = saved


def machine() -> dict[str, Any]:
    import torch
    import transformers

    load = os.getloadavg()
    return {
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "processor": platform.processor() or platform.machine(),
        "load_average": [round(x, 2) for x in load],
        "date": dt.datetime.now().isoformat(timespec="seconds"),
    }


def write_json(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path
