"""Who a request belongs to, and where the gate leaves that on the request: no dependencies, so
the session table, the gate, the download links and the tabs can all name it without a circle."""

from __future__ import annotations

from dataclasses import dataclass

# Keys in the ASGI scope's per-request state, set by the gate (dashboard.web.gate).
WEB_KEY = "cvlab_web"
USER_KEY = "cvlab_user"


@dataclass(frozen=True)
class SignedInUser:
    """The user behind a request: name and role as the store has them now, and the session id."""

    name: str
    role: str
    session_id: str
