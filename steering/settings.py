"""The engine's settings, read from the environment in this one module.

Every variable the engine understands is parsed here, by :func:`from_env`, into one frozen
:class:`SteeringSettings`; engine code asks :func:`settings` instead of reading ``os.environ``, so
a rule and its default are written once and a bad value is reported the same way everywhere.
:func:`from_env` reports *every* bad variable at once (:class:`SettingsError` carries one line
per problem), so ``app.py`` and the CLIs can check them all before any work starts.

:class:`EnvReader` holds the parsing rules (a whole number, a number, a flag); the dashboard's
settings modules use it too, so "a whole number of at least 1" means the same for every variable.

Variables: ``STEERING_THREADS`` (torch's CPU threads; unset or 0: every core),
``STEERING_MAX_PROMPT_TOKENS`` (the most tokens one prompt with its answer may have, 2,048),
``STEERING_CACHE_DIR`` (converted and assembled model files; else
``$XDG_CACHE_HOME/control-vector-lab``, else ``~/.cache/control-vector-lab``),
``STEERING_DTYPE`` (the number format models are loaded in: ``auto``, the default, decides by the
hardware, see ``steering.engine.precision``; or ``float32`` or ``bfloat16``) and
``HF_HUB_OFFLINE`` (1/true/yes: never ask the Hugging Face hub).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from steering.errors import SteeringError

THREADS = "STEERING_THREADS"
MAX_PROMPT_TOKENS = "STEERING_MAX_PROMPT_TOKENS"
CACHE_DIR = "STEERING_CACHE_DIR"
DTYPE = "STEERING_DTYPE"
XDG_CACHE_HOME = "XDG_CACHE_HOME"
HUB_OFFLINE = "HF_HUB_OFFLINE"
# Every variable from_env reads: the cached accessor re-parses only when one of these changes.
VARIABLES = (THREADS, MAX_PROMPT_TOKENS, CACHE_DIR, XDG_CACHE_HOME, HUB_OFFLINE, DTYPE)

DEFAULT_MAX_PROMPT_TOKENS = 2_048
# The number formats a model can be loaded in; "auto" lets the hardware decide.
DTYPES = ("auto", "float32", "bfloat16")
_TRUE = ("1", "true", "yes")


class SettingsError(SteeringError):
    """One or more environment variables cannot be used; ``problems`` has one line for each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


class EnvReader:
    """Reads variables from one mapping, noting each problem instead of stopping at the first.

    Each reader method returns the default when the variable is unset, empty or bad, so a caller
    can build its whole settings value and then look at :attr:`problems`.
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def text(self, name: str) -> str | None:
        """The value without surrounding spaces; None when unset or blank."""
        raw = self.env.get(name, "").strip()
        return raw or None

    def path(self, name: str) -> Path | None:
        """A path (``~`` expanded); None when unset or blank."""
        raw = self.text(name)
        return Path(raw).expanduser() if raw is not None else None

    def flag(self, name: str) -> bool:
        """True for 1, true or yes (any case); anything else, or unset, is False."""
        return (self.text(name) or "").lower() in _TRUE

    def choice(self, name: str, default: str, choices: Sequence[str]) -> str:
        """One of ``choices`` (any case, surrounding spaces ignored)."""
        raw = self.text(name)
        if raw is None:
            return default
        if raw.lower() in choices:
            return raw.lower()
        self.problems.append(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
        return default

    def whole(
        self,
        name: str,
        default: int,
        *,
        unit: str = "",
        minimum: int = 0,
        maximum: int | None = None,
    ) -> int:
        """A whole number (digits only) from ``minimum`` to ``maximum``."""
        raw = self.text(name)
        if raw is None:
            return default
        # isascii: str.isdigit alone accepts digits such as '²' that int() refuses.
        if raw.isascii() and raw.isdigit():
            value = int(raw)
            if value >= minimum and (maximum is None or value <= maximum):
                return value
        self.problems.append(
            f"{name} must be a whole number{_of(unit)}{_bounds(minimum, maximum)}, got {raw!r}"
        )
        return default

    def number(self, name: str, default: float, *, unit: str = "", minimum: float) -> float:
        """A finite number of at least ``minimum`` (decimals allowed)."""
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        # NaN fails every comparison, so it is refused along with words and small numbers.
        if value >= minimum and value != float("inf"):
            return value
        self.problems.append(
            f"{name} must be a number{_of(unit)}, at least {minimum:g}, got {raw!r}"
        )
        return default


def _of(unit: str) -> str:
    return f" of {unit}" if unit else ""


def _bounds(minimum: int, maximum: int | None) -> str:
    if maximum is not None:
        return f" from {minimum} to {maximum}"
    return f", at least {minimum}" if minimum > 0 else ""


def environment(names: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """The current values of ``names`` in this process's environment (those that are set).

    A settings module passes this to its cached builder: the tuple is the cache key, so the
    settings are parsed once per distinct environment, and a test's ``monkeypatch.setenv`` is
    seen on the next call.
    """
    return tuple((name, os.environ[name]) for name in names if name in os.environ)


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "control-vector-lab"


@dataclass(frozen=True)
class SteeringSettings:
    """What the engine takes from the environment (see the module docstring)."""

    threads: int = 0  # 0: every core
    max_prompt_tokens: int = DEFAULT_MAX_PROMPT_TOKENS
    cache_dir: Path = field(default_factory=_default_cache_dir)
    hub_offline: bool = False
    dtype: str = "auto"  # one of DTYPES


def from_env(env: Mapping[str, str]) -> SteeringSettings:
    """The engine's settings from ``env``; raises :class:`SettingsError` naming every bad one."""
    read = EnvReader(env)
    xdg = read.path(XDG_CACHE_HOME)
    fallback = xdg / "control-vector-lab" if xdg is not None else _default_cache_dir()
    built = SteeringSettings(
        threads=read.whole(THREADS, 0, unit="threads"),
        max_prompt_tokens=read.whole(
            MAX_PROMPT_TOKENS, DEFAULT_MAX_PROMPT_TOKENS, unit="tokens", minimum=1
        ),
        cache_dir=read.path(CACHE_DIR) or fallback,
        hub_offline=read.flag(HUB_OFFLINE),
        dtype=read.choice(DTYPE, "auto", DTYPES),
    )
    if read.problems:
        raise SettingsError(read.problems)
    return built


def settings(env: Mapping[str, str] | None = None) -> SteeringSettings:
    """The engine's settings: from ``env`` when given (tests), else from this process's
    environment, parsed once and again only when one of :data:`VARIABLES` changed."""
    if env is not None:
        return from_env(env)
    return _cached(environment(VARIABLES))


@functools.lru_cache(maxsize=8)
def _cached(values: tuple[tuple[str, str], ...]) -> SteeringSettings:
    return from_env(dict(values))
