"""Settings of the OpenAI-compatible API, read once from the environment at start-up.

``STEERING_API_RATE``: requests per API key per minute (60). The longest prompt (and the most
tokens one answer may ask for) is the engine's ``STEERING_MAX_PROMPT_TOKENS``, parsed by
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
# Every variable from_env reads: the cached accessor re-parses only when one of these changes.
VARIABLES = (RATE,)


@dataclass(frozen=True)
class ApiSettings:
    """Requests per key per minute, and the token limit of one prompt and of one answer."""

    rate_per_minute: int = 60
    max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS


def from_env(env: Mapping[str, str], engine: SteeringSettings) -> ApiSettings:
    """The API settings from ``env`` and the engine's settings; raises :class:`SettingsError`
    naming every bad variable of the API's own."""
    read = EnvReader(env)
    built = ApiSettings(
        rate_per_minute=read.whole(
            RATE, ApiSettings.rate_per_minute, unit="requests per minute", minimum=1
        ),
        max_prompt_tokens=engine.max_prompt_tokens,
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
