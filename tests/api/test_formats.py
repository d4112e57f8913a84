"""The API serves a submission in the number format it was evaluated in (issue 24).

A real app process whose CPU reports native bfloat16 (``tests.api.fake_cpu_app``) loads the tiny
model with ``auto``, so in bfloat16; a submission evaluated in float32 must still be answered by
float32 weights. Expected log-probabilities are the engine's own, recomputed here token by token
in each format, never the API's output read back. Where a second copy would not fit in memory the
request is refused with 403 ``format_mismatch`` (in-process, with the free memory faked).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import torch

from dashboard.api.formats import model_for_submission
from dashboard.api.protocol import ApiError
from dashboard.context import AppContext
from steering.engine.models import LoadedModel, in_format, load_model
from steering.engine.steer import steer
from steering.engine.text import prompt_ids, render_messages
from steering.vectors import ControlVector
from storage import ServedSubmission, Store
from tests.api.conftest import LAYERS, random_vector, save_tiny_model
from tests.security.conftest import START_TIMEOUT_S, Server, free_port, make_store
from tests.storage.helpers import evaluation_results

ROOT = Path(__file__).resolve().parents[2]
PROMPT = "What is two plus two?"
TOKENS = 8
STRENGTH = 2.0


def add_evaluated_submission(store: Store, vector: ControlVector, lineage: dict, dtype: str | None):
    """An approved submission whose evaluation ran in ``dtype`` (None: not recorded)."""
    stored = store.add_vector(vector.to_bytes(), lineage, "ann")
    results = evaluation_results([0.0, STRENGTH])
    if dtype is not None:
        results = {**results, "dtype": dtype, "dtype_reason": f"{dtype}: as the test says"}
    evaluation = store.add_evaluation(
        stored.id, {"strengths": [0.0, STRENGTH], "layers": list(LAYERS)}, results, "ann"
    )
    sub = store.create_submission(stored.id, STRENGTH, list(LAYERS), evaluation.id, "ann")
    sub = store.submit(sub.id, "ann", sub.version)
    return store.review(sub.id, "approve", "looked at the evidence", "bob", sub.version).id


@dataclass
class FormatLab:
    server: Server
    store: Store
    float32: LoadedModel  # the model folder loaded here in float32
    bfloat16: LoadedModel  # and a bfloat16 copy, as the app's auto loads it
    vector: ControlVector
    submissions: dict[str, int]  # "float32", "bfloat16", "unrecorded"
    secret: str


def _start(data_dir: Path, model_dir: Path) -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "STEERING_DTYPE"}  # auto decides
    env.update(PYTHONPATH=str(ROOT), STEERING_THREADS="1")
    log = (data_dir / "server.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.api.fake_cpu_app", "--port", str(port)]
        + ["--data-dir", str(data_dir), "--model", str(model_dir)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return Server(f"http://127.0.0.1:{port}", data_dir, process)


def _wait_for_model(server: Server, secret: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError((server.data_dir / "server.log").read_text()[-3000:])
        try:
            answer = httpx.post(
                server.url + "/v1/chat/completions",
                headers={"authorization": f"Bearer {secret}"},
                json={"model": "model", "messages": [{"role": "user", "content": "hi"}]}
                | {"max_tokens": 1},
                timeout=10,
            )
            if answer.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError("the app did not load the model in time")


@pytest.fixture(scope="module")
def format_lab(tmp_path_factory) -> Iterator[FormatLab]:
    root = tmp_path_factory.mktemp("formats")
    data_dir, model_dir = root / "data", root / "model"
    save_tiny_model(model_dir)
    plain = load_model(str(model_dir), dtype="float32")
    lineage = {"model_id": str(model_dir), "model_fingerprint": plain.float32_fingerprint}
    vector = random_vector(plain, 7)
    with make_store(data_dir) as store:
        subs = {
            name: add_evaluated_submission(store, vector, lineage, dtype)
            for name, dtype in (
                ("float32", "float32"),
                ("bfloat16", "bfloat16"),
                ("unrecorded", None),
            )
        }
        _, secret = store.add_api_key("formats", None)
        server = _start(data_dir, model_dir)
        try:
            _wait_for_model(server, secret)
            yield FormatLab(
                server, store, plain, in_format(plain, "bfloat16"), vector, subs, secret
            )
        finally:
            server.stop()


def served_logprobs(lab: FormatLab, submission: int | None) -> list[float]:
    """The greedy answer's log-probability per token, as the API sends them."""
    body = {
        "model": "model",
        "messages": [{"role": "user", "content": PROMPT}],
        "temperature": 0,
        "max_tokens": TOKENS,
        "logprobs": True,
    }
    if submission is not None:
        body["control_vector"] = {"submission": submission}
    answer = httpx.post(
        lab.server.url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {lab.secret}"},
        json=body,
        timeout=120,
    )
    assert answer.status_code == 200, answer.text
    return [float(e["logprob"]) for e in answer.json()["choices"][0]["logprobs"]["content"]]


