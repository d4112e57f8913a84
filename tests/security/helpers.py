"""Plain-HTTP steps the security tests share: sign in, call a Gradio event, read its result."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from .conftest import PASSWORD

JSON = {"accept": "application/json"}


def sign_in(client: httpx.Client, name: str, password: str = PASSWORD, **headers) -> httpx.Response:
    """POST /login as an API client; the cookie lands in the client's jar on success."""
    return client.post(
        "/login", data={"username": name, "password": password}, headers={**JSON, **headers}
    )


@contextmanager
def signed_in(server, name: str) -> Iterator[httpx.Client]:
    """A client holding a fresh session cookie for ``name``; closed at the end."""
    with server.client() as client:
        response = sign_in(client, name)
        assert response.status_code == 200, response.text
        yield client


def call(client: httpx.Client, api_name: str, data: list) -> tuple[str, object]:
    """Run a Gradio event over the plain HTTP API: ("complete", output) or ("error", message)."""
    started = client.post(f"/gradio_api/call/{api_name}", json={"data": data})
    if started.status_code != 200:
        return "refused", started.status_code
    event_id = started.json()["event_id"]
    result = client.get(f"/gradio_api/call/{api_name}/{event_id}")
    if result.status_code != 200:
        return "refused", result.status_code
    event, payload = "", None
    for line in result.text.splitlines():
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            payload = json.loads(line.split(":", 1)[1].strip() or "null")
    return event, payload


def fn_index(client: httpx.Client, api_name: str) -> int:
    config = client.get("/config").json()
    for dependency in config["dependencies"]:
        if dependency.get("api_name") == api_name:
            return dependency["id"]
    raise AssertionError(f"no event named {api_name}")


def join(client: httpx.Client, index: int, data: list, session_hash: str) -> tuple[int, object]:
    """Queue an event under ``session_hash`` and read its result from the queue's stream.

    Returns (status of the join, output data or None); the stream read is bounded by the
    client's timeout and by the first ``process_completed`` message.
    """
    body = {"data": data, "fn_index": index, "session_hash": session_hash, "trigger_id": None}
    joined = client.post("/gradio_api/queue/join", json=body)
    if joined.status_code != 200:
        return joined.status_code, None
    with client.stream("GET", "/gradio_api/queue/data", params={"session_hash": session_hash}) as s:
        if s.status_code != 200:
            return s.status_code, None
        for line in s.iter_lines():
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            if message.get("msg") == "process_completed":
                output = message.get("output", {})
                return 200, output.get("data", output.get("error"))
    return 200, None
