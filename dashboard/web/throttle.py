"""Sign-in throttling: doubling waits per (name, address) and per name, a cap per address.

The rule (issue 12): per (user name, client address), after 5 failures each further try waits
twice as long as the last, starting at the base delay and capped (15 minutes); per user name
across all addresses the same rule starts only after 50 failures, so a few guesses from one desk
never lock a colleague out; per client address at most 100 failed tries per hour across names.
A try during a wait is refused without checking the password (so a correct password is refused
too) and is not counted as a failure. Each wait is reported once (``Refusal.first``) so the caller
records one ``login.throttled`` audit event per wait, not one per refused try.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

PAIR_FREE_FAILURES = 5
NAME_FREE_FAILURES = 50
ADDRESS_FAILURES_PER_HOUR = 100
HOUR_S = 3600.0
_Key = TypeVar("_Key")
FORGET_AFTER_S = 24 * HOUR_S  # a counter with no failure for a day starts again from zero


@dataclass(frozen=True)
class Refusal:
    """A try refused because of a wait: how long is left, which rule, and whether to audit it."""

    wait_s: float
    scope: str  # "name+address" | "name" | "address"
    first: bool  # the first refused try of this wait: record one login.throttled event

    def message(self) -> str:
        """The wait in plain words, for the sign-in form."""
        who = {
            "name+address": "for this name from your address",
            "name": "for this name",
            "address": "from your address",
        }[self.scope]
        return f"Too many failed sign-ins {who}: wait {describe_wait(self.wait_s)} and try again."


def describe_wait(seconds: float) -> str:
    """``8 seconds``, ``1 second``, ``3 minutes`` (rounded up: never promise too short a wait)."""
    whole = max(1, math.ceil(seconds))
    if whole < 120:
        return f"{whole} second{'s' if whole != 1 else ''}"
    minutes = math.ceil(whole / 60)
    return f"{minutes} minutes"


@dataclass
class _Doubling:
    """Failures of one key; the wait after the free ones doubles with each further failure."""

    failures: int = 0
    last_failure: float = 0.0
    audited_until: float = -1.0

    def until(self, free: int, base_s: float, cap_s: float) -> float:
        if self.failures < free:
            return -math.inf
        delay = min(base_s * 2.0 ** min(self.failures - free, 64), cap_s)
        return self.last_failure + delay


@dataclass
class _Window:
    """Failure times of one address within the last hour."""

    times: deque[float] = field(default_factory=deque)
    audited_until: float = -1.0

    def until(self, now: float) -> float:
        while self.times and now - self.times[0] >= HOUR_S:
            self.times.popleft()
        if len(self.times) < ADDRESS_FAILURES_PER_HOUR:
            return -math.inf
        return self.times[0] + HOUR_S


class LoginThrottle:
    """In-memory throttle state for one app process; thread-safe."""

    def __init__(
        self,
        base_delay_s: float = 1.0,
        max_delay_s: float = 15 * 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self._clock = clock
        self._pairs: dict[tuple[str, str], _Doubling] = {}
        self._names: dict[str, _Doubling] = {}
        self._addresses: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def check(self, name: str, address: str) -> Refusal | None:
        """None if a try may go ahead now; else the longest wait that applies."""
        now = self._clock()
        with self._lock:
            self._forget(now)
            candidates: list[tuple[float, str, _Doubling | _Window]] = []
            pair = self._pairs.get((name, address))
            if pair is not None:
                until = pair.until(PAIR_FREE_FAILURES, self.base_delay_s, self.max_delay_s)
                candidates.append((until, "name+address", pair))
            named = self._names.get(name)
            if named is not None:
                until = named.until(NAME_FREE_FAILURES, self.base_delay_s, self.max_delay_s)
                candidates.append((until, "name", named))
            window = self._addresses.get(address)
            if window is not None:
                candidates.append((window.until(now), "address", window))
            waiting = [c for c in candidates if c[0] > now]
            if not waiting:
                return None
            until, scope, counter = max(waiting, key=lambda c: c[0])
            first = counter.audited_until != until
            counter.audited_until = until
            return Refusal(wait_s=until - now, scope=scope, first=first)

    def failed(self, name: str, address: str) -> None:
        """Count a failed try (wrong password, unknown or deactivated name)."""
        now = self._clock()
        with self._lock:
            for counter in (
                self._pairs.setdefault((name, address), _Doubling()),
                self._names.setdefault(name, _Doubling()),
            ):
                counter.failures += 1
                counter.last_failure = now
            self._addresses.setdefault(address, _Window()).times.append(now)

    def succeeded(self, name: str, address: str) -> None:
        """A correct sign-in clears the name's counters (the address's hourly count stays)."""
        with self._lock:
            self._pairs.pop((name, address), None)
            self._names.pop(name, None)

    def _forget(self, now: float) -> None:
        # Bounded memory: counters idle for a day go (checked on each try; cheap dict scans).
        self._forget_idle(self._pairs, now)
        self._forget_idle(self._names, now)
        gone = [a for a, w in self._addresses.items() if not w.times or now - w.times[-1] > HOUR_S]
        for address in gone:
            del self._addresses[address]

    @staticmethod
    def _forget_idle(table: dict[_Key, _Doubling], now: float) -> None:
        for key in [k for k, c in table.items() if now - c.last_failure > FORGET_AFTER_S]:
            del table[key]
