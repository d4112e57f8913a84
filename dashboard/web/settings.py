"""Settings of the HTTP surface, read once from the environment at start-up.

Each has a safe default; tests shrink the times (idle minutes, base delay, download lifetime) so
they run in seconds, never by sleeping through production values.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import SettingsError


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(
            f"{name}={raw!r} is not a number; write e.g. {name}={default:g}."
        ) from None
    if not value >= minimum or value == float("inf"):
        raise SettingsError(f"{name}={raw!r} must be a number of at least {minimum:g}.")
    return value


def _proxies(env: Mapping[str, str]) -> frozenset[str]:
    raw = env.get("STEERING_TRUSTED_PROXIES", "")
    addresses = set()
    for item in raw.replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            addresses.add(str(ipaddress.ip_address(item)))
        except ValueError:
            raise SettingsError(
                f"STEERING_TRUSTED_PROXIES: {item!r} is not an IP address; list the proxy "
                "addresses separated by commas, e.g. 127.0.0.1,10.0.0.5."
            ) from None
    return frozenset(addresses)


@dataclass(frozen=True)
class WebSettings:
    """Limits and lifetimes of sessions, sign-in throttling, uploads and downloads."""

    session_idle_s: float = 30 * 60.0
    login_base_delay_s: float = 1.0
    login_max_delay_s: float = 15 * 60.0
    trusted_proxies: frozenset[str] = field(default_factory=frozenset)
    max_upload_bytes: int = 20 * 1024 * 1024
    download_ttl_s: float = 5 * 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WebSettings:
        """``STEERING_SESSION_IDLE_MIN`` (30), ``STEERING_LOGIN_BASE_DELAY_S`` (1),
        ``STEERING_TRUSTED_PROXIES`` (none), ``STEERING_MAX_UPLOAD_MB`` (20),
        ``STEERING_DOWNLOAD_TTL_S`` (300)."""
        env = os.environ if env is None else env
        idle_min = _number(env, "STEERING_SESSION_IDLE_MIN", 30.0, minimum=0.001)
        upload_mb = _number(env, "STEERING_MAX_UPLOAD_MB", 20.0, minimum=0.001)
        return cls(
            session_idle_s=idle_min * 60.0,
            login_base_delay_s=_number(env, "STEERING_LOGIN_BASE_DELAY_S", 1.0, minimum=0.0),
            trusted_proxies=_proxies(env),
            max_upload_bytes=int(upload_mb * 1024 * 1024),
            download_ttl_s=_number(env, "STEERING_DOWNLOAD_TTL_S", 300.0, minimum=0.1),
        )
