"""``stop`` in /v1/chat/completions: the answer ends before the first stop string, which is never
returned, whole or streamed, and the row leaves the decoding loop (API served in-process on the
tiny model; the expected text is cut from the same greedy answer asked for without ``stop``)."""

from __future__ import annotations

import json
import string

import httpx
import pytest

from dashboard.api.settings import ApiSettings
from dashboard.api.stops import StopText
from storage import Store
from tests.api.inprocess import chat_body, serve, wait_until

TOKENS = 40
PLAIN = set(string.ascii_letters + string.digits)


@pytest.fixture()
def store(tmp_path):
    with Store.open(None, tmp_path / "data") as opened:
        yield opened


@pytest.fixture()
def api(store, tmp_path):
    with serve(store, ApiSettings(), data_dir=tmp_path) as served:
        wait_until(lambda: served.service.not_ready() is None, "the model to load")
        yield served


def test_stop_text_holds_back_what_may_begin_a_stop_and_cuts_at_the_earliest():
    stop = StopText(("END", "xy"))
    assert stop.settle("abc") == ("abc", False)
    assert stop.settle("abcE") == ("abc", False)  # "E" may begin "END"
    assert stop.settle("abcEN") == ("abc", False)
    assert stop.settle("abcENx") == ("abcEN", False)  # "EN" can no longer be "END"; "x" can be "xy"
    assert stop.settle("abcENxy and END") == ("abcEN", True)
    assert stop.settle("aEND xy") == ("a", True)
    assert StopText().settle("anything") == ("anything", False)


def unstopped(api, secret: str) -> str:
    answer = api.chat(secret, max_tokens=TOKENS)
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["finish_reason"] == "length"
    return answer.json()["choices"][0]["message"]["content"]


def stop_in(text: str) -> str:
    """Three plain characters from the middle of ``text`` (three tokens of the byte tokenizer)."""
    for start in range(4, len(text) - 3):
        window = text[start : start + 3]
        if set(window) <= PLAIN:
            return window
    raise AssertionError(f"no plain three characters in {text!r}")


def test_a_whole_answer_ends_before_a_stop_string_spanning_several_tokens(api):
    secret = api.key("stop-whole")
    text = unstopped(api, secret)
    stop = stop_in(text)
    expected = text[: text.find(stop)]
    answer = api.chat(secret, max_tokens=TOKENS, stop=[stop, "never there \u2603"])
    assert answer.status_code == 200, answer.text
    choice = answer.json()["choices"][0]
    assert choice["message"]["content"] == expected
    assert stop not in choice["message"]["content"]
    assert choice["finish_reason"] == "stop"
    # The row left once the stop appeared, long before its budget.
    loop = api.loop()
    wait_until(lambda: len(loop.departures) == 2, "the second row to leave")
    left = loop.departures[-1]
    assert left.reason == "cancelled"
    assert left.produced < TOKENS
    assert loop.running == 0


def test_a_streamed_answer_never_shows_the_stop_text(api):
    secret = api.key("stop-stream")
    text = unstopped(api, secret)
    stop = stop_in(text)
    expected = text[: text.find(stop)]
    body = chat_body(max_tokens=TOKENS, stream=True, stop=stop)
    pieces, finish = [], None
    with httpx.stream(
        "POST", api.url + "/v1/chat/completions", json=body, headers=api.headers(secret)
    ) as answer:
        assert answer.status_code == 200
        for line in answer.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choice = json.loads(line[len("data: ") :])["choices"][0]
            pieces.append(choice["delta"].get("content", ""))
            finish = choice["finish_reason"] or finish
    assert all(stop not in piece for piece in pieces)
    assert "".join(pieces) == expected
    assert finish == "stop"


def test_a_stop_string_never_reached_changes_nothing(api):
    secret = api.key("stop-never")
    text = unstopped(api, secret)
    answer = api.chat(secret, max_tokens=TOKENS, stop="\u2603\u2603")
    assert answer.json()["choices"][0]["message"]["content"] == text
    assert answer.json()["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize(
    ("stop", "code"),
    [
        (["a", "b", "c", "d", "e"], "too_many_stops"),
        ("", "invalid_value"),
        ([1], "invalid_value"),
    ],
)
def test_stop_beyond_four_strings_or_not_text_is_refused_naming_the_field(api, stop, code):
    answer = api.chat(api.key(f"stop-bad-{code}-{len(repr(stop))}"), stop=stop)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == code
    assert "'stop'" in error["message"]
