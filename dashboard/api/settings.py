"""Settings of the OpenAI-compatible API, read once from the environment at start-up.

``STEERING_API_RATE``: requests per API key per minute (60). ``STEERING_API_MAX_BATCH``: rows one
model's decoding loop runs together (16). ``STEERING_API_MAX_TOKENS``: the most new tokens one
request may ask for (1,024; more is refused, never clamped). ``STEERING_API_TIMEOUT_S``: seconds
from a request's arrival, queue time included, before it is ended with 504 (300).
``STEERING_API_KEY_CONCURRENCY``: requests of one key in flight at once (8; beyond: 429).
``STEERING_API_QUEUE``: requests waiting for a row, over all keys (64; beyond: 503).

The longest prompt is the engine's ``STEERING_MAX_PROMPT_TOKENS``, parsed by
:mod:`steering.settings` only and handed in here, so the API and the engine never disagree on it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from dashboard.web.errors import SettingsError
from steering.settings import (
    DEFAULT_MAX_PROMPT_TOKENS,
    EnvReader,
    SteeringSettings,
    environment,
)
from steering.settings import settings as engine_settings

RATE = "STEERING_API_RATE"
MAX_BATCH = "STEERING_API_MAX_BATCH"
MAX_TOKENS = "STEERING_API_MAX_TOKENS"
TIMEOUT = "STEERING_API_TIMEOUT_S"
KEY_CONCURRENCY = "STEERING_API_KEY_CONCURRENCY"
QUEUE = "STEERING_API_QUEUE"
# Every variable from_env reads: the cached accessor re-parses only when one of these changes.
VARIABLES = (RATE, MAX_BATCH, MAX_TOKENS, TIMEOUT, KEY_CONCURRENCY, QUEUE)


@dataclass(frozen=True)
class ApiSettings:
    """The API's limits: rate, batch rows, answer length, time, concurrency, queue, prompt."""

    rate_per_minute: int = 60
    max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS
    max_batch: int = 16
    max_tokens: int = 1024
    timeout_s: float = 300.0
    key_concurrency: int = 8
    queue: int = 64


def from_env(env: Mapping[str, str], engine: SteeringSettings) -> ApiSettings:
    """The API settings from ``env`` and the engine's settings; raises :class:`SettingsError`
    naming every bad variable of the API's own."""
    read = EnvReader(env)
    defaults = ApiSettings()
    built = ApiSettings(
        rate_per_minute=read.whole(
            RATE, defaults.rate_per_minute, unit="requests per minute", minimum=1
        ),
        max_prompt_tokens=engine.max_prompt_tokens,
        max_batch=read.whole(MAX_BATCH, defaults.max_batch, unit="rows", minimum=1),
        max_tokens=read.whole(MAX_TOKENS, defaults.max_tokens, unit="tokens", minimum=1),
        # At least a tenth of a second: a smaller limit would end every request at once.
        timeout_s=read.number(TIMEOUT, defaults.timeout_s, unit="seconds", minimum=0.1),
        key_concurrency=read.whole(
            KEY_CONCURRENCY, defaults.key_concurrency, unit="requests", minimum=1
        ),
        # 0 is allowed: no waiting at all, a request either gets a row or 503.
        queue=read.whole(QUEUE, defaults.queue, unit="requests", minimum=0),
    )
    if read.problems:
        raise SettingsError(read.problems)
    return built


def settings(
    env: Mapping[str, str] | None = None, engine: SteeringSettings | None = None
) -> ApiSettings:
    """The API settings: from ``env`` when given (tests), else from this process's environment,
    parsed once and again only when a variable changed. ``engine`` defaults to the engine's
    settings from the same source."""
    if engine is None:
        engine = engine_settings(env)
    if env is not None:
        return from_env(env, engine)
    return _cached(environment(VARIABLES), engine)


@functools.lru_cache(maxsize=8)
def _cached(values: tuple[tuple[str, str], ...], engine: SteeringSettings) -> ApiSettings:
    return from_env(dict(values), engine)
