"""Settings of the HTTP surface, read once from the environment at start-up.

:func:`from_env` parses every variable of the dashboard's web application into one frozen
:class:`WebSettings` (the rules themselves are the engine's :class:`steering.settings.EnvReader`,
so a number means the same everywhere) and reports every bad one at once; :func:`settings` is
the process-wide accessor. Each setting has a safe default; tests shrink the times (idle minutes,
base delay, download lifetime) so they run in seconds, never by sleeping through production values.

Variables: ``STEERING_HOST`` (127.0.0.1), ``STEERING_PORT`` (7860), ``STEERING_MODEL`` (the model
preselected and used, ``default``), ``STEERING_SESSION_IDLE_MIN`` (30),
``STEERING_LOGIN_BASE_DELAY_S`` (1), ``STEERING_TRUSTED_PROXIES`` (none),
``STEERING_MAX_UPLOAD_MB`` (20), ``STEERING_DOWNLOAD_TTL_S`` (300).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from steering.settings import EnvReader, environment

from .errors import SettingsError

HOST = "STEERING_HOST"
PORT = "STEERING_PORT"
MODEL = "STEERING_MODEL"
SESSION_IDLE_MIN = "STEERING_SESSION_IDLE_MIN"
LOGIN_BASE_DELAY_S = "STEERING_LOGIN_BASE_DELAY_S"
TRUSTED_PROXIES = "STEERING_TRUSTED_PROXIES"
MAX_UPLOAD_MB = "STEERING_MAX_UPLOAD_MB"
DOWNLOAD_TTL_S = "STEERING_DOWNLOAD_TTL_S"
# Every variable from_env reads: the cached accessor re-parses only when one of these changes.
VARIABLES = (
    HOST,
    PORT,
    MODEL,
    SESSION_IDLE_MIN,
    LOGIN_BASE_DELAY_S,
    TRUSTED_PROXIES,
    MAX_UPLOAD_MB,
    DOWNLOAD_TTL_S,
)

_MB = 1024 * 1024


@dataclass(frozen=True)
class WebSettings:
    """Where to listen, which model, and the limits and lifetimes of sessions, sign-in
    throttling, uploads and downloads."""

    host: str = "127.0.0.1"
    port: int = 7860
    model: str = "default"
    session_idle_s: float = 30 * 60.0
    login_base_delay_s: float = 1.0
    login_max_delay_s: float = 15 * 60.0
    trusted_proxies: frozenset[str] = field(default_factory=frozenset)
    max_upload_bytes: int = 20 * _MB
    download_ttl_s: float = 5 * 60.0


def _proxies(read: EnvReader) -> frozenset[str]:
    addresses = set()
    for item in (read.text(TRUSTED_PROXIES) or "").replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            addresses.add(str(ipaddress.ip_address(item)))
        except ValueError:
            read.problems.append(
                f"{TRUSTED_PROXIES}: {item!r} is not an IP address; list the proxy "
                "addresses separated by commas, e.g. 127.0.0.1,10.0.0.5."
            )
            return frozenset()
    return frozenset(addresses)


def from_env(env: Mapping[str, str]) -> WebSettings:
    """The web settings from ``env``; raises :class:`SettingsError` naming every bad variable."""
    read = EnvReader(env)
    defaults = WebSettings()
    # Read in the order of VARIABLES, so that problems are listed in that order too.
    built = WebSettings(
        host=read.text(HOST) or defaults.host,
        port=read.whole(PORT, defaults.port, minimum=1, maximum=65535),
        model=read.text(MODEL) or defaults.model,
        session_idle_s=read.number(SESSION_IDLE_MIN, 30.0, unit="minutes", minimum=0.001) * 60.0,
        login_base_delay_s=read.number(
            LOGIN_BASE_DELAY_S, defaults.login_base_delay_s, unit="seconds", minimum=0.0
        ),
        trusted_proxies=_proxies(read),
        max_upload_bytes=int(
            read.number(MAX_UPLOAD_MB, 20.0, unit="megabytes", minimum=0.001) * _MB
        ),
        download_ttl_s=read.number(
            DOWNLOAD_TTL_S, defaults.download_ttl_s, unit="seconds", minimum=0.1
        ),
    )
    if read.problems:
        raise SettingsError(read.problems)
    return built


def settings(env: Mapping[str, str] | None = None) -> WebSettings:
    """The web settings: from ``env`` when given (tests), else from this process's environment,
    parsed once and again only when one of :data:`VARIABLES` changed."""
    if env is not None:
        return from_env(env)
    return _cached(environment(VARIABLES))


@functools.lru_cache(maxsize=8)
def _cached(values: tuple[tuple[str, str], ...]) -> WebSettings:
    return from_env(dict(values))
