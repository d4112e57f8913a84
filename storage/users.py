"""Users and passwords (argon2id via argon2-cffi); role names live in ``workflow.ROLES``.

Passwords are only ever handled as arguments and hashed at once; they are never stored, logged
or put in an audit event. A login for an unknown name still runs one hash verification so that
response time does not reveal which names exist.

Password policy (NIST SP 800-63B): at least 8 characters, 12 for admins; refused when the whole
password matches, case-insensitively, an entry of the shipped list of common passwords
(``assets/common-passwords.txt``); no composition rules. It applies when a password is *set*;
sign-in never checks it, so nobody is locked out by a policy change.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .errors import ValidationError
from .workflow import ROLES

# The actor name of the CLI and background jobs; no user may take it.
SYSTEM_ACTOR = "system"
# The audit action of a failed sign-in, and its object id when the typed name does not exist.
FAILED_LOGIN = "login.failed"
UNKNOWN_USER = "(unknown)"
MIN_PASSWORD_LENGTH = 8
MIN_ADMIN_PASSWORD_LENGTH = 12
COMMON_PASSWORDS_FILE = Path(__file__).resolve().parents[1] / "assets" / "common-passwords.txt"
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


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list, lower-cased (read once per process)."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(
        line.strip().lower() for line in lines if line.strip() and not line.startswith("#")
    )


def validate_password(password: str, role: str) -> str:
    """Check a password being set for a user of ``role``; never used at sign-in."""
    admin = role == "admin"
    minimum = MIN_ADMIN_PASSWORD_LENGTH if admin else MIN_PASSWORD_LENGTH
    if not isinstance(password, str) or len(password) < minimum:
        who = " for an admin" if admin else ""
        raise ValidationError(f"The password is too short: use at least {minimum} characters{who}.")
    if password.strip() != password:
        raise ValidationError("The password must not start or end with spaces.")
    if password.lower() in common_passwords():
        raise ValidationError(
            "This password is on the list of common passwords that attackers try first; "
            "choose another (a few unrelated words make a long, memorable one)."
        )
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
