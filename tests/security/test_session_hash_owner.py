"""A Gradio session hash belongs to the sign-in that first used it (issue 19 points 5 and 9).

A reviewer starts a slow event in their own session; a builder, signed in with their own
cookie and knowing the reviewer's ``session_hash`` and event id (as anyone watching the page's
traffic would), tries every route that names them: joining the queue under it, reading its
``queue/data`` stream, cancelling, resetting, the heartbeat, the simple-call result, the stream
routes, the deep link and the component server. Each gets 403 with none of the reviewer's
output, and the reviewer's event runs on and delivers its output to the reviewer alone.
"""

from __future__ import annotations

import json
import uuid

import httpx

from dashboard.web.event_gate import NOT_YOURS

from .helpers import call, fn_index, join, signed_in

SLOW_S = 2.0


def start(client: httpx.Client, index: int, session_hash: str) -> str:
    """Queue the slow event under ``session_hash`` without reading its stream; its event id."""
    body = {"data": [SLOW_S], "fn_index": index, "session_hash": session_hash, "trigger_id": None}
    joined = client.post("/gradio_api/queue/join", json=body)
    assert joined.status_code == 200, joined.text
    return joined.json()["event_id"]


def outputs(client: httpx.Client, session_hash: str) -> list[object]:
    """Every completed output the session's ``queue/data`` stream delivers, until it closes."""
    found = []
    with client.stream("GET", "/gradio_api/queue/data", params={"session_hash": session_hash}) as s:
        assert s.status_code == 200
        for line in s.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    found.append(message["output"].get("data"))
                if message.get("msg") == "close_stream":
                    break
    return found


def attacks(index: int, session_hash: str, event_id: str) -> list[tuple[str, str, dict]]:
    """(method, path, request options) for every route that names the session or its event."""
    return [
        (
            "POST",
            "/gradio_api/queue/join",
            {"json": {"data": [0], "fn_index": index, "session_hash": session_hash}},
        ),
        ("GET", "/gradio_api/queue/data", {"params": {"session_hash": session_hash}}),
        # Two values: Starlette hands the route the last one.
        ("GET", f"/gradio_api/queue/data?session_hash=mine&session_hash={session_hash}", {}),
        (
            "POST",
            "/gradio_api/cancel",
            {"json": {"session_hash": session_hash, "fn_index": index, "event_id": event_id}},
        ),
        ("POST", "/gradio_api/reset", {"json": {"event_id": event_id}}),
        ("GET", f"/gradio_api/heartbeat/{session_hash}", {}),
        ("GET", f"/gradio_api/call/slow/{event_id}", {}),
        ("GET", f"/gradio_api/call/slow/{session_hash}", {}),  # Gradio's fallback: a hash
        ("GET", f"/gradio_api/call/v2/slow/{event_id}", {}),
        ("POST", "/gradio_api/call/slow", {"json": {"data": [0], "session_hash": session_hash}}),
        ("POST", f"/gradio_api/stream/{event_id}", {"json": {"data": [0]}}),
        ("POST", f"/gradio_api/stream/{event_id}/close", {}),
        ("GET", f"/gradio_api/stream/{session_hash}/run/1/playlist.m3u8", {}),
        ("GET", "/gradio_api/deep_link", {"params": {"session_hash": session_hash}}),
        (
            "POST",
            "/gradio_api/component_server",
            {
                "json": {
                    "session_hash": session_hash,
                    "component_id": 1,
                    "fn_name": "x",
                    "data": None,
                }
            },
        ),
    ]


def test_another_sign_in_naming_a_reviewers_session_gets_403_and_no_output(server) -> None:
    reviewer_hash = uuid.uuid4().hex
    with signed_in(server, "bob") as bob, signed_in(server, "ann") as ann:
        index = fn_index(bob, "slow")
        event_id = start(bob, index, reviewer_hash)
        for method, path, options in attacks(index, reviewer_hash, event_id):
            refused = ann.request(method, path, timeout=5.0, **options)
            assert refused.status_code == 403, (method, path, refused.status_code, refused.text)
            assert refused.json() == {"error": NOT_YOURS}
            assert "bob" not in refused.text
        # Not cancelled, not read by anyone else: the reviewer gets the output.
        assert outputs(bob, reviewer_hash) == [["bob waited"]]
        # The builder's own sessions work as before.
        assert join(ann, index, [0], uuid.uuid4().hex) == (200, ["ann waited"])


def test_a_second_sign_in_of_the_same_user_is_another_sign_in(server) -> None:
    session_hash = uuid.uuid4().hex
    with signed_in(server, "bob") as first, signed_in(server, "bob") as second:
        index = fn_index(first, "slow")
        start(first, index, session_hash)
        peek = second.get("/gradio_api/queue/data", params={"session_hash": session_hash})
        assert peek.status_code == 403
        assert outputs(first, session_hash) == [["bob waited"]]


def test_a_simple_call_result_is_read_only_by_its_caller(server) -> None:
    with signed_in(server, "bob") as bob, signed_in(server, "ann") as ann:
        started = bob.post("/gradio_api/call/slow", json={"data": [0.5]})
        event_id = started.json()["event_id"]
        stolen = ann.get(f"/gradio_api/call/slow/{event_id}")
        assert stolen.status_code == 403 and "bob" not in stolen.text
        mine = bob.get(f"/gradio_api/call/slow/{event_id}")
        assert mine.status_code == 200 and "bob waited" in mine.text
        assert call(ann, "slow", [0]) == ("complete", ["ann waited"])
