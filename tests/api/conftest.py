"""The real app (``app.py``) on 127.0.0.1 serving a tiny model saved to a folder, and a store
holding submissions in every state, for the API tests.

The harness pieces (free port, the Server handle, users in a temporary store) are the security
tests'; only the command differs: the whole app, with the model preloaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import torch

from steering.engine.models import LoadedModel, fingerprint, load_model
from steering.vectors import ControlVector
from storage import Store
from tests.security.conftest import PASSWORD, START_TIMEOUT_S, Server, free_port, make_store
from tests.storage.helpers import evaluation_results
from tests.tiny import make_tiny

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "ada"
RATE_PER_MINUTE = 25
LAYERS = (1, 2)


def save_tiny_model(folder: Path) -> None:
    """The tiny Llama (byte tokenizer, chat template) as a model folder both processes load."""
    tiny = make_tiny("llama", chat_template=True)
    tiny.model.save_pretrained(folder)
    tiny.tokenizer.save_pretrained(folder)


def random_vector(loaded: LoadedModel, seed: int, scale: float = 4.0) -> ControlVector:
    generator = torch.Generator().manual_seed(seed)
    size = loaded.hidden_size
    directions = {i: torch.randn(size, generator=generator) * scale for i in range(4)}
    return ControlVector(directions)


def add_submission(
    store: Store,
    vector: ControlVector,
    lineage: dict,
    status: str,
    strength: float = 2.0,
) -> int:
    """A submission of ``vector`` at ``strength`` on LAYERS, taken to ``status`` by the workflow."""
    stored = store.add_vector(vector.to_bytes(), lineage, "ann")
    evaluation = store.add_evaluation(
        stored.id,
        {"strengths": [0.0, strength], "layers": list(LAYERS)},
        evaluation_results([0.0, strength]),
        "ann",
    )
    sub = store.create_submission(stored.id, strength, list(LAYERS), evaluation.id, "ann")
    if status == "draft":
        return sub.id
    sub = store.submit(sub.id, "ann", sub.version)
    if status == "submitted":
        return sub.id
    decision = "reject" if status == "rejected" else "approve"
    sub = store.review(sub.id, decision, "looked at the evidence", "bob", sub.version)
    if status == "revoked":
        store.revoke(sub.id, "no longer wanted", "bob", sub.version)
    return sub.id


@dataclass
class ApiLab:
    """The running app, its store (open in the test process too) and what was put in it."""

    server: Server
    store: Store
    data_dir: Path
    model: LoadedModel  # the same folder loaded here, for the engine's own answers
    vectors: dict[str, ControlVector]
    submissions: dict[str, int]  # "approved_a", "approved_b", "draft", ..., "other_model"

    @property
    def base_url(self) -> str:
        return self.server.url + "/v1"

    def new_key(self, name: str, submissions: list[int] | None = None) -> str:
        _, secret = self.store.add_api_key(name, submissions)
        return secret

    def storage_cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "storage", "--data-dir", str(self.data_dir), *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def _start_app(data_dir: Path, model_dir: Path) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "STEERING_API_RATE": str(RATE_PER_MINUTE),
        "STEERING_THREADS": "1",
    }
    log = (data_dir / "server.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port), "--data-dir", str(data_dir)]
        + ["--model", str(model_dir)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server(f"http://127.0.0.1:{port}", data_dir, process)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:  # up (readiness is waited for by _wait_for_model)
        if process.poll() is not None:
            raise RuntimeError((data_dir / "server.log").read_text()[-3000:])
        try:
            if httpx.get(server.url + "/login", timeout=2.0).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    server.stop()
    raise RuntimeError("the app did not start in time")


@pytest.fixture(scope="session")
def api_lab(tmp_path_factory) -> Iterator[ApiLab]:
    root = tmp_path_factory.mktemp("api")
    data_dir, model_dir = root / "data", root / "model"
    save_tiny_model(model_dir)
    model = load_model(str(model_dir))
    lineage = {"model_id": str(model_dir), "model_fingerprint": fingerprint(model)}
    vectors = {"a": random_vector(model, 1), "b": random_vector(model, 2)}
    with make_store(data_dir) as store:
        store.add_user(ADMIN, "admin", PASSWORD)
        subs = {
            "approved_a": add_submission(store, vectors["a"], lineage, "approved"),
            "approved_b": add_submission(store, vectors["b"], lineage, "approved", 3.0),
            "to_revoke": add_submission(store, vectors["a"], lineage, "approved"),
            "draft": add_submission(store, vectors["a"], lineage, "draft"),
            "submitted": add_submission(store, vectors["a"], lineage, "submitted"),
            "rejected": add_submission(store, vectors["a"], lineage, "rejected"),
            "revoked": add_submission(store, vectors["a"], lineage, "revoked"),
            "other_model": add_submission(
                store,
                vectors["a"],
                {"model_id": "another-model", "model_fingerprint": "0" * 32},
                "approved",
            ),
        }
        server = _start_app(data_dir, model_dir)
        try:
            lab = ApiLab(server, store, data_dir, model, vectors, subs)
            _wait_for_model(lab)
            yield lab
        finally:
            server.stop()


def _wait_for_model(lab: ApiLab) -> None:
    """Until /readyz says ready: the store answers and the preloaded model is loaded (the
    model is listed by /v1/models from the start, so the list says nothing about loading)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if httpx.get(lab.server.url + "/readyz", timeout=5).status_code == 200:
            return
        time.sleep(0.5)
    raise RuntimeError("the app did not load the model in time")
