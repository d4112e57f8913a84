"""The API's own lane: the few threads its blocking work runs on (key checks, the gate on
submissions, usage counters, readiness), apart from the pool the light routes share.

Starlette runs a ``def`` route and ``run_in_threadpool`` on anyio's default thread pool (40
threads), which the session gate, ``/login`` and the download links use for every request. Were
the API's store calls there too, a burst of API traffic meeting a slow store (the usage counters
queue for SQLite's write lock at the end of every answer) could hold all 40 threads, and a
reviewer's sign-in would wait behind it. On this lane at most ``API_THREADS`` threads are the
API's; further calls wait for one of them, never for the light routes' pool. Decoding has a
thread of its own (the model's decoding loop), and a request waits for its tokens on the event
loop, holding no thread at all (:mod:`dashboard.api.waiting`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

# The calls are short store reads and writes and a tokenization: a few threads keep them
# flowing on a small machine without taking its cores from the decoding loop.
API_THREADS = 4
THREAD_PREFIX = "api-lane"


class ApiLane:
    """A small thread pool of the API's own; :meth:`run` awaits a blocking call on it."""

    def __init__(self, threads: int = API_THREADS) -> None:
        self.threads = threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=THREAD_PREFIX)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` on one of the lane's threads, awaited on the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Let the lane's threads end once their calls are done; calls not begun are dropped."""
        self._pool.shutdown(wait=False, cancel_futures=True)
