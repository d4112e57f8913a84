"""Which files each sign-in received from Gradio's upload route and has not used yet.

The event gate records the paths of every successful ``/gradio_api/upload`` response under the
sign-in (session id) that made it, and an event may name a file only by one of those exact
strings, once: using it in an event takes it out. Nothing else on the disk can be named, whatever
its name, extension or folder, because nothing else is ever recorded. Bounded: past
``capacity`` unused uploads in all, the oldest are forgotten (their owner uploads again).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence

DEFAULT_CAPACITY = 10_000


class UploadLedger:
    """Per sign-in, the uploaded paths not yet named by an event; thread-safe."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._unused: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, sid: str, paths: Iterable[str]) -> None:
        """``sid`` was just given these paths by the upload route."""
        with self._lock:
            for path in paths:
                self._unused[(sid, path)] = None
                self._unused.move_to_end((sid, path))
            while len(self._unused) > self.capacity:
                self._unused.popitem(last=False)

    def take(self, sid: str, paths: Sequence[str | None]) -> bool:
        """Use these paths in one event: True and they are used up when every one is an unused
        upload of ``sid``; otherwise False and nothing changes (``None`` is never an upload)."""
        if any(path is None for path in paths):
            return False
        keys = {(sid, path) for path in paths if path is not None}
        with self._lock:
            if not all(key in self._unused for key in keys):
                return False
            for key in keys:
                del self._unused[key]
        return True

    def give_back(self, sid: str, paths: Iterable[str]) -> None:
        """Undo a :meth:`take` whose event the app then refused before running it."""
        self.record(sid, paths)

    def unused(self, sid: str) -> list[str]:
        """The sign-in's uploads not yet named by an event, oldest first."""
        with self._lock:
            return [path for owner, path in self._unused if owner == sid]

    def forget(self, sid: str) -> None:
        """Drop a sign-in's unused uploads (its session ended)."""
        with self._lock:
            for key in [key for key in self._unused if key[0] == sid]:
                del self._unused[key]
