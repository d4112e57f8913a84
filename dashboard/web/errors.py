"""The errors of the HTTP surface; each message is meant to be shown to the user as is."""

from __future__ import annotations


class WebError(Exception):
    """Something a user or an operator can fix; the message says what to do."""


class SettingsError(WebError):
    """A setting in the environment cannot be used; the message names it and what to write."""


class NotSignedInError(WebError):
    """The request carries no valid session: the user must sign in (again)."""
