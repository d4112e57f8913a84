"""The dashboard's HTTP surface: sign-in, sessions, the route gate, private downloads, limits.

``create_server(store, blocks)`` (in :mod:`dashboard.web.server`) builds the FastAPI application
that serves a Gradio Blocks behind the project's own ``/login``. Tab handlers call
:func:`dashboard.web.auth.current_user` for identity and :func:`dashboard.web.download_links.offer`
to hand a file to the signed-in user. Settings come from the environment
(:mod:`dashboard.web.settings`).
"""

from __future__ import annotations

from .auth import current_user
from .download_links import offer
from .errors import NotSignedInError
from .identity import SignedInUser
from .settings import WebSettings

__all__ = ["NotSignedInError", "SignedInUser", "WebSettings", "current_user", "offer"]