def engine_logprobs(loaded: LoadedModel, vector: ControlVector | None, n: int) -> list[float]:
    """Greedy decoding, one full forward pass per token, log-probabilities of float32 logits."""
    tokenizer = loaded.tokenizer
    text = render_messages(tokenizer, [{"role": "user", "content": PROMPT}])
    ids = list(prompt_ids(tokenizer, text))
    found: list[float] = []
    steering = (
        steer(loaded, vector, STRENGTH, layers=list(LAYERS))
        if vector is not None
        else nullcontext()
    )
    with steering, torch.inference_mode():
        for _ in range(n):
            logits = loaded.model(input_ids=torch.tensor([ids])).logits[0, -1].float()
            logp = torch.log_softmax(logits, dim=-1)
            token = int(logp.argmax())
            found.append(float(logp[token]))
            ids.append(token)
    return found


def gap(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) for x, y in zip(a, b, strict=False))


def test_a_float32_evaluated_submission_is_served_in_float32_by_a_bfloat16_app(format_lab):
    served = served_logprobs(format_lab, format_lab.submissions["float32"])
    as_float32 = engine_logprobs(format_lab.float32, format_lab.vector, len(served))
    as_bfloat16 = engine_logprobs(format_lab.bfloat16, format_lab.vector, len(served))
    assert gap(served, as_float32) < 1e-4
    # The two formats give measurably different numbers, so the match above says float32.
    assert gap(as_float32, as_bfloat16) > 1e-3


def test_the_apps_auto_format_is_bfloat16_and_serves_the_rest_in_it(format_lab):
    unsteered = served_logprobs(format_lab, None)
    assert gap(unsteered, engine_logprobs(format_lab.float32, None, len(unsteered))) > 1e-3
    for name in ("bfloat16", "unrecorded"):
        served = served_logprobs(format_lab, format_lab.submissions[name])
        as_float32 = engine_logprobs(format_lab.float32, format_lab.vector, len(served))
        assert gap(served, as_float32) > 1e-3, name  # not float32: the app's own bfloat16


def test_the_second_copy_is_not_listed_as_another_model(format_lab):
    listed = httpx.get(
        format_lab.server.url + "/v1/models",
        headers={"authorization": f"Bearer {format_lab.secret}"},
        timeout=10,
    ).json()["data"]
    assert [m["id"] for m in listed if not m["id"].startswith("submission-")] == ["model"]


# ------------------------------------------------------------------ in-process: the host's copy


def _served(dtype: str | None) -> ServedSubmission:
    return ServedSubmission(3, 1, STRENGTH, LAYERS, "model", None, dtype=dtype)


@pytest.fixture
def host(tmp_path) -> Iterator[tuple[AppContext, LoadedModel]]:
    model_dir = tmp_path / "model"
    save_tiny_model(model_dir)
    with make_store(tmp_path / "data") as store:
        ctx = AppContext(store=store, default_model=str(model_dir), dtype="bfloat16")
        yield ctx, ctx.model()


def test_the_host_loads_a_second_copy_once_when_memory_allows(host):
    ctx, loaded = host
    assert loaded.dtype == torch.bfloat16
    assert model_for_submission(ctx, loaded, _served("bfloat16")) is loaded
    assert model_for_submission(ctx, loaded, _served(None)) is loaded
    copy = model_for_submission(ctx, loaded, _served("float32"))
    assert copy.dtype == torch.float32 and copy.float32_fingerprint == loaded.float32_fingerprint
    assert model_for_submission(ctx, loaded, _served("float32")) is copy  # loaded once
    assert ctx.loaded_models() == [loaded]
    assert ctx.batcher(copy) is not ctx.batcher(loaded)  # each format decodes on its own


def test_format_mismatch_names_both_formats_when_memory_does_not_allow(host):
    ctx, loaded = host
    ctx.free_memory = lambda device: 1_000  # no room for even the tiny model
    with pytest.raises(ApiError) as refused:
        model_for_submission(ctx, loaded, _served("float32"))
    error = refused.value
    assert (error.status, error.code) == (403, "format_mismatch")
    assert error.body()["error"]["type"] == "permission_error"
    message = error.message
    assert "Submission 3 was evaluated in float32" in message
    assert "runs here in bfloat16" in message and "GB is free" in message
    assert ctx.other_formats == {}  # nothing was loaded
