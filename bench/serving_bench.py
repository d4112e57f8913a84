"""Serving side by side: the real app's ``/v1/chat/completions`` against llama.cpp's llama-server
(issue 20, point 7).

Starts ``app.py`` on ``--model`` (default: the bundled SmolLM2 GGUF) with a fresh data folder
holding four approved submissions of real control vectors (R-C, built here with
``steering.build.build_vector`` on the bundled sets; see ``VECTOR_SETS``) on ``LAYERS`` at the
strength that adds 5 % of the residual-stream norm at each layer (the middle one of the vector's
suggested strengths, ``steering.evaluation.strengths``: on these 8 layers it changes the answers
and keeps them fluent, while 10 % cut most answers to a few words or repeated tokens) and API
keys. Closed-loop streaming clients (each
sends its next request as soon as its answer ends; a fixed number of requests per client,
``--rounds``, fewer at 32 clients and more, ``--large-rounds``) ask ``--tokens`` new tokens,
greedy, of prompts from ``PROMPTS`` at each of ``--clients``, in three cases: unsteered, one
vector, and four vectors (request r of client c uses submission (c + r) mod 4).

With ``--llama-server PATH`` that binary is started twice on the same GGUF (``-t`` = the cores,
``-np 8``, ``--jinja``, a context of 8 slots x 512 tokens), once plain and once with
``--control-vector-scaled`` of the first vector exported by ``steering.export.export_gguf`` (same
layers, same strength), and the unsteered and one-vector cases run against it too, interleaved
with the project's (project, llama, project, llama, project per point; the order rotates each
repetition); figures are medians over ``--reps``.

Neither side is told to ignore the end of text (the project's API has no such field): the prompts
ask for long answers, and tokens/s counts the tokens actually made, read from each server's own
counter (``cvlab_api_generated_tokens_total``, llama-server's ``tokens_predicted_total``) over
the point's wall time; the JSON also records the mean tokens per answer of each side.

    python bench/serving_bench.py [--llama-server PATH] [--reps 3] [--rounds 2] [--large-rounds 1]

Writes ``bench/results/serving.json`` and prints a table. Goals (issue 20): 8 clients, one vector:
tokens/s >= 1.0x llama-server's; 1 client >= 0.5x; 32 clients: p95 latency <= 1.2x
llama-server's; 8 clients with 4 vectors >= 0.9x of 8 clients with one.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.app_process import (  # noqa: E402
    approved_submission,
    metric,
    peak_rss_mb,
    prometheus_sum,
    start_app,
    stop,
    wait_ready,
)
from bench.common import EXAMPLES, machine, write_json  # noqa: E402
from tests.security.conftest import free_port, make_store  # noqa: E402

# Everyday questions whose answers run past 64 tokens, so that both servers make full answers.
PROMPTS = (
    "Explain how a refrigerator keeps food cold.",
    "Describe a typical day in the life of a farmer.",
    "Write a short story about a dog who finds a lost key.",
    "Give me some tips for planning a birthday party.",
    "Explain how bread is made, step by step.",
    "Describe the water cycle in detail.",
    "What are the benefits of regular exercise? Explain each one.",
    "Write a letter to a friend about your summer holiday.",
    "Explain how to start a small vegetable garden.",
    "Describe your favourite city and what makes it special.",
)
LAYERS = tuple(range(8, 16))  # the sweep's steering layers (bench/sweep.py)
# (example set, negatives): the first is the one-vector case and the one exported to llama.cpp.
VECTOR_SETS = (
    ("arithmetic", "column"),
    ("ioi", "column"),
    ("deduction", "random"),  # this set has no negative column
    ("arithmetic", "random"),
)
STRENGTH_SHARE = 2  # index into suggested_strengths: (0, 2.5 %, 5 %, 10 %) of the residual norm
SLOTS = 8  # llama-server's -np
SLOT_CONTEXT = 512  # tokens per llama-server slot: the prompts are about 50, answers 64
CASES = ("unsteered", "one", "four")
LLAMA_CASES = ("unsteered", "one")
GOALS = {
    "tokens_per_s_8_clients_one_vector": (">=", 1.0),
    "tokens_per_s_1_client": (">=", 0.5),
    "p95_latency_32_clients": ("<=", 1.2),
    "four_vs_one_vector_tokens_per_s_8_clients": (">=", 0.9),
}
REQUEST_TIMEOUT_S = 1200.0


@dataclass
class BuiltVector:
    name: str
    path: Path
    strength: float
    submission: int = 0


@dataclass
class Target:
    """One server: where to send, how a request of each case looks, how to read its counter."""

    side: str  # "project" or "llama"
    url: str
    model: str
    headers: dict[str, str]
    extra: Callable[[str, int, int], dict[str, Any]]  # (case, client, round) -> body fields
    tokens_made: Callable[[], float]


@dataclass
class Answer:
    latency_s: float
    ttft_s: float | None
    chunks: int  # content pieces received
    usage_tokens: int | None  # completion tokens the server reported, when it did
    finish: str | None
    error: str | None = None


@dataclass
class Point:
    side: str
    case: str
    clients: int
    rounds: int
    wall_s: float
    tokens: float
    answers: list[Answer] = field(default_factory=list)
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def figures(self) -> dict[str, Any]:
        good = [a for a in self.answers if a.error is None]
        latencies = sorted(a.latency_s for a in good)
        ttfts = sorted(a.ttft_s for a in good if a.ttft_s is not None)
        per_answer = [a.usage_tokens if a.usage_tokens is not None else a.chunks for a in good]
        return {
            "tokens_per_s": self.tokens / self.wall_s,
            "tokens": self.tokens,
            "wall_s": round(self.wall_s, 3),
            "requests": len(self.answers),
            "errors": dict(Counter(a.error for a in self.answers if a.error)),
            "finish": dict(Counter(str(a.finish) for a in good)),
            "mean_tokens_per_answer": statistics.fmean(per_answer) if per_answer else None,
            "latency_p50_s": quantile(latencies, 0.5),
            "latency_p95_s": quantile(latencies, 0.95),
            "ttft_p50_s": quantile(ttfts, 0.5),
            "ttft_p95_s": quantile(ttfts, 0.95),
            "load_before": [round(x, 2) for x in self.load_before],
            "load_after": [round(x, 2) for x in self.load_after],
        }


def quantile(ordered: Sequence[float], q: float) -> float | None:
    """The nearest-rank quantile of sorted values (None when there are none)."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# ---------------------------------------------------------------------------------- set-up


