"""Errors a user of the store can cause, each with a message a non-engineer can act on.

The dashboard shows ``str(error)`` as is and the CLI prints it and exits 2, so every message
says what went wrong *and* what to do about it. Engineering failures (bugs, a broken disk)
are not wrapped: they should surface as real tracebacks.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class: anything the person using the store can fix or needs to know."""


class ValidationError(StorageError):
    """An input is malformed (empty name, unknown role, bad layer list...)."""


class NotFoundError(StorageError):
    """The user, vector, submission or file asked for does not exist."""


class AlreadyExistsError(StorageError):
    """A unique thing (a user name) is taken."""


class PermissionDeniedError(StorageError):
    """The actor's role or relation to the object does not allow the action (four eyes, roles)."""


class WorkflowError(StorageError):
    """The review workflow does not allow this transition from the current state."""


class ConflictError(StorageError):
    """Someone else changed the object since it was loaded (optimistic locking lost)."""


class CorruptFileError(StorageError):
    """A stored file no longer matches its content hash: it was altered or damaged on disk."""


class DatabaseUnavailableError(StorageError):
    """The database cannot be reached or opened (wrong URL, server down, locked for too long)."""
