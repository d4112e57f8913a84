"""The whole app (the dashboard and the API, wired as ``app.py`` wires them: lanes, the web
layer, the API's dispatch) served by uvicorn on 127.0.0.1 from inside the test process, on a tiny
model, so that a test can hold the decoding loop and the store behind it; and a reviewer's steps
over plain HTTP, as the browser takes them: sign in, open the page, choose a submission, approve.

Used by tests/api/test_lanes.py and bench/serving_lanes.py.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn

from dashboard.context import AppContext
from dashboard.ui import build_ui, queue_in_lanes
from dashboard.web.cache import prepare_file_cache
from dashboard.web.launch import proxy_options
from dashboard.web.server import create_server
from dashboard.web.settings import settings as web_settings
from steering.engine.serving import DecodingLoop
from storage import Store
from tests.api.inprocess import SPEC, tiny_model, wait_until
from tests.security.conftest import PASSWORD, free_port
from tests.security.helpers import join

CLIENT_TIMEOUT_S = 60.0  # generous: a refused lane shows as this wait running out


@dataclass
class WholeApp:
    """The running app and its context (store, models, decoding loops)."""

    url: str
    ctx: AppContext

    def loop(self) -> DecodingLoop:
        return self.ctx.batcher(self.ctx.model(SPEC))

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=CLIENT_TIMEOUT_S, follow_redirects=False)


@contextmanager
def serve_whole_app(store: Store, data_dir: Path) -> Iterator[WholeApp]:
    """The app on a free port, its default model (the tiny one) loaded."""
    prepare_file_cache(data_dir)  # before the Blocks is built, as app.py does
    ctx = AppContext(
        store=store,
        default_model=SPEC,
        export_dir=data_dir / "exports",
        loader=lambda spec, dtype=None: tiny_model(),
    )
    ctx.preload()
    settings = web_settings()
    app = create_server(ctx, queue_in_lanes(build_ui(ctx)), data_dir=data_dir, settings=settings)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=free_port(), log_level="warning", **proxy_options(settings)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="test-whole-app", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, "the server to start")
        wait_until(lambda: ctx.is_loaded(SPEC), "the model to load")
        yield WholeApp(f"http://127.0.0.1:{config.port}", ctx)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        for loop in ctx.batchers.values():
            loop.close()
        ctx.close()


def sign_in(client: httpx.Client, name: str) -> httpx.Response:
    """``POST /login`` as a script does; the session cookie lands in the client's jar."""
    return client.post(
        "/login",
        data={"username": name, "password": PASSWORD},
        headers={"accept": "application/json"},
    )


@dataclass
class Page:
    """One open dashboard page of a signed-in client (one Gradio session)."""

    client: httpx.Client
    session_hash: str = field(default_factory=lambda: uuid.uuid4().hex[:11])
    _config: dict | None = None

    def config(self) -> dict:
        if self._config is None:
            self._config = self.client.get("/config").json()
        return self._config

    def _ids(self) -> dict[str, int]:
        return {
            c["props"]["elem_id"]: c["id"]
            for c in self.config()["components"]
            if c.get("props", {}).get("elem_id")
        }

    def _event(self, trigger: str, target: str | None, updating: str | None = None) -> dict:
        """The event ``trigger`` of the component ``target`` (None: the page), optionally the
        one of them that updates the component ``updating``."""
        ids = self._ids()
        for dependency in self.config()["dependencies"]:
            fired = {(component, kind) for component, kind in dependency["targets"]}
            if target is not None and (ids[target], trigger) not in fired:
                continue
            if target is None and not any(kind == trigger for _, kind in fired):
                continue
            if updating is None or ids[updating] in dependency["outputs"]:
                return dependency
        raise AssertionError(f"no {trigger} event of {target or 'the page'}")

    def run(
        self,
        trigger: str,
        target: str | None,
        values: dict[str, object],
        updating: str | None = None,
    ) -> tuple[int, object]:
        """Run one event; inputs are the page's values, ``values`` (by elem_id) replacing some."""
        dependency = self._event(trigger, target, updating)
        components = {c["id"]: c for c in self.config()["components"]}
        data = []
        for input_id in dependency["inputs"]:
            props = components[input_id].get("props", {})
            elem_id = props.get("elem_id")
            data.append(values[elem_id] if elem_id in values else props.get("value"))
        return join(self.client, dependency["id"], data, self.session_hash)


def approve(client: httpx.Client, submission_id: int) -> tuple[int, object]:
    """A signed-in reviewer opens the page, chooses the submission and approves it."""
    page = Page(client)
    loaded, _ = page.run("load", None, {}, updating="review-queue")  # fills the review list
    if loaded != 200:
        return loaded, None
    chosen, _ = page.run("change", "review-queue", {"review-queue": submission_id})
    if chosen != 200:
        return chosen, None
    values = {"review-queue": submission_id, "review-comment": "Looked at the evidence."}
    return page.run("click", "approve", values)