def build_vectors(model: str, folder: Path, pairs: int) -> list[BuiltVector]:
    """The four vectors (R-C on ``LAYERS``, the first ``pairs`` build rows of each set), each at
    its 5 % suggested strength (see the module docstring). A vector file already in ``folder``
    (an earlier run's, with ``--work``) is reused. The model is loaded here in the app's format
    (``auto``) only when a vector must be built, and released before the servers start."""
    from steering.evaluation.strengths import suggested_strengths
    from steering.vectors import ControlVector

    loaded = None
    built = []
    for name, negatives in VECTOR_SETS:
        path = folder / f"{name}-{negatives}-{pairs}.safetensors"
        if path.is_file():
            vector = ControlVector.load(path)
            how = "reused"
        else:
            from steering.build import build_vector
            from steering.data.examples import load_examples
            from steering.engine.models import load_model

            loaded = loaded or load_model(model)
            examples = load_examples(EXAMPLES / f"{name}.jsonl")
            rows = [e for e in examples.examples if e.split != "heldout"][:pairs]
            vector = build_vector(
                loaded,
                rows,
                method="mean_diff",
                negatives=negatives,
                layers=list(LAYERS),
                lineage={"dataset_hash": examples.content_hash, "dataset_name": examples.name},
            ).vector
            vector.save(path)
            how = "built"
        strength = suggested_strengths(vector.metadata, LAYERS)[STRENGTH_SHARE]
        built.append(BuiltVector(f"{name} ({negatives} negatives)", path, strength))
        rows_used = vector.metadata.get("build_rows")
        print(f"{how} {path.name}: {rows_used} pairs, strength {strength:g}", flush=True)
    del loaded
    gc.collect()
    return built


def fill_store(data_dir: Path, vectors: list[BuiltVector]) -> tuple[str, str]:
    """Approved submissions of ``vectors`` and two keys: one the clients share, one for
    ``/metrics``. Returns their secrets."""
    from steering.vectors import ControlVector

    with make_store(data_dir) as store:
        for built in vectors:
            lineage = ControlVector.load(built.path).metadata
            built.submission = approved_submission(
                store, built.path.read_bytes(), lineage, built.strength, LAYERS
            )
        _, client_key = store.add_api_key("bench-clients")
        _, reader = store.add_api_key("bench-metrics", metrics=True)
    return client_key, reader


