"""The API served by uvicorn on 127.0.0.1 from inside the test process, around a real
:class:`~dashboard.context.AppContext` on a tiny model, so that a test can reach into the decoding
loop behind it (its rows, its departures) and hold it at every forward pass (:class:`StepGate`).

The app is the API behind its dispatch, as the real process serves it, without the dashboard
(the real app's gate and probes are tested in test_readiness.py against app.py itself); its
limits come from an :class:`~dashboard.api.settings.ApiSettings` the test chooses.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from starlette.responses import PlainTextResponse

from dashboard.api.routes import ApiDispatch, build_api
from dashboard.api.service import ApiService
from dashboard.api.settings import ApiSettings
from dashboard.context import AppContext
from steering.engine.models import LoadedModel
from steering.engine.serving import DecodingLoop
from storage import Store
from tests.security.conftest import free_port
from tests.tiny import make_tiny

SPEC = "tiny"


class StepGate:
    """Holds the decoding loop's thread before each forward pass until the test allows it."""

    def __init__(self, loaded: LoadedModel) -> None:
        self._permits = threading.Semaphore(0)
        self._handle = loaded.model.register_forward_pre_hook(self._wait)

    def _wait(self, *_args: object) -> None:
        if threading.current_thread().name != "decoding-loop":
            return  # the test's own reference runs pass freely
        if not self._permits.acquire(timeout=60):
            raise RuntimeError("the test never allowed this step")

    def allow(self, passes: int = 1) -> None:
        self._permits.release(passes)

    def close(self) -> None:
        self._handle.remove()
        self.allow(10_000)


def tiny_model() -> LoadedModel:
    """The tiny Llama, named as the spec it is loaded by (so it is listed by one name)."""
    return dataclasses.replace(make_tiny("llama", chat_template=True), spec=SPEC, name=SPEC)


def wait_until(condition: Callable[[], bool], what: str, limit_s: float = 60.0) -> None:
    """Poll a state the test can read (never a sleep standing in for an outcome)."""
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


@dataclass
class LocalApi:
    """The running server, its context (models, store) and service."""

    url: str
    ctx: AppContext
    service: ApiService
    gates: list[StepGate] = dataclasses.field(default_factory=list)

    def loop(self) -> DecodingLoop:
        return self.ctx.batcher(self.ctx.model(SPEC))

    def gate(self) -> StepGate:
        """Hold the loaded model's decoding loop at every forward pass from now on."""
        gate = StepGate(self.ctx.model(SPEC))
        self.gates.append(gate)
        return gate

    def key(self, name: str) -> str:
        return self.ctx.store.add_api_key(name, None)[1]

    def headers(self, secret: str) -> dict[str, str]:
        return {"authorization": f"Bearer {secret}"}

    def chat(self, secret: str, **body: object) -> httpx.Response:
        return httpx.post(
            self.url + "/v1/chat/completions",
            json=chat_body(**body),
            headers=self.headers(secret),
            timeout=60,
        )


def chat_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "model": SPEC,
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0,
        "max_tokens": 8,
    }
    return body | overrides


@contextmanager
def serve(
    store: Store,
    settings: ApiSettings,
    *,
    loader: Callable[..., LoadedModel] | None = None,
    preload: bool = True,
    data_dir: Path,
) -> Iterator[LocalApi]:
    """The API on ``settings``, behind its dispatch (anything else: 404), on a free port."""
    ctx = AppContext(
        store=store,
        default_model=SPEC,
        export_dir=data_dir / "exports",
        loader=loader or (lambda spec, dtype=None: tiny_model()),
        max_batch=settings.max_batch,
    )
    if preload:
        ctx.preload()
    service = ApiService(ctx, settings=settings)
    app = ApiDispatch(PlainTextResponse("not the API", status_code=404), build_api(service))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    wait_until(lambda: server.started, "the server to start")
    api = LocalApi(f"http://127.0.0.1:{port}", ctx, service)
    try:
        yield api
    finally:
        for gate in api.gates:
            gate.close()
        server.should_exit = True
        thread.join(timeout=30)
        for loop in ctx.batchers.values():
            loop.close()
