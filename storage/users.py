"""Users, roles and passwords (argon2id via argon2-cffi).

Passwords are only ever handled as arguments and hashed at once; they are never stored, logged
or put in an audit event. A login for an unknown name still runs one hash verification so that
response time does not reveal which names exist.
"""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .errors import ValidationError
from .workflow import ROLES

# The actor name of the CLI and background jobs; no user may take it.
SYSTEM_ACTOR = "system"
MIN_PASSWORD_LENGTH = 8
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def default_hasher() -> PasswordHasher:
    """argon2id with the library's recommended (RFC 9106 low-memory) parameters."""
    return PasswordHasher()


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValidationError(
            f"{name!r} is not a valid user name: use 1-64 letters, digits, '.', '_', '@' or "
            "'-', starting with a letter or digit."
        )
    if name.lower() == SYSTEM_ACTOR:
        raise ValidationError(f"{name!r} is reserved for the system; choose another name.")
    return name


def validate_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationError(f"Unknown role {role!r}: choose one of {', '.join(ROLES)}.")
    return role


def validate_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            f"The password is too short: use at least {MIN_PASSWORD_LENGTH} characters."
        )
    if password.strip() != password:
        raise ValidationError("The password must not start or end with spaces.")
    return password


class Passwords:
    """Hash and check passwords; keeps one dummy hash for constant-ish time on unknown names."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or default_hasher()
        self._dummy_hash: str | None = None

    @property
    def _dummy(self) -> str:
        # Made on first use: hashing takes a noticeable moment and most processes never need it.
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash("not-a-real-password")
        return self._dummy_hash

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def check(self, stored_hash: str | None, password: str) -> bool:
        try:
            return self.hasher.verify(stored_hash or self._dummy, password) and bool(stored_hash)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self.hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return False
