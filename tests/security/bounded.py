"""Bounded-input cases against the real dashboard process, shared by the tests and the bench.

Each case sends one input that used to mean large work (issue 12 point 4) through the plain HTTP
API, the way any signed-in builder could, and returns what came back and how long it took. The
tests assert the answer (a clear message, small, the app still up); ``bench/security_bench.py``
records the seconds. One ``Journey`` is one browser session (one ``session_hash``) of one user,
so the dashboard's per-session state (examples, vector, evaluation) carries from step to step.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field

import httpx

from .helpers import join
from .xlsx import raw_xlsx, text_row

CLIENT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Answer:
    """One event's outcome: how long it took, the size and text of what came back."""

    seconds: float
    status: int
    text: str  # the event's output data as JSON text

    @property
    def size(self) -> int:
        return len(self.text.encode())


@dataclass
class Journey:
    """A signed-in client and one Gradio session of the dashboard."""

    client: httpx.Client
    session_hash: str = field(default_factory=lambda: uuid.uuid4().hex[:11])
    _config: dict | None = None

    def config(self) -> dict:
        if self._config is None:
            self._config = self.client.get("/config").json()
        return self._config

    def event(self, api_name: str, **values: object) -> Answer:
        """Run the dashboard event ``api_name``; inputs default to the page's values, and
        ``values`` (keyed by elem_id, dashes as underscores) replace some of them."""
        config = self.config()
        dependency = next(d for d in config["dependencies"] if d.get("api_name") == api_name)
        components = {c["id"]: c for c in config["components"]}
        data = []
        for input_id in dependency["inputs"]:
            props = components[input_id].get("props", {})
            key = (props.get("elem_id") or "").replace("-", "_")
            data.append(values[key] if key in values else props.get("value"))
        started = time.perf_counter()
        status, output = join(self.client, dependency["id"], data, self.session_hash)
        seconds = time.perf_counter() - started
        return Answer(seconds, status, json.dumps(output, ensure_ascii=False))

    def upload(self, name: str, data: bytes) -> dict:
        """Upload a file as the browser does; the FileData the next event sends."""
        response = self.client.post("/gradio_api/upload", files={"files": (name, data)})
        response.raise_for_status()
        path = response.json()[0]
        return {"path": path, "orig_name": name, "meta": {"_type": "gradio.FileData"}}

    def examples(self, name: str, data: bytes) -> Answer:
        return self.event("do_upload", upload_examples=self.upload(name, data))


def xlsx_bomb() -> bytes:
    """A few hundred KB that unpack to 60,000 rows on a sheet claiming 16,384 x 1,048,576 cells."""
    rows = [text_row(1, "prompt", "positive")]
    rows += (text_row(i, f"q{i}", "a") for i in range(2, 60_002))
    return raw_xlsx(rows, dimension="A1:XFD1048576")


def nested_json() -> bytes:
    return ('[{"prompt": "p", "positive": ' + "[" * 100_000 + "]" * 100_000 + "}]").encode()


def nan_jsonl() -> bytes:
    return b'{"prompt": "What is 1 + 1?", "positive": "2", "answer": NaN}\n'


def ready_to_compare(journey: Journey) -> None:
    """Bundled examples, then a quick vector on the tiny model: what Compare needs."""
    journey.event("do_bundled", bundled_set="arithmetic")
    built = journey.event("do_build", build_rows=8)
    if "Problem" in built.text:
        raise AssertionError(built.text[:500])


def evaluated(journey: Journey) -> Answer:
    """A small held-out evaluation at strengths 0 and 0.5 (no side effects)."""
    return journey.event(
        "do_evaluate", eval_strengths="0, 0.5", eval_max=4, eval_side_effects=False
    )
