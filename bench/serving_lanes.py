"""Sign-in and approval latency while streaming clients load the API (issue 20, point 4).

Starts the real app (``app.py``) on ``--model`` with a fresh data folder holding the test users,
8 API keys and submissions waiting for review. It measures a reviewer's sign-in (``POST /login``)
and approval (the Approve click, after opening the page and choosing the submission) first with
the API idle, then while ``--clients`` closed-loop streaming clients (spread over the 8 keys, each
asking for ``--tokens`` tokens again as soon as its answer ends) keep it full: the load counts as
established once ``/metrics`` shows requests waiting for a row. Reports p50/p95 of both states,
the ratio loaded/idle, the answers the load completed and the load average.

    python bench/serving_lanes.py [--model default] [--clients 64] [--tokens 64] [--rounds 10]

Writes ``bench/results/serving_lanes.json``. Goals (issue 20): under load, sign-in p95 <= 1 s and
an approval p95 <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import torch  # noqa: E402

from bench.app_process import REVIEWER, metric, start_app, stop  # noqa: E402
from bench.common import machine, write_json  # noqa: E402
from steering.vectors import ControlVector  # noqa: E402
from tests.api.conftest import add_submission  # noqa: E402
from tests.api.whole_app import Page, sign_in  # noqa: E402
from tests.security.conftest import make_store  # noqa: E402

KEYS = 8
GOALS_S = {"sign_in": 1.0, "approval": 2.0}


class Load:
    """Closed-loop streaming clients, each on its own thread, until :meth:`stop`."""

    def __init__(self, url: str, model: str, secrets: list[str], clients: int, tokens: int):
        self.url, self.model, self.tokens = url, model, tokens
        self.secrets = [secrets[i % len(secrets)] for i in range(clients)]
        self.stopping = threading.Event()
        self.completed = 0
        self.refused: Counter[str] = Counter()  # what ended an answer early, by status or code
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(s,)) for s in self.secrets]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self._threads:
            thread.join(timeout=600)

    def _run(self, secret: str) -> None:
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": "Tell me a story about a lighthouse."}],
            "temperature": 0,
            "max_tokens": self.tokens,
            "stream": True,
        }
        headers = {"authorization": f"Bearer {secret}"}
        while not self.stopping.is_set():
            with httpx.stream(
                "POST", self.url + "/v1/chat/completions", json=body, headers=headers, timeout=600
            ) as answer:
                lines = list(answer.iter_lines())
                done = answer.status_code == 200 and "data: [DONE]" in lines
                why = str(answer.status_code)
                if answer.status_code != 200:
                    why += " " + str(json.loads("".join(lines))["error"].get("code"))
                elif not done:
                    why += " " + next((x for x in reversed(lines) if x.startswith("data")), "")
            with self._lock:
                if done:
                    self.completed += 1
                else:
                    self.refused[why] += 1
            if not done:
                time.sleep(1.0)  # a refusal says Retry-After: 1


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def one_sign_in(url: str) -> float:
    with httpx.Client(base_url=url, timeout=120) as client:

        def act() -> None:
            answer = sign_in(client, REVIEWER)
            if answer.status_code != 200:
                raise RuntimeError(f"sign-in refused: {answer.status_code} {answer.text}")

        return timed(act)


def one_approval(url: str, submission_id: int) -> float:
    """The Approve click's round trip (opening the page and choosing come first, untimed)."""
    with httpx.Client(base_url=url, timeout=120) as client:
        if sign_in(client, REVIEWER).status_code != 200:
            raise RuntimeError("sign-in refused")
        page = Page(client)
        page.run("load", None, {}, updating="review-queue")
        page.run("change", "review-queue", {"review-queue": submission_id})
        values = {"review-queue": submission_id, "review-comment": "Looked at the evidence."}
        status: list[int] = []
        seconds = timed(lambda: status.append(page.run("click", "approve", values)[0]))
        if status != [200]:
            raise RuntimeError(f"the approval failed: {status}")
        return seconds


def quantiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": statistics.median(ordered), "p95": p95, "n": len(ordered)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default", help="model spec (default: bundled)")
    parser.add_argument("--clients", type=int, default=64, help="streaming clients")
    parser.add_argument("--tokens", type=int, default=64, help="new tokens per answer")
    parser.add_argument("--rounds", type=int, default=10, help="sign-ins and approvals per state")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "serving_lanes.json"))
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="serving-lanes-"))
    vector = ControlVector({1: torch.ones(8)})  # only reviewed, never served
    with make_store(data_dir) as store:
        submissions = [
            add_submission(store, vector, {"model_id": args.model}, "submitted")
            for _ in range(2 * args.rounds)
        ]
        secrets = [store.add_api_key(f"load-{k}")[1] for k in range(KEYS)]
        _, reader = store.add_api_key("bench-metrics", metrics=True)
    process, url = start_app(data_dir, args.model)
    try:
        models = httpx.get(url + "/v1/models", headers={"authorization": f"Bearer {reader}"})
        model = models.json()["data"][0]["id"]
        results: dict[str, dict[str, list[float]]] = {}
        results["idle"] = {
            "sign_in": [one_sign_in(url) for _ in range(args.rounds)],
            "approval": [one_approval(url, s) for s in submissions[: args.rounds]],
        }
        load = Load(url, model, secrets, args.clients, args.tokens)
        load.start()
        try:
            deadline = time.monotonic() + 300
            while (
                metric(url, reader, "cvlab_api_queue_depth") < 1
            ):  # more clients than rows: some must wait
                if time.monotonic() > deadline:
                    raise RuntimeError("the load never filled the decoding rows")
                time.sleep(0.5)
            load_average = os.getloadavg()
            results["loaded"] = {"sign_in": [], "approval": []}
            for submission in submissions[args.rounds :]:
                results["loaded"]["sign_in"].append(one_sign_in(url))
                results["loaded"]["approval"].append(one_approval(url, submission))
            still_waiting = metric(url, reader, "cvlab_api_queue_depth")
        finally:
            load.stop()
    finally:
        stop(process)

    summary = {state: {k: quantiles(v) for k, v in r.items()} for state, r in results.items()}
    print(f"model {model}, {args.clients} streaming clients x {args.tokens} tokens, 8 keys")
    print(f"{'':<10}{'idle p50':>10}{'idle p95':>10}{'load p50':>10}{'load p95':>10}{'goal':>8}")
    for what in ("sign_in", "approval"):
        idle, loaded = summary["idle"][what], summary["loaded"][what]
        verdict = "meets" if loaded["p95"] <= GOALS_S[what] else "misses"
        print(
            f"{what:<10}{idle['p50']:>10.3f}{idle['p95']:>10.3f}{loaded['p50']:>10.3f}"
            f"{loaded['p95']:>10.3f}{GOALS_S[what]:>7.1f}s  {verdict}"
        )
    print(
        f"load: {load.completed} answers completed, refused: {dict(load.refused)}, {still_waiting:g} "
        f"waiting for a row at the end; load average {load_average[0]:.2f}"
    )
    write_json(
        Path(args.out),
        {
            "model": model,
            "clients": args.clients,
            "tokens": args.tokens,
            "rounds": args.rounds,
            "seconds": results,
            "summary": summary,
            "ratio_loaded_vs_idle_p50": {
                what: summary["loaded"][what]["p50"] / summary["idle"][what]["p50"]
                for what in ("sign_in", "approval")
            },
            "goals_p95_s": GOALS_S,
            "answers_completed_under_load": load.completed,
            "refused_under_load": dict(load.refused),
            "waiting_at_end": still_waiting,
            "load_average_under_load": [round(x, 2) for x in load_average],
            "machine": machine(),
        },
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
