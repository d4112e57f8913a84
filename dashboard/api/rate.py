"""Per-key rate limit of the API: at most N requests in any 60 seconds (sliding window).

Kept in this process's memory: it limits what one app process serves to a key, which is the unit
the lab runs as (one process, one loaded model). Several processes behind a balancer would each
allow N; the README says so.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW_S = 60.0


class RateLimiter:
    """``allow(key)`` is True for at most ``per_minute`` calls per key in any ``WINDOW_S``."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._seen: dict[int, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: int) -> bool:
        now = self._clock()
        with self._lock:
            times = self._seen.setdefault(key, deque())
            while times and times[0] <= now - WINDOW_S:
                times.popleft()
            if len(times) >= self.per_minute:
                return False
            times.append(now)
            return True

    def retry_after(self, key: int) -> int:
        """Whole seconds until ``key`` may call again (at least 1)."""
        with self._lock:
            times = self._seen.get(key)
            if not times:
                return 1
            return max(1, int(times[0] + WINDOW_S - self._clock()) + 1)
