"""Which sign-in each Gradio session hash (and event id) belongs to: the one that used it first.

Gradio routes an event's output, its cancellation and its heartbeat by ``session_hash`` alone,
and ``/gradio_api/call/<name>/<id>`` by event id (falling back to a session hash of that name).
Both are strings a client sends, so the event gate keeps one table of these *handles*: the first
signed-in request naming a handle claims it for its sign-in (session id), and a request from any
other sign-in naming it is refused. Event ids the app hands out are claimed for the sign-in they
were given to. Bounded: past ``capacity`` handles the least recently used are forgotten.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

DEFAULT_CAPACITY = 100_000


class SessionOwners:
    """Handle -> owning sign-in, first use wins; thread-safe."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._owner: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, sid: str, handles: Iterable[str]) -> bool:
        """True, with every unowned handle now ``sid``'s, when none belongs to another sign-in;
        False (and nothing claimed) when one does."""
        wanted = set(handles)
        with self._lock:
            if any(self._owner.get(handle, sid) != sid for handle in wanted):
                return False
            for handle in wanted:
                self._owner[handle] = sid
                self._owner.move_to_end(handle)
            while len(self._owner) > self.capacity:
                self._owner.popitem(last=False)
        return True

    def owner(self, handle: str) -> str | None:
        """The sign-in a handle belongs to, or None when no sign-in has used it."""
        with self._lock:
            return self._owner.get(handle)

    def handles_of(self, sid: str) -> list[str]:
        """Every session hash and event id a sign-in has used (e.g. to close its streams)."""
        with self._lock:
            return [handle for handle, owner in self._owner.items() if owner == sid]