def app_env(clients: int) -> dict[str, str]:
    """Limits high enough that the bench is never refused (dashboard/api/settings.py); the
    batch size stays the app's default."""
    return {
        "STEERING_API_RATE": "1000000",
        "STEERING_API_KEY_CONCURRENCY": str(max(64, clients)),
        "STEERING_API_QUEUE": str(max(256, 4 * clients)),
        "STEERING_API_TIMEOUT_S": str(REQUEST_TIMEOUT_S),
    }


def gguf_path(model: str) -> Path:
    """The GGUF file the app loads for ``model`` (the bundled one for ``default``)."""
    if model == "default":
        from steering.engine.bundled import SMOLLM2

        return SMOLLM2.require_gguf()
    path = Path(model)
    if path.suffix != ".gguf" or not path.is_file():
        raise SystemExit(
            f"--llama-server needs a GGUF model: give --model default or a .gguf file, not {model}"
        )
    return path


def control_vector_args(binary: str, path: Path, strength: float) -> list[str]:
    """``--control-vector-scaled`` as this llama-server build takes it: newer builds take one
    ``FNAME:SCALE`` argument, older ones two (``FNAME SCALE``)."""
    shown = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=60)
    if "FNAME:SCALE" in shown.stdout + shown.stderr:
        return ["--control-vector-scaled", f"{path}:{strength}"]
    return ["--control-vector-scaled", str(path), str(strength)]


