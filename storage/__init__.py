"""storage: persistence for the control-vector lab (results, reviews, a tamper-evident audit trail).

No torch, transformers or gradio here: the store is usable by any front end and testable in
milliseconds. Everything goes through :class:`Store`; every public method returns frozen
dataclasses from :mod:`storage.records` (``Stored<Table>``, derived from the ORM tables
``<Table>Row`` in :mod:`storage.tables`; never live ORM objects) and raises a subclass of
:class:`storage.errors.StorageError` for anything the user can fix, with a message meant to be
shown as is.

Opening
    ``Store.open(url=None, data_dir=None, *, password_hasher=None, signing=True) -> Store``
        Database: ``url``, else ``$DATABASE_URL``, else SQLite at ``<data_dir>/lab.db``.
        Data folder: ``data_dir``, else ``$STEERING_DATA_DIR``, else ``./data``.
        Migrations (Alembic, in ``storage/migrations``) are applied automatically; the audit
        signing key (``$STEERING_AUDIT_KEY_FILE``, else ``<data_dir>/audit-signing.key``) is
        loaded, or created while the chain is empty (``signing=False``: only when writing).
        ``store.close()``, or use it as a context manager.

Actors are user names; ``"system"`` is accepted where noted (CLI, background jobs).

Users (roles: ``workflow.ROLES`` = builder, reviewer, admin)
    ``add_user(name, role, password, actor="system") -> StoredUser``   admin or system only
    ``set_user_active(name, active, actor) -> StoredUser``             users are never deleted
    ``reset_password(name, password, actor) -> StoredUser``             admin or system only;
        adds one to the user's ``credential_version`` (the web sessions begun before it end)
    ``list_users() -> list[StoredUser]``; ``get_user(name) -> StoredUser``  NotFoundError if none
    ``check_login(name, password, client=None) -> StoredUser | None``  successes and failures audited
    ``failed_logins(viewer_role, limit=200) -> list[StoredAuditEvent]`` reviewers/admins only
    New passwords: 8+ characters (12+ for admins), not on the common-password list.

Example sets, vectors, evaluations (files content-addressed under ``<data_dir>/files``)
    ``add_example_set(name, data, filename, content_hash, row_count, actor, skipped_rows=())
    -> StoredExampleSet``  ``skipped_rows``: rows of the file its builder chose to leave out
    ``list_example_sets()``
    ``add_vector(file_bytes, metadata: dict, actor, example_set_id=None,
    suffix=".safetensors") -> StoredVector``; ``get_vector(id)``;
    ``list_vectors(created_by=None) -> list[StoredVector]``             newest first
    ``read_vector_file(id) -> bytes``                                  CorruptFileError if altered
    ``add_evaluation(vector_id, config: dict, results: dict, actor) -> StoredEvaluation``;
    ``get_evaluation(id)``; ``list_evaluations(created_by=None) -> list[StoredEvaluation]``
        newest first, like ``list_vectors``

Review workflow (draft -> submitted -> approved | rejected; approved -> revoked)
    Who may do what is answered by :mod:`storage.workflow` (``may_review``, ``refusal``,
    ``available_actions``), which these methods enforce and the dashboard asks.
    ``create_submission(vector_id, strength, layers, evaluation_id, actor) -> StoredSubmission``
    ``submit(submission_id, actor, expected_version)``                 freezes content, hash audited
    ``review(submission_id, decision, comment, actor, expected_version) -> StoredSubmission``
        decision "approve" | "reject"; reviewers/admins only, never the creator; comment required
    ``revoke(submission_id, comment, actor, expected_version) -> StoredSubmission``
    ``get_submission(id)`` (with its reviews); ``list_submissions(status=None,
    created_by=None)``; ``check_submission(id) -> bool`` (content still matches the frozen hash)
    Pass the ``version`` you displayed as ``expected_version``: if someone acted in between you
    get a ConflictError explaining what happened, and nothing is changed.

Audit trail
    ``record_event(actor, action, object_type, object_id, details=None) -> StoredAuditEvent``
        for actions that change no stored state ("generate", "vector.export", ...);
        ``object_id`` has at most ``OBJECT_ID_LEN`` (64) characters
    ``audit_events(*, actor, action, object_type, object_id, since, until, after_seq, limit,
    newest_first, viewer_role=None) -> list[StoredAuditEvent]``   builders never see failed sign-ins
    ``verify(checkpoints_file=None, public_key=None, witness_file=None) -> VerifyResult(ok,
    count, first_broken_seq, reason, message, head_seq, head_hash, signed_at_write,
    signed_at_migration, checkpoints, latest_checkpoint)``
        reason: "edited" | "deleted" | "inserted" | "reordered" | "truncated" | "bad-signature"
        | "checkpoint-missing" | "checkpoint-unlinked" (the log or witness lost lines, or they
        do not link) | "record-mismatch" (a row differs from what the chain says about it)
    ``checkpoint() -> Checkpoint``; ``latest_checkpoint() -> Checkpoint | None``
    ``rotate_key(actor="system") -> (old_key_id, new_key_id)``
    ``migrate_chain(accept_broken=False, actor="system") -> int``      sign a pre-signing chain
    ``export_audit(fmt "csv" | "json", path, actor="system") -> ExportResult``  carries the checkpoint

Serving API (:mod:`storage.api_keys`; admins, or ``"system"`` from the CLI)
    ``add_api_key(name, submissions=None, actor) -> (StoredApiKey, secret)``  secret shown once,
        only its SHA-256 stored; ``revoke_api_key(name, actor)``; ``list_api_keys()``;
        ``api_key_for(secret) -> StoredApiKey | None``
    ``served_submission(key, submission_id) -> ServedSubmission``   the gate: approved only, the
        key's limits, steering switched on (PermissionDeniedError / SteeringOffError otherwise);
        "approved" means the signed audit trail approved exactly the row (RecordMismatchError,
        a PermissionDeniedError, otherwise); ``confirm_approved(submission)`` the same for a
        download
    ``set_api_switch("steering" | "sampling", enabled, actor)``; ``api_switch(name)``   audited
    ``record_api_use(key_id, submission_id, sample=None, *, applied=0, not_applied=0)``   per
        (key, submission, hour) counter of requests and of the prompts the vector was applied to
        or not (its gate), not an audit event; ``api_usage() -> list[UsageCount]``;
        ``api_samples()``

Heavy jobs (:mod:`storage.store_jobs`; not audit events: what they make is)
    ``start_job(user, kind, estimate_s=None) -> StoredJob``   kind build | evaluation |
        generation; state queued | running | done | failed | interrupted
    ``update_job(job_id, phase=, progress=, seconds_left=None, estimate_s=None) -> bool``
    ``finish_job(job_id, "done" | "failed", result_id=None, error=None) -> StoredJob``
    ``interrupt_open_jobs() -> list[StoredJob]``   at start-up: jobs a stopped process left open
    ``mark_job_told(job_id)``; ``get_job(id)``; ``latest_job(user, kinds=None)``;
    ``list_jobs(created_by=None, kinds=None)``   newest first

Command line: ``python -m storage {add-user,users,deactivate-user,reactivate-user,reset-password,
verify,checkpoint,rotate-key,export-audit,migrate,add-api-key,revoke-api-key,api-keys,
steering-off,steering-on,api-sampling} --help``.
"""

