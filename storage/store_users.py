"""Users, passwords and sign-in, as part of the ``Store`` facade (see ``store.py``).

Creating, deactivating and reactivating accounts and resetting passwords (admins, or the system
from the CLI), and checking a sign-in. Passwords are hashed before the write lock is taken
(argon2 is slow by design); every success and failure of a sign-in is an audit event. The rules
for names and passwords live in ``users.py``; reading failed sign-ins back is in
``store_audit.py``, beside the other reads of the trail.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc
from sqlalchemy import select

from . import audit, records, signing, tables
from .errors import AlreadyExistsError, NotFoundError
from .store_base import StoreBase
from .users import (
    FAILED_LOGIN,
    SYSTEM_ACTOR,
    UNKNOWN_USER,
    validate_name,
    validate_password,
    validate_role,
)


class UsersMixin(StoreBase):
    """Accounts and sign-in."""

    def add_user(
        self, name: str, role: str, password: str, actor: str = SYSTEM_ACTOR
    ) -> records.StoredUser:
        """Create a user; only an admin (or the system, e.g. the CLI) may."""
        validate_name(name)
        validate_role(role)
        validate_password(password, role)
        password_hash = self._passwords.hash(password)  # slow: do it outside the lock
        try:
            with self._write() as s:
                self._actor(
                    s, actor, allow_system=True, roles=frozenset({"admin"}), doing="add users"
                )
                if s.execute(select(tables.UserRow.id).where(tables.UserRow.name == name)).scalar():
                    raise AlreadyExistsError(f"A user named {name!r} already exists.")
                row = tables.UserRow(name=name, role=role, password_hash=password_hash, active=True)
                details = {"role": role}
                audit.add_with_event(s, row, actor, "user.create", "user", details, object_id=name)
                return records.StoredUser.from_row(row)
        except sa_exc.IntegrityError as exc:  # lost a race with another process adding the name
            raise AlreadyExistsError(f"A user named {name!r} already exists.") from exc

    def set_user_active(self, name: str, active: bool, actor: str) -> records.StoredUser:
        """Deactivate (or reactivate) an account; users are never deleted."""
        with self._write() as s:
            self._actor(
                s, actor, allow_system=True, roles=frozenset({"admin"}), doing="manage users"
            )
            row = s.execute(select(tables.UserRow).where(tables.UserRow.name == name)).scalar()
            if row is None:
                raise NotFoundError(f"There is no user named {name!r}.")
            if row.active != bool(active):
                row.active = bool(active)
                action = "user.activate" if active else "user.deactivate"
                audit.append(s, actor, action, "user", name, {})
            return records.StoredUser.from_row(row)

    def list_users(self) -> list[records.StoredUser]:
        with self._read() as s:
            rows = s.execute(select(tables.UserRow).order_by(tables.UserRow.name)).scalars()
            return [records.StoredUser.from_row(r) for r in rows]

    def get_user(self, name: str) -> records.StoredUser:
        """The account ``name`` as stored now (the web layer reads it on every request)."""
        with self._read() as s:
            row = s.execute(select(tables.UserRow).where(tables.UserRow.name == name)).scalar()
            if row is None:
                raise NotFoundError(f"There is no user named {name!r}.")
            return records.StoredUser.from_row(row)

    def reset_password(self, name: str, password: str, actor: str) -> records.StoredUser:
        """Set a new password for ``name`` (admins, or the system from the CLI); audited."""
        with self._read() as s:
            row = s.execute(select(tables.UserRow).where(tables.UserRow.name == name)).scalar()
            if row is None:
                raise NotFoundError(f"There is no user named {name!r}.")
            role = row.role  # roles never change, so the policy read here still holds below
        validate_password(password, role)
        password_hash = self._passwords.hash(password)  # slow: do it outside the lock
        with self._write() as s:
            self._actor(
                s, actor, allow_system=True, roles=frozenset({"admin"}), doing="reset passwords"
            )
            row = s.execute(select(tables.UserRow).where(tables.UserRow.name == name)).scalar_one()
            row.password_hash = password_hash
            # Sessions begun with the old password end at their next request (see tables.py).
            row.credential_version = row.credential_version + 1
            audit.append(s, actor, "user.password_reset", "user", name, {})
            return records.StoredUser.from_row(row)

    def check_login(
        self, name: str, password: str, client: str | None = None
    ) -> records.StoredUser | None:
        """The user if name and password match an active account, else None. Both are audited.

        A failure is one ``login.failed`` event. For a name that does not exist it records
        "unknown user" and an HMAC of the typed name (secret beside the signing key), never the
        text itself: people type passwords into the name field. ``client`` (e.g. an address)
        is recorded as given. The password policy is not checked here.
        """
        name = name if isinstance(name, str) else ""
        password = password if isinstance(password, str) else ""
        with self._read() as s:
            row = s.execute(select(tables.UserRow).where(tables.UserRow.name == name)).scalar()
            stored = row.password_hash if row is not None else None
            active = bool(row and row.active)
        ok = self._passwords.check(stored, password)  # also runs for unknown names
        new_hash = (
            self._passwords.hash(password)
            if ok and stored is not None and self._passwords.needs_rehash(stored)
            else None
        )
        extra = {} if client is None else {"client": str(client)[:200]}
        with self._write() as s:
            if ok and active:
                row = s.execute(
                    select(tables.UserRow).where(tables.UserRow.name == name)
                ).scalar_one()
                if new_hash is not None:
                    row.password_hash = new_hash
                details = {"rehashed": new_hash is not None, **extra}
                audit.append(s, name, "login", "user", name, details)
                return records.StoredUser.from_row(row)
            if stored is None:
                object_id = UNKNOWN_USER
                details = {
                    "reason": "unknown user",
                    "name_hmac": signing.keyed_hash(signing.login_secret(self.key_paths), name),
                    **extra,
                }
            else:
                object_id = name
                reason = "wrong password" if not ok else "account deactivated"
                details = {"reason": reason, **extra}
            audit.append(s, SYSTEM_ACTOR, FAILED_LOGIN, "user", object_id, details)
            return None
