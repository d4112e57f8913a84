"""Everything the HTTP surface keeps for one app process: settings, store, sessions, throttle."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from storage import NotFoundError, StorageError

from .downloads import DownloadOffers
from .identity import SignedInUser
from .sessions import SessionTable
from .settings import WebSettings
from .throttle import LoginThrottle

log = logging.getLogger(__name__)


def _lookup_user(store: Any, name: str) -> Any:
    """The store's current record of ``name`` (role, active); NotFoundError if there is none."""
    get_user = getattr(store, "get_user", None)
    if get_user is not None:
        return get_user(name)
    # Stores without get_user: the user list is small (people, not records).
    for user in store.list_users():
        if user.name == name:
            return user
    raise NotFoundError(f"There is no user named {name!r}.")


def credential_of(user: Any) -> int | None:
    """The credential version a store reports for ``user`` (None: this store keeps none)."""
    version = getattr(user, "credential_version", None)
    return version if isinstance(version, int) else None


def _credential_changed(seen: int | None, user: Any) -> bool:
    """Whether the password was reset since a sign-in that saw version ``seen``."""
    return seen is not None and credential_of(user) != seen


@dataclass
class WebState:
    """The shared state the gate, the login routes, downloads and tab handlers use."""

    store: Any  # storage.Store (typed loosely: the web layer needs only get_user/check_login)
    settings: WebSettings
    sessions: SessionTable
    throttle: LoginThrottle
    downloads: DownloadOffers
    login_note: str = ""  # shown under the sign-in form (e.g. where demo passwords are)

    def resolve(self, token: str | None, *, touch: bool = True) -> SignedInUser | None:
        """The user of a cookie value if the session is live, the account active and its
        password not reset since the sign-in, else None.

        Ends the session when the account is gone, deactivated or has a new password, so it
        stays ended even if the account is reactivated later (the user signs in again).
        """
        session = self.sessions.lookup(token, touch=touch)
        if session is None:
            return None
        try:
            user = _lookup_user(self.store, session.user)
        except NotFoundError:
            self.sessions.end_sid(session.sid)
            return None
        except StorageError as error:  # e.g. the database is down: nobody gets in meanwhile
            log.warning("session user %r could not be checked: %s", session.user, error)
            return None
        if not user.active or _credential_changed(session.credential, user):
            self.sessions.end_sid(session.sid)
            return None
        return SignedInUser(name=user.name, role=user.role, session_id=session.sid)