def start_llama(
    binary: str, model: Path, folder: Path, name: str, extra: list[str]
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = folder / f"llama-{name}.log"
    command = [binary, "-m", str(model), "-t", str(os.cpu_count()), "-np", str(SLOTS)]
    command += ["--jinja", "-c", str(SLOTS * SLOT_CONTEXT), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--metrics", "--no-webui", *extra]
    process = subprocess.Popen(command, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_ready(process, url + "/health", log, timeout_s=300)
    print(f"llama-server ({name}) ready: {' '.join(command)}", flush=True)
    return process, url


def llama_tokens(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=60).text
    return prometheus_sum(text, "llamacpp:tokens_predicted_total")


# ---------------------------------------------------------------------------------- clients


def body_for(
    target: Target, case: str, client: int, rnd: int, tokens: int, prompt: str, stream: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": target.model,
        "messages": [{"role": "user", "content": prompt}],
        "temperature": 0,
        "max_tokens": tokens,
        "stream": stream,
    }
    if stream and target.side == "llama":
        body["stream_options"] = {"include_usage": True}
    body.update(target.extra(case, client, rnd))
    return body


async def one_request(http: httpx.AsyncClient, target: Target, body: dict[str, Any]) -> Answer:
    started = time.perf_counter()
    ttft: float | None = None
    chunks, usage, finish, done = 0, None, None, False
    try:
        async with http.stream(
            "POST", target.url + "/v1/chat/completions", json=body, headers=target.headers
        ) as answer:
            if answer.status_code != 200:
                await answer.aread()
                return Answer(
                    time.perf_counter() - started,
                    None,
                    0,
                    None,
                    None,
                    f"{answer.status_code} {answer.text[:200]}",
                )
            async for line in answer.aiter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    done = True
                    break
                chunk = json.loads(data)
                if "error" in chunk:
                    return Answer(
                        time.perf_counter() - started,
                        ttft,
                        chunks,
                        None,
                        None,
                        f"stream error {str(chunk['error'])[:200]}",
                    )
                if chunk.get("usage"):
                    usage = chunk["usage"].get("completion_tokens")
                for choice in chunk.get("choices") or []:
                    if (choice.get("delta") or {}).get("content"):
                        chunks += 1
                        if ttft is None:
                            ttft = time.perf_counter() - started
                    finish = choice.get("finish_reason") or finish
    except httpx.HTTPError as error:
        return Answer(
            time.perf_counter() - started, ttft, chunks, None, None, f"{type(error).__name__}"
        )
    latency = time.perf_counter() - started
    return Answer(latency, ttft, chunks, usage, finish, None if done else "no [DONE]")


async def closed_loop(
    target: Target, case: str, clients: int, rounds: int, tokens: int
) -> tuple[list[Answer], float]:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S, limits=limits) as http:

        async def client(c: int) -> list[Answer]:
            answers = []
            for r in range(rounds):
                prompt = PROMPTS[(c * rounds + r) % len(PROMPTS)]
                body = body_for(target, case, c, r, tokens, prompt, stream=True)
                answers.append(await one_request(http, target, body))
            return answers

        started = time.perf_counter()
        results = await asyncio.gather(*(client(c) for c in range(clients)))
        wall = time.perf_counter() - started
    return [a for answers in results for a in answers], wall


def run_point(target: Target, case: str, clients: int, rounds: int, tokens: int) -> Point:
    load_before = os.getloadavg()
    made_before = target.tokens_made()
    answers, wall = asyncio.run(closed_loop(target, case, clients, rounds, tokens))
    made = target.tokens_made() - made_before
    point = Point(
        target.side, case, clients, rounds, wall, made, answers, load_before, os.getloadavg()
    )
    f = point.figures()
    print(
        f"  {target.side:<8}{case:<10}{clients:>3} clients: {f['tokens_per_s']:7.1f} tok/s, "
        f"p50 {f['latency_p50_s']:.2f} s, p95 {f['latency_p95_s']:.2f} s, ttft "
        f"{f['ttft_p50_s']:.2f} s, {f['mean_tokens_per_answer']:.1f} tok/answer, errors "
        f"{f['errors'] or 0}, load {load_before[0]:.1f}",
        flush=True,
    )
    return point


async def warm(target: Target, case: str, tokens: int) -> list[dict[str, Any]]:
    """Every prompt once, all at once, not streamed: warms the server and keeps the answers
    (their texts show what steering changes) and token counts."""
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as http:

        async def ask(i: int, prompt: str) -> dict[str, Any]:
            body = body_for(target, case, i, 0, tokens, prompt, stream=False)
            answer = await http.post(
                target.url + "/v1/chat/completions", json=body, headers=target.headers
            )
            if answer.status_code != 200:
                raise RuntimeError(f"{target.side} {case}: {answer.status_code} {answer.text}")
            data = answer.json()
            return {
                "prompt": prompt,
                "text": data["choices"][0]["message"]["content"],
                "prompt_tokens": data["usage"]["prompt_tokens"],
                "completion_tokens": data["usage"]["completion_tokens"],
            }

        return list(await asyncio.gather(*(ask(i, p) for i, p in enumerate(PROMPTS))))


# ---------------------------------------------------------------------------------- results


def medians(points: list[Point]) -> dict[str, Any]:
    figures = [p.figures() for p in points]
    keys = (
        "tokens_per_s",
        "latency_p50_s",
        "latency_p95_s",
        "ttft_p50_s",
        "mean_tokens_per_answer",
    )
    out: dict[str, Any] = {}
    for key in keys:
        values = [f[key] for f in figures if f[key] is not None]
        out[key] = statistics.median(values) if values else None
    out["errors"] = sum(sum(f["errors"].values()) for f in figures)
    out["reps"] = figures
    return out


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def verdict(name: str, value: float | None) -> str:
    if value is None:
        return "not measured"
    how, goal = GOALS[name]
    met = value >= goal if how == ">=" else value <= goal
    return f"{value:.2f} ({'meets' if met else 'misses'} {how} {goal})"


def figure(summary: dict[str, Any], side: str, case: str, clients: int, key: str) -> float | None:
    found = summary.get(f"{side}/{case}/{clients}")
    return None if found is None else found[key]


# name -> ((side, case, clients, key) of the numerator, the same of the denominator)
RATIOS = {
    "tokens_per_s_8_clients_one_vector": (
        ("project", "one", 8, "tokens_per_s"),
        ("llama", "one", 8, "tokens_per_s"),
    ),
    "tokens_per_s_8_clients_unsteered": (
        ("project", "unsteered", 8, "tokens_per_s"),
        ("llama", "unsteered", 8, "tokens_per_s"),
    ),
    "tokens_per_s_1_client": (
        ("project", "one", 1, "tokens_per_s"),
        ("llama", "one", 1, "tokens_per_s"),
    ),
    "tokens_per_s_1_client_unsteered": (
        ("project", "unsteered", 1, "tokens_per_s"),
        ("llama", "unsteered", 1, "tokens_per_s"),
    ),
    "p95_latency_32_clients": (
        ("project", "one", 32, "latency_p95_s"),
        ("llama", "one", 32, "latency_p95_s"),
    ),
    "p95_latency_32_clients_unsteered": (
        ("project", "unsteered", 32, "latency_p95_s"),
        ("llama", "unsteered", 32, "latency_p95_s"),
    ),
    "four_vs_one_vector_tokens_per_s_8_clients": (
        ("project", "four", 8, "tokens_per_s"),
        ("project", "one", 8, "tokens_per_s"),
    ),
}


def summarise(
    points: dict[tuple[str, str, int], list[Point]],
) -> tuple[dict[str, Any], dict[str, float | None]]:
    """Medians per (side, case, clients) and the ratios the goals are about."""
    summary = {f"{s}/{c}/{n}": medians(ps) for (s, c, n), ps in points.items()}
    ratios = {
        name: ratio(figure(summary, *top), figure(summary, *bottom))
        for name, (top, bottom) in RATIOS.items()
    }
    return summary, ratios


def parse_levels(text: str) -> list[int]:
    try:
        levels = [int(x) for x in text.split(",")]
    except ValueError:
        raise SystemExit(
            f"Client counts must be whole numbers separated by commas, not {text!r}"
        ) from None
    if not levels or min(levels) < 1:
        raise SystemExit(f"Client counts must be at least 1, not {text!r}")
    return levels


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default", help="model spec (default: bundled)")
    parser.add_argument("--llama-server", default=None, help="a llama-server binary to compare")
    parser.add_argument("--clients", default="1,8,32,64", help="concurrent clients, comma list")
    parser.add_argument("--tokens", type=int, default=64, help="new tokens asked per answer")
    parser.add_argument("--rounds", type=int, default=2, help="requests per client")
    parser.add_argument(
        "--large-rounds", type=int, default=1, help="requests per client at 32 clients and more"
    )
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions")
    parser.add_argument(
        "--four-clients", default=None, help="levels of the four-vector case (default: all)"
    )
    parser.add_argument("--pairs", type=int, default=100, help="build rows per vector")
    parser.add_argument(
        "--work", default=None, help="folder for the vectors, reused by later runs (default: temp)"
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "serving.json"))
    args = parser.parse_args()
    levels = parse_levels(args.clients)
    if args.llama_server and not Path(args.llama_server).is_file():
        raise SystemExit(f"--llama-server {args.llama_server}: no such file")

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="serving-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="run-", dir=work))  # a fresh data folder every run
    print(f"data folder {folder}", flush=True)
    vectors = build_vectors(args.model, work, args.pairs)
    client_key, reader = fill_store(folder, vectors)
    started_at = machine()
    processes: dict[str, subprocess.Popen] = {}
    points: dict[tuple[str, str, int], list[Point]] = {}
    memory: dict[str, float | None] = {}
    samples: dict[str, list[dict[str, Any]]] = {}
    model_id, exported = args.model, None

    def save(final: bool) -> None:
        """The JSON so far: written after every point, so that a stopped run keeps them."""
        summary, ratios = summarise(points)
        write_json(
            Path(args.out),
            {
                "model": model_id,
                "gguf": str(gguf_path(args.model)) if args.llama_server else None,
                "llama_server": args.llama_server,
                "llama_server_args": {
                    "threads": os.cpu_count(),
                    "slots": SLOTS,
                    "context": SLOTS * SLOT_CONTEXT,
                },
                "tokens_asked": args.tokens,
                "clients": levels,
                "four_vector_clients": args.four_clients or args.clients,
                "rounds": {"below_32_clients": args.rounds, "from_32_clients": args.large_rounds},
                "reps": args.reps,
                "layers": list(LAYERS),
                "pairs_per_vector": args.pairs,
                "vectors": [
                    {"name": v.name, "strength": v.strength, "submission": v.submission}
                    for v in vectors
                ],
                "exported_vector": str(exported) if exported else None,
                "app_env": app_env(max(levels)),
                "summary": summary,
                "ratios_project_vs_llama": ratios,
                "goals": {
                    k: {"how": h, "goal": g, "verdict": verdict(k, ratios[k])}
                    for k, (h, g) in GOALS.items()
                },
                "peak_rss_mb": memory,
                "complete": final,
                "warm_up_answers": samples,
                "machine_at_start": started_at,
                "machine": machine(),
            },
        )

    try:
        app, url = start_app(folder, args.model, app_env(max(levels)))
        processes["project"] = app
        auth = {"authorization": f"Bearer {client_key}"}
        model_id = httpx.get(url + "/v1/models", headers=auth).json()["data"][0]["id"]
        subs = [v.submission for v in vectors]

        def project_extra(case: str, c: int, r: int) -> dict[str, Any]:
            if case == "one":
                return {"control_vector": {"submission": subs[0]}}
            if case == "four":
                return {"control_vector": {"submission": subs[(c + r) % len(subs)]}}
            return {}

        targets: dict[tuple[str, str], Target] = {}
        project = Target(
            "project",
            url,
            model_id,
            auth,
            project_extra,
            lambda: metric(url, reader, "cvlab_api_generated_tokens_total"),
        )
        for case in CASES:
            targets[("project", case)] = project
        if args.llama_server:
            from steering.export import export_gguf
            from steering.vectors import ControlVector

            first = vectors[0]
            exported = export_gguf(
                ControlVector.load(first.path),
                folder / "vector.gguf",
                layers=list(LAYERS),
                strength=first.strength,
            )
            gguf = gguf_path(args.model)
            for case, extra in (
                ("unsteered", []),
                ("one", control_vector_args(args.llama_server, exported, first.strength)),
            ):
                process, llama_url = start_llama(args.llama_server, gguf, folder, case, extra)
                processes[f"llama-{case}"] = process
                targets[("llama", case)] = Target(
                    "llama",
                    llama_url,
                    "llama",
                    {},
                    lambda *_: {},
                    lambda u=llama_url: llama_tokens(u),  # type: ignore[misc]
                )

        for (side, case), target in targets.items():
            samples[f"{side}/{case}"] = asyncio.run(warm(target, case, args.tokens))
            print(f"warmed {side}/{case}", flush=True)

        order = [
            ("project", "unsteered"),
            ("llama", "unsteered"),
            ("project", "one"),
            ("llama", "one"),
            ("project", "four"),
        ]
        order = [o for o in order if o in targets]
        four_at = levels if args.four_clients is None else parse_levels(args.four_clients)
        # Level by level, its repetitions back to back: a run stopped early has whole levels.
        for clients in levels:
            rounds = args.rounds if clients < 32 else args.large_rounds
            here = [o for o in order if o[1] != "four" or clients in four_at]
            for rep in range(args.reps):
                shift = rep % len(here)
                print(f"{clients} clients x {rounds} requests, rep {rep + 1}", flush=True)
                for side, case in here[shift:] + here[:shift]:
                    point = run_point(targets[(side, case)], case, clients, rounds, args.tokens)
                    points.setdefault((side, case, clients), []).append(point)
                    save(final=False)
        memory = {name: peak_rss_mb(p.pid) for name, p in processes.items()}
    finally:
        for process in processes.values():
            stop(process)

    summary, ratios = summarise(points)
    print(f"\nmodel {model_id}; {args.reps} reps; {args.tokens} tokens asked, greedy, streamed")
    head = f"{'clients':>7} {'case':<10}"
    for side in ("project", "llama"):
        head += f"{side + ' tok/s':>15}{'p50 s':>7}{'p95 s':>7}{'ttft':>6}"
    print(head + f"{'ratio':>7}")
    for clients in levels:
        for case in CASES:
            line = f"{clients:>7} {case:<10}"
            for side in ("project", "llama"):
                found = summary.get(f"{side}/{case}/{clients}")
                if found is None:
                    line += f"{'-':>15}{'-':>7}{'-':>7}{'-':>6}"
                    continue
                line += (
                    f"{found['tokens_per_s']:>15.1f}{found['latency_p50_s']:>7.2f}"
                    f"{found['latency_p95_s']:>7.2f}{found['ttft_p50_s']:>6.2f}"
                )
            r = ratio(
                figure(summary, "project", case, clients, "tokens_per_s"),
                figure(summary, "llama", case, clients, "tokens_per_s"),
            )
            print(line + (f"{r:>7.2f}" if r is not None else f"{'-':>7}"))
    for name in GOALS:
        print(f"{name}: {verdict(name, ratios[name])}")
    print(f"peak memory (MB): {memory}")

    save(final=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