from __future__ import annotations

from .api_keys import ApiSample, ServedSubmission, SteeringOffError, StoredApiKey, UsageCount
from .chain_signing import ChainBrokenError
from .checkpoints import Checkpoint
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
    ExportResult,
    StoredAuditEvent,
    StoredEvaluation,
    StoredExampleSet,
    StoredJob,
    StoredReview,
    StoredSubmission,
    StoredUser,
    StoredVector,
    VerifyResult,
)
from .signed_state import RecordMismatchError
from .signing import SigningKeyError
from .store import Store
from .tables import OBJECT_ID_LEN
from .users import SYSTEM_ACTOR
from .workflow import ROLES

__all__ = [
    "OBJECT_ID_LEN",
    "ROLES",
    "SYSTEM_ACTOR",
    "AlreadyExistsError",
    "ApiSample",
    "ChainBrokenError",
    "Checkpoint",
    "ConflictError",
    "CorruptFileError",
    "DatabaseUnavailableError",
    "ExportResult",
    "NotFoundError",
    "PermissionDeniedError",
    "RecordMismatchError",
    "ServedSubmission",
    "SigningKeyError",
    "SteeringOffError",
    "StorageError",
    "Store",
    "StoredApiKey",
    "StoredAuditEvent",
    "StoredEvaluation",
    "StoredExampleSet",
    "StoredJob",
    "StoredReview",
    "StoredSubmission",
    "StoredUser",
    "StoredVector",
    "UsageCount",
    "ValidationError",
    "VerifyResult",
    "WorkflowError",
]
