"""The API's Prometheus metrics (``GET /metrics``), kept in a registry of this service's own.

Not the process-wide default registry: two services in one process (the tests start several)
would otherwise add to each other's counters, and nothing else the process imports can add
series here. What is counted, and when:

- ``cvlab_api_requests_total{model, status}``: every ``POST /v1/chat/completions`` once it is
  over, by the HTTP status it ended with (a refusal's 4xx/5xx; 200; for a stream that ended with
  an error event, that event's status; 499 when the caller left first). ``model`` is the model's
  name when this server lists it, else ``unknown``: a caller cannot mint new series by naming
  models that do not exist.
- ``cvlab_api_generated_tokens_total{model}``: the tokens the decoding loop made for requests,
  counted when each request is over (a cut request counts what it got).
- ``cvlab_api_rows_total{model, steered}``: requests admitted to a decoding loop.
- ``cvlab_api_steered_prompts_total{model, applied}``: the prompts of answered steered requests,
  by whether the vector was applied (``false``: a conditional vector's gate kept the prompt
  unsteered; an unconditional vector is always applied), counted with the usage counters.
- ``cvlab_api_queue_depth``: requests waiting for a row now, read at each scrape.
- ``cvlab_api_batch_rows``: rows in each decoding step (a histogram; its count is the steps).
- ``cvlab_api_time_to_first_token_seconds``: from a request's arrival to its first token.
- ``cvlab_api_request_seconds``: from a request's arrival until it is over, refusals included.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

__all__ = ["CONTENT_TYPE", "UNKNOWN_MODEL", "ApiMetrics"]

# The classic text format (what generate_latest writes), which every Prometheus version reads.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
UNKNOWN_MODEL = "unknown"
# Rows per step: up to STEERING_API_MAX_BATCH (16 by default), more when it is raised.
BATCH_BUCKETS = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64)
# Seconds: a token comes in tens of milliseconds, an answer may take the 300 s time limit.
SECONDS_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class ApiMetrics:
    """The API's counters, gauge and histograms; ``queue_depth`` is read at every scrape."""

    def __init__(self, queue_depth: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "cvlab_api_requests",
            "Chat completion requests that are over, by model and HTTP status.",
            ["model", "status"],
            registry=registry,
        )
        self.generated_tokens = Counter(
            "cvlab_api_generated_tokens",
            "Tokens generated for API requests, by model.",
            ["model"],
            registry=registry,
        )
        self.rows = Counter(
            "cvlab_api_rows",
            "Requests admitted to a decoding loop, by model and whether a vector steers them.",
            ["model", "steered"],
            registry=registry,
        )
        self.steered_prompts = Counter(
            "cvlab_api_steered_prompts",
            "Prompts of answered steered requests, by model and whether the vector was applied.",
            ["model", "applied"],
            registry=registry,
        )
        self.queue_depth = Gauge(
            "cvlab_api_queue_depth", "Requests waiting for a decoding row now.", registry=registry
        )
        self.queue_depth.set_function(queue_depth)
        self.batch_rows = Histogram(
            "cvlab_api_batch_rows",
            "Rows decoded together in each decoding step.",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.time_to_first_token = Histogram(
            "cvlab_api_time_to_first_token_seconds",
            "Seconds from a request's arrival to its first generated token.",
            buckets=SECONDS_BUCKETS,
            registry=registry,
        )
        self.request_seconds = Histogram(
            "cvlab_api_request_seconds",
            "Seconds from a request's arrival until it is over (answered, refused or cut).",
            buckets=SECONDS_BUCKETS,
            registry=registry,
        )

    def request_over(self, model: str, status: int, seconds: float, tokens: int = 0) -> None:
        """One chat request is over: its status, its duration, the tokens made for it."""
        self.requests.labels(model=model, status=str(status)).inc()
        self.request_seconds.observe(max(seconds, 0.0))
        if tokens:
            self.generated_tokens.labels(model=model).inc(tokens)

    def admitted(self, model: str, steered: bool) -> None:
        self.rows.labels(model=model, steered="true" if steered else "false").inc()

    def applied(self, model: str, applied: int, not_applied: int) -> None:
        """A steered request was answered: its prompts the vector was applied to, and not."""
        for label, count in (("true", applied), ("false", not_applied)):
            if count:
                self.steered_prompts.labels(model=model, applied=label).inc(count)

    def first_token(self, seconds: float) -> None:
        self.time_to_first_token.observe(max(seconds, 0.0))

    def step(self, rows: int) -> None:
        """One decoding step of ``rows`` rows (called on the decoding loop's thread)."""
        self.batch_rows.observe(rows)

    def exposition(self) -> bytes:
        """Every metric in Prometheus's text format."""
        return generate_latest(self.registry)
