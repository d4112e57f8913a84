"""The errors of the HTTP surface; each message is meant to be shown to the user as is."""

from __future__ import annotations

from collections.abc import Sequence


class WebError(Exception):
    """Something a user or an operator can fix; the message says what to do."""


class SettingsError(WebError):
    """Settings in the environment cannot be used: ``problems`` has one line for each, naming
    the variable and what it must be."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


class NotSignedInError(WebError):
    """The request carries no valid session: the user must sign in (again)."""
