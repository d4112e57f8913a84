"""Small inputs that used to mean large work are answered promptly, briefly and clearly by the
real dashboard process, which stays up; an unevaluated strength cannot be submitted.

Every request runs under the client's 30 s timeout (a slower answer fails the test); how many
seconds each took is recorded by ``bench/security_bench.py``, not asserted here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .bounded import Answer, Journey, evaluated, nan_jsonl, nested_json, ready_to_compare, xlsx_bomb
from .conftest import BASE_ENV, Server, make_store, start_server
from .helpers import signed_in

MAX_ANSWER_BYTES = 10_000


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("dashboard")
    make_store(data_dir).close()
    env = {**BASE_ENV, "STEERING_MAX_UPLOAD_MB": "5", "STEERING_MAX_PROMPT_TOKENS": "512"}
    running = start_server(data_dir, env, "--dashboard")
    yield running
    running.stop()


def still_up(server: Server) -> None:
    with signed_in(server, "kim") as client:
        assert client.get("/config").status_code == 200


def answered(answer: Answer, *phrases: str) -> None:
    assert answer.status == 200
    assert answer.size < MAX_ANSWER_BYTES, answer.text[:300]
    for phrase in phrases:
        assert phrase in answer.text, answer.text[:1000]


def test_a_spreadsheet_bomb_is_stopped_at_the_row_limit(dashboard) -> None:
    bomb = xlsx_bomb()
    assert len(bomb) < 1_000_000
    with signed_in(dashboard, "ann") as client:
        answer = Journey(client).examples("bomb.xlsx", bomb)
    answered(answer, "more than 50,000 example rows (the limit)", "Nothing was stored")
    still_up(dashboard)


@pytest.mark.parametrize(
    ("name", "data", "phrase"),
    [
        ("deep.json", nested_json(), "the JSON is nested hundreds of levels deep"),
        ("nan.jsonl", nan_jsonl(), "row 1: column 'answer' holds the number NaN"),
    ],
)
def test_json_traps_get_a_message_naming_where(dashboard, name: str, data: bytes, phrase: str):
    with signed_in(dashboard, "cat") as client:
        answer = Journey(client).examples(name, data)
    answered(answer, phrase)
    still_up(dashboard)


def test_layer_specs_and_long_prompts_are_refused_before_any_work(dashboard) -> None:
    with signed_in(dashboard, "dan") as client:
        journey = Journey(client)
        ready_to_compare(journey)
        huge_layers = journey.event(
            "do_generate", compare_prompt="What is 2 plus 3?", compare_layers="0-10000000"
        )
        answered(huge_layers, "do not exist: this model has layers 0-3")
        long_prompt = journey.event("do_generate", compare_prompt="word " * 20_000)
        answered(long_prompt, "more than the limit of 512 tokens", "STEERING_MAX_PROMPT_TOKENS")
        fine = journey.event("do_generate", compare_prompt="What is 2 plus 3?", compare_tokens=8)
        answered(fine, "both answers come from one batched call")
    still_up(dashboard)


def test_an_unevaluated_strength_posted_through_the_api_is_refused(dashboard) -> None:
    from storage import Store

    with signed_in(dashboard, "eve") as client:
        journey = Journey(client)
        ready_to_compare(journey)
        evaluation = evaluated(journey)  # a chart and tables: not a bounded answer, no size cap
        assert evaluation.status == 200 and '"choices": [["0.5", 0.5]]' in evaluation.text
        for strength in (1e300, -7, 0.75):
            refused = journey.event("do_submit", submit_strength=strength)
            assert refused.size < MAX_ANSWER_BYTES
            assert "sent for review" not in refused.text
            # Only the evaluated strengths are offered, and Gradio refuses any other value of the
            # dropdown; the store would refuse it too (tests/storage/test_evaluated_only.py).
            assert "is not in the list of choices: [0.5]" in refused.text, refused.text
    with Store.open(None, dashboard.data_dir) as store:
        assert store.list_submissions() == []
    still_up(dashboard)
