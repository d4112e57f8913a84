"""Admission with back-pressure: how many requests one key may have in flight, and how many may
wait for a decoding row in all.

A request is admitted, or refused at once: 429 ``too_many_concurrent_requests`` when its key
already has ``per_key`` requests in flight (from admission until the answer is complete, failed
or cancelled), 503 ``server_busy`` when it would have to wait for a row while ``queue`` requests
already wait (over every model's decoding loop). Waiting past that point helps nobody: the
caller learns at once to come back later (``Retry-After``) instead of holding a connection.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable

from steering.engine.serving import DecodingLoop, Ticket
from storage import StoredApiKey

from .protocol import ApiError

RETRY_AFTER_S = 1  # a row frees within a few tokens' time: a second is a fair first wait


class Admission:
    """Counts each key's requests in flight and refuses beyond the limits (see module doc)."""

    def __init__(self, per_key: int, queue: int) -> None:
        self.per_key = per_key
        self.queue = queue
        self._in_flight: dict[int, int] = {}
        self._loops: weakref.WeakSet[DecodingLoop] = weakref.WeakSet()
        self._lock = threading.Lock()

    def in_flight(self, key: StoredApiKey) -> int:
        with self._lock:
            return self._in_flight.get(key.id, 0)

    def waiting(self) -> int:
        """Requests waiting for a row now, over every model's decoding loop seen so far."""
        with self._lock:
            loops = list(self._loops)
        return sum(loop.waiting for loop in loops)

    def admit(self, key: StoredApiKey, loop: DecodingLoop, submit: Callable[[], Ticket]) -> Ticket:
        """``submit()`` the request when the limits allow (under the lock, so two requests
        never both take the last place); the key then holds one more request until
        :meth:`release`. Raises ApiError 429 or 503 otherwise."""
        with self._lock:
            held = self._held(key)
            self._loops.add(loop)
            would_wait = loop.running + loop.waiting >= loop.max_batch
            waiting = sum(other.waiting for other in self._loops)
            if would_wait and waiting >= self.queue:
                raise ApiError(
                    503,
                    f"The server is busy: {waiting} requests are already waiting for a row "
                    "(STEERING_API_QUEUE). Try again shortly.",
                    "server_busy",
                    retry_after=RETRY_AFTER_S,
                )
            ticket = submit()
            self._in_flight[key.id] = held + 1
            return ticket

    def hold(self, key: StoredApiKey) -> None:
        """Take one of the key's places for a request that needs no decoding row (a prompt
        scored, nothing generated); 429 when it has none left. Given back by :meth:`release`."""
        with self._lock:
            self._in_flight[key.id] = self._held(key) + 1

    def _held(self, key: StoredApiKey) -> int:
        """The key's requests in flight (under the lock); 429 when it may start no more."""
        held = self._in_flight.get(key.id, 0)
        if held >= self.per_key:
            raise ApiError(
                429,
                f"Key {key.name!r} already has {held} requests in flight, the most this "
                f"server runs at once for one key (STEERING_API_KEY_CONCURRENCY). Wait for "
                "one to finish.",
                "too_many_concurrent_requests",
                retry_after=RETRY_AFTER_S,
            )
        return held

    def release(self, key: StoredApiKey) -> None:
        """The key's request is over (answered, failed or cancelled)."""
        with self._lock:
            held = self._in_flight.get(key.id, 0) - 1
            if held > 0:
                self._in_flight[key.id] = held
            else:
                self._in_flight.pop(key.id, None)
