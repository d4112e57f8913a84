"""HTTP surface timings against a real app process: sign-in round trips and gated requests.

Starts the tests' tiny app (``tests/security/serve_app.py``) on 127.0.0.1 with a temporary store,
then times, per case, the median and 90th percentile of N round trips with a plain httpx client:
a correct sign-in (one argon2 check, a new session), a wrong password (one argon2 check, one
audit event), a refusal during a throttle wait (no password check), an anonymous request refused
by the gate, a signed-in ``/config`` (the gate's store lookup, then Gradio), one Gradio event
through the HTTP API, and a private download (offer, then fetch). Then, against the real
dashboard on a tiny model (``serve_app --dashboard``), the seconds each bounded input of issue 12
point 4 takes to be answered (the tests in ``tests/security/test_bounded.py`` check the answers;
the times live here, not in assertions): a spreadsheet bomb, JSON nested 100,000 deep, a NaN,
a 10-character layer spec naming ten million layers, a 100,000-character prompt, and an
unevaluated strength posted to submit. Prints a table and writes ``bench/results/security.json``.

    python bench/security_bench.py [--reps 20]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.security.bounded import (  # noqa: E402
    Journey,
    evaluated,
    nan_jsonl,
    nested_json,
    ready_to_compare,
    xlsx_bomb,
)
from tests.security.conftest import BASE_ENV, PASSWORD, make_store, start_server  # noqa: E402
from tests.security.helpers import JSON, call, sign_in, signed_in  # noqa: E402


def timed(step: Callable[[], object], reps: int) -> dict[str, float]:
    """Median and p90 of ``reps`` runs of ``step``, in milliseconds (one unmeasured warm-up)."""
    step()
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {
        "median_ms": statistics.median(samples),
        "p90_ms": samples[min(len(samples) - 1, int(0.9 * len(samples)))],
        "reps": reps,
    }


def expect(response: httpx.Response, status: int) -> httpx.Response:
    if response.status_code != status:
        raise SystemExit(f"{response.request.url}: expected {status}, got {response.status_code}")
    return response


def run(reps: int) -> dict[str, dict[str, float]]:
    data_dir = Path(tempfile.mkdtemp(prefix="security-bench-"))
    make_store(data_dir).close()
    server = start_server(data_dir, {**BASE_ENV, "STEERING_LOGIN_BASE_DELAY_S": "600"})
    results: dict[str, dict[str, float]] = {}
    try:
        with server.client() as client, server.client() as outsider:
            results["sign-in, correct"] = timed(lambda: expect(sign_in(client, "ann"), 200), reps)
            results["sign-in, wrong password"] = timed(
                lambda: expect(
                    sign_in(outsider, "bob", "wrong password", **{"x-forwarded-for": "10.1.0.1"}),
                    401,
                ),
                min(reps, 3),  # the fourth failure plus the warm-up reaches the throttle
            )
            for _ in range(2):
                sign_in(outsider, "bob", "wrong password", **{"x-forwarded-for": "10.1.0.1"})
            results["sign-in, throttled refusal"] = timed(
                lambda: expect(
                    sign_in(outsider, "bob", PASSWORD, **{"x-forwarded-for": "10.1.0.1"}), 429
                ),
                reps,
            )
            results["anonymous request, 401"] = timed(
                lambda: expect(outsider.get("/config", headers=JSON), 401), reps
            )
            results["signed-in /config"] = timed(lambda: expect(client.get("/config"), 200), reps)

            def event() -> None:
                assert call(client, "whoami", ["x"])[0] == "complete"

            results["Gradio event over HTTP"] = timed(event, reps)

            def download() -> None:
                _, (link,) = call(client, "offer_link", [])
                expect(client.get(link), 200)

            results["offer + download"] = timed(download, reps)
    finally:
        server.stop()
    return results


def run_bounded(reps: int) -> dict[str, dict[str, float]]:
    """Seconds (as ms) for the dashboard to answer each bounded input; fewer reps, slow cases."""
    data_dir = Path(tempfile.mkdtemp(prefix="security-bench-dashboard-"))
    make_store(data_dir).close()
    env = {**BASE_ENV, "STEERING_MAX_UPLOAD_MB": "5", "STEERING_MAX_PROMPT_TOKENS": "512"}
    server = start_server(data_dir, env, "--dashboard")
    results: dict[str, dict[str, float]] = {}
    bomb, deep, nan = xlsx_bomb(), nested_json(), nan_jsonl()
    try:
        with signed_in(server, "ann") as client:
            journey = Journey(client)
            results["bounded: xlsx bomb (60,000 rows)"] = timed(
                lambda: journey.examples("bomb.xlsx", bomb), min(reps, 3)
            )
            results["bounded: JSON nested 100,000 deep"] = timed(
                lambda: journey.examples("deep.json", deep), reps
            )
            results["bounded: NaN in JSONL"] = timed(
                lambda: journey.examples("nan.jsonl", nan), reps
            )
            ready_to_compare(journey)
            results["bounded: layers 0-10000000"] = timed(
                lambda: journey.event(
                    "do_generate", compare_prompt="2+3?", compare_layers="0-10000000"
                ),
                reps,
            )
            results["bounded: 100,000-character prompt"] = timed(
                lambda: journey.event("do_generate", compare_prompt="word " * 20_000), reps
            )
            evaluated(journey)
            results["bounded: unevaluated strength"] = timed(
                lambda: journey.event("do_submit", submit_strength=1e300), reps
            )
    finally:
        server.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "security.json")
    args = parser.parse_args()
    results = run(args.reps)
    results.update(run_bounded(max(1, args.reps // 4)))
    print(f"{'case':36} {'median ms':>10} {'p90 ms':>10} {'reps':>5}")
    for case, row in results.items():
        print(f"{case:36} {row['median_ms']:10.1f} {row['p90_ms']:10.1f} {row['reps']:5d}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "cases": results,
    }
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
