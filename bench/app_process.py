"""The real app as a bench's subject: started as ``python app.py`` on a fresh data folder, its
store filled beforehand (approved submissions of real vectors, API keys), and its ``/metrics``.

Used by ``bench/serving_bench.py`` and ``bench/serving_lanes.py``; both measure the process a
deployment runs, not the engine in-process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from storage import Store
from tests.security.conftest import free_port
from tests.storage.helpers import evaluation_results

ROOT = Path(__file__).resolve().parents[1]
BUILDER, REVIEWER = "ann", "bob"  # users of tests.security.conftest.make_store
START_S = 600.0  # a first load of a GGUF model de-quantises it (about 20 s for SmolLM2)


def start_app(
    data_dir: Path, model: str, env: Mapping[str, str] | None = None
) -> tuple[subprocess.Popen, str]:
    """``app.py`` on a free port with ``data_dir``; returns it once ``/readyz`` says ready (the
    model is loaded). ``env`` adds to this process's environment. Its output goes to
    ``data_dir/server.log``, whose end is raised if it exits early."""
    port = free_port()
    full_env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "STEERING_API_RATE": "1000000",  # the loads are closed-loop: no per-minute refusals
        **(env or {}),
    }
    log = (data_dir / "server.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port), "--data-dir", str(data_dir)]
        + ["--model", model],
        cwd=ROOT,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(process, url + "/readyz", data_dir / "server.log")
    return process, url


def wait_ready(
    process: subprocess.Popen, probe: str, log: Path, timeout_s: float = START_S
) -> None:
    """Poll ``probe`` until it answers 200; raises with the log's end if the process exits or
    the time runs out (the process is killed then)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{probe}: the process exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(probe, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"{probe} did not answer 200 within {timeout_s:.0f} s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def approved_submission(
    store: Store, vector_bytes: bytes, lineage: dict, strength: float, layers: Sequence[int]
) -> int:
    """An approved submission of the vector file at ``strength`` on ``layers``.

    The evaluation record is a stand-in (placeholder accuracies, no number format, so the app
    serves it in the format it runs): the benches time serving, not the evaluation."""
    stored = store.add_vector(vector_bytes, lineage, BUILDER)
    evaluation = store.add_evaluation(
        stored.id,
        {"strengths": [0.0, strength], "layers": list(layers)},
        evaluation_results([0.0, strength]),
        BUILDER,
    )
    sub = store.create_submission(stored.id, strength, list(layers), evaluation.id, BUILDER)
    sub = store.submit(sub.id, BUILDER, sub.version)
    sub = store.review(sub.id, "approve", "bench set-up", REVIEWER, sub.version)
    return sub.id


def metric(url: str, secret: str, name: str) -> float:
    """The sum of every sample of ``name`` (all label sets) in ``GET /metrics``, read with a
    key created with ``metrics=True``; raises if it is absent."""
    answer = httpx.get(url + "/metrics", headers={"authorization": f"Bearer {secret}"}, timeout=60)
    answer.raise_for_status()
    return prometheus_sum(answer.text, name)


def prometheus_sum(text: str, name: str) -> float:
    """The sum of the samples named ``name`` (with or without labels) in Prometheus text."""
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith((name + " ", name + "{"))
    ]
    if not values:
        raise RuntimeError(f"/metrics has no {name}")
    return sum(values)


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident memory (``VmHWM``) in MB, or None where /proc lacks it."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
