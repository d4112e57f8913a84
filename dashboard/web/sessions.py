"""Server-side sign-in sessions: a random cookie value maps to a user name and a last-seen time.

The cookie holds only ``secrets.token_urlsafe(32)``; the table is keyed by its SHA-256, so a
memory dump or a log line with a key in it does not give a usable cookie. One process serves the
app, so an in-memory table is the whole truth: a restart signs everybody out, which is safe.
Each session also keeps the credential version its sign-in checked (the store's count of the
user's password resets): once the store has a newer one the session is over (see ``state.py``).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

COOKIE_NAME = "cvlab_session"


def session_id(token: str) -> str:
    """The key a cookie value is stored under (never the value itself)."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass
class Session:
    """One signed-in browser or client; ``sid`` is the hash of its cookie value."""

    sid: str
    user: str
    created: float
    last_seen: float
    # The user's credential_version when the password was checked; None: not known (stores
    # without versions), never compared.
    credential: int | None = None


class SessionTable:
    """Create, look up (with idle expiry), touch and end sessions; thread-safe."""

    def __init__(self, idle_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_s = idle_s
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, user: str, credential: int | None = None) -> str:
        """Start a session for ``user``, whose password check saw ``credential`` (its version);
        returns the new cookie value (shown once, never stored)."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._prune(now)
            sid = session_id(token)
            self._sessions[sid] = Session(sid, user, now, now, credential)
        return token

    def lookup(self, token: str | None, *, touch: bool = True) -> Session | None:
        """The live session for a cookie value, or None (unknown, ended or idle too long).

        ``touch`` counts the request as activity; Gradio's heartbeat passes False so an open tab
        alone does not keep a session alive.
        """
        if not token:
            return None
        sid = session_id(token)
        now = self._clock()
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                return None
            if now - session.last_seen > self.idle_s:
                del self._sessions[sid]
                return None
            if touch:
                session.last_seen = now
            return session

    def end(self, token: str | None) -> None:
        """Sign out: the cookie value stops working at once."""
        if token:
            with self._lock:
                self._sessions.pop(session_id(token), None)

    def end_sid(self, sid: str) -> None:
        """End a session by its id (e.g. its user was deactivated or their password reset)."""
        with self._lock:
            self._sessions.pop(sid, None)

    def is_live(self, sid: str) -> bool:
        """Whether the session ``sid`` has not been ended (idle time is not checked here)."""
        with self._lock:
            return sid in self._sessions

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def _prune(self, now: float) -> None:
        stale = [sid for sid, s in self._sessions.items() if now - s.last_seen > self.idle_s]
        for sid in stale:
            del self._sessions[sid]
