"""storage: persistence for the control-vector lab (results, reviews, a tamper-evident audit trail).

No torch, transformers or gradio here: the store is usable by any front end and testable in
milliseconds. Everything goes through :class:`Store`; every public method returns frozen
dataclasses from :mod:`storage.records` (never live ORM objects) and raises a subclass of
:class:`storage.errors.StorageError` for anything the user can fix, with a message meant to be
shown as is.

Opening
    ``Store.open(url=None, data_dir=None, *, password_hasher=None) -> Store``
        Database: ``url``, else ``$DATABASE_URL``, else SQLite at ``<data_dir>/lab.db``.
        Data folder: ``data_dir``, else ``$STEERING_DATA_DIR``, else ``./data``.
        Migrations (Alembic, in ``storage/migrations``) are applied automatically.
        ``store.close()``, or use it as a context manager.

Actors are user names; ``"system"`` is accepted where noted (CLI, background jobs).

Users (roles: builder, reviewer, admin)
    ``add_user(name, role, password, actor="system") -> User``      admin or system only
    ``set_user_active(name, active, actor) -> User``                   users are never deleted
    ``list_users() -> list[User]``; ``get_user(name) -> User``
    ``check_login(name, password) -> User | None``                     successes and failures audited

Files (content-addressed under ``<data_dir>/files``, verified on read)
    ``save_file(data: bytes, suffix="") -> (sha256, Path)``
    ``read_file(sha256) -> bytes``                                     CorruptFileError if altered

Example sets, vectors, evaluations
    ``add_example_set(name, data, filename, content_hash, row_count, actor) -> ExampleSet``
    ``add_vector(file_bytes, metadata: dict, actor, example_set_id=None,
    suffix=".safetensors") -> Vector``
    ``add_evaluation(vector_id, config: dict, results: dict, actor) -> Evaluation``
    ``get_example_set / list_example_sets / get_vector / list_vectors / read_vector_file /
    get_evaluation / list_evaluations(vector_id=None)``

Review workflow (draft -> submitted -> approved | rejected; approved -> revoked)
    ``create_submission(vector_id, strength, layers, evaluation_id, actor) -> Submission``
    ``update_draft(submission_id, actor, expected_version, *, strength=None, layers=None,
    evaluation_id=None) -> Submission``
    ``submit(submission_id, actor, expected_version) -> Submission``   freezes content, hash audited
    ``review(submission_id, decision, comment, actor, expected_version) -> Submission``
        decision "approve" | "reject"; reviewers/admins only, never the creator; comment required
    ``revoke(submission_id, comment, actor, expected_version) -> Submission``
    ``get_submission(id) -> Submission`` (with its reviews); ``list_submissions(status=None,
    created_by=None)``; ``check_submission(id) -> bool`` (content still matches the frozen hash)
    Pass the ``version`` you displayed as ``expected_version``: if someone acted in between you
    get a ConflictError explaining what happened, and nothing is changed.

Audit trail
    ``record_event(actor, action, object_type, object_id, details=None) -> AuditEvent``
        for actions that change no stored state ("generate", "vector.export", ...)
    ``audit_events(*, actor, action, object_type, object_id, since, until, after_seq, limit,
    newest_first) -> list[AuditEvent]``
    ``verify() -> VerifyResult(ok, count, first_broken_seq, reason, message, head_seq, head_hash)``
        reason: "edited" | "deleted" | "inserted" | "reordered"
    ``export_audit(fmt "csv" | "json", path, actor="system") -> ExportResult``

Command line: ``python -m storage {add-user,users,verify,export-audit,migrate} --help``.
"""

from __future__ import annotations

from .errors import (
    AlreadyExistsError,
    ConflictError,
    CorruptFileError,
    DatabaseUnavailableError,
    NotFoundError,
    PermissionDeniedError,
    StorageError,
    ValidationError,
    WorkflowError,
)
from .records import (
    ROLES,
    SYSTEM_ACTOR,
    AuditEvent,
    Evaluation,
    ExampleSet,
    ExportResult,
    Review,
    Submission,
    User,
    Vector,
    VerifyResult,
)
from .store import Store

__all__ = [
    "ROLES",
    "SYSTEM_ACTOR",
    "AlreadyExistsError",
    "AuditEvent",
    "ConflictError",
    "CorruptFileError",
    "DatabaseUnavailableError",
    "Evaluation",
    "ExampleSet",
    "ExportResult",
    "NotFoundError",
    "PermissionDeniedError",
    "Review",
    "StorageError",
    "Store",
    "Submission",
    "User",
    "ValidationError",
    "Vector",
    "VerifyResult",
    "WorkflowError",
]
