"""The Store facade: the one object the dashboard and the CLI talk to.

Every state-changing method runs as one unit of work: open a write transaction, lock the audit
chain head, check permissions and the workflow against *fresh* rows, change them, append the audit
event, commit. The change and its event are therefore both stored or both absent, and concurrent
writers (threads or processes) are serialised on the chain head, so optimistic-lock conflicts are
detected reliably and reported as :class:`ConflictError`.

Every event is signed (``signing.py``; the key is loaded when the store opens) and a signed
checkpoint is appended to the log outside the database after each approve, reject and revoke and
whenever the chain passes a multiple of 100 events (``checkpoints.py``), after the commit, so a
checkpoint never names a head that was rolled back.

Methods return frozen records from ``records.py``; they never leak ORM objects.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import Engine, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from . import (
    api_keys,
    audit,
    chain_signing,
    checkpoints,
    integrity,
    models,
    records,
    signing,
    workflow,
)
from .db import (
    create_store_engine,
    describe_url,
    resolve_data_dir,
    resolve_url,
    translate_db_errors,
    write_engine,
)
from .errors import (
    AlreadyExistsError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from .export import FORMATS, to_csv, to_json
from .files import FileStore, replace_file
from .migrate import upgrade_to_head
from .signing import Signer
from .users import SYSTEM_ACTOR, Passwords, validate_name, validate_password, validate_role
from .vector_file import export_problem

FAILED_LOGIN = "login.failed"
UNKNOWN_USER = "(unknown)"  # the object id of a failed sign-in under a name that does not exist
# Decisions after which a checkpoint is written at once (besides every CHECKPOINT_EVERY events).
_CHECKPOINTED_ACTIONS = frozenset({"submission.approve", "submission.reject", "submission.revoke"})

_ACTION_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_HASH_LIKE_RE = re.compile(r"^[A-Za-z0-9:_-]{1,64}$")


def _json_dict(value: Any, what: str) -> dict[str, Any]:
    """Check ``value`` is a JSON object that survives storage exactly; return a clean copy."""
    if not isinstance(value, dict):
        raise ValidationError(f"The {what} must be a dictionary (a JSON object).")
    try:
        text = audit.canonical_json(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"The {what} cannot be stored as JSON ({exc}). Use numbers, text, lists and "
            "dictionaries with text keys, and null instead of NaN or infinity."
        ) from exc
    return json.loads(text)


def _sha256_json(value: Any) -> str:
    return hashlib.sha256(audit.canonical_json(value).encode("utf-8")).hexdigest()


def _submission(
    row: models.SubmissionRow, reviews: list[models.ReviewRow] | tuple[()] = ()
) -> records.StoredSubmission:
    """The frozen submission with its reviews (in the order they were made)."""
    return records.StoredSubmission.from_row(
        row, reviews=tuple(records.StoredReview.from_row(r) for r in reviews)
    )


class Store:
    """Persistence for users, example sets, vectors, evaluations, submissions and the audit trail."""

    def __init__(
        self,
        engine: Engine,
        data_dir: Path,
        url: str,
        password_hasher: PasswordHasher | None = None,
    ) -> None:
        self.engine = engine
        self._writer = write_engine(engine)
        self.data_dir = data_dir
        self.url = url
        self.files = FileStore(data_dir)
        self._passwords = Passwords(password_hasher)
        self.key_paths = signing.key_paths(data_dir)
        self.checkpoint_path = checkpoints.checkpoint_path(data_dir)
        self._signer_cache: Signer | None = None

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def open(
        cls,
        url: str | None = None,
        data_dir: str | Path | None = None,
        *,
        password_hasher: PasswordHasher | None = None,
        signing: bool = True,
    ) -> Store:
        """Connect (explicit URL > ``DATABASE_URL`` > ``<data_dir>/lab.db``), migrate, load the key.

        ``signing=False`` skips loading the signing key, for those who only read and verify
        (an auditor with the public keyring); the first write then loads it.
        """
        folder = resolve_data_dir(data_dir)
        folder.mkdir(parents=True, exist_ok=True)
        resolved = resolve_url(url, folder)
        engine = create_store_engine(resolved)
        try:
            with translate_db_errors(resolved):
                upgrade_to_head(engine)
            store = cls(engine, folder, resolved, password_hasher)
            if signing:
                store._signer()
        except BaseException:
            engine.dispose()
            raise
        return store

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def backend(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self.engine.dialect.name

    def __repr__(self) -> str:
        return f"Store({describe_url(self.url)!r})"

    # ------------------------------------------------------------------ units of work

    def _signer(self) -> Signer:
        """The signing key, loaded once; created only while the chain is still empty."""
        if self._signer_cache is None:
            with self._read() as s:
                head = audit.read_head(s)
                first = s.execute(
                    select(models.AuditEventRow.sig).order_by(models.AuditEventRow.seq).limit(1)
                ).first()
            if first is not None and first.sig is None:
                raise chain_signing.ChainBrokenError(
                    "This database's audit trail was written before events were signed. Run "
                    "'python -m storage migrate' once: it checks the old chain and signs it."
                )
            self._signer_cache = signing.open_signer(self.key_paths, may_create=head.last_seq == 0)
        return self._signer_cache

    @contextlib.contextmanager
    def _write(self, signer: Signer | None = None) -> Iterator[Session]:
        """One write transaction holding the audit-chain lock; commit, then checkpoint if due."""
        with translate_db_errors(self.url):
            try:
                with Session(self._writer, expire_on_commit=False) as session:
                    with session.begin():
                        start = audit.lock_head(session, signer or self._signer()).last_seq
                        yield session
                    appended = session.info.get(audit.APPENDED_KEY, [])
            except StaleDataError as exc:
                raise ConflictError(
                    "Someone else changed this item at the same moment; your change was not "
                    "saved. Reload it and try again."
                ) from exc
        if appended:
            self._checkpoint_if_due(start, appended, signer or self._signer())

    def _checkpoint_if_due(
        self, start_seq: int, appended: list[tuple[int, str, str]], signer: Signer
    ) -> None:
        seq, head, _ = appended[-1]
        every = checkpoints.CHECKPOINT_EVERY
        decided = any(action in _CHECKPOINTED_ACTIONS for _, _, action in appended)
        if decided or seq // every > start_seq // every:
            checkpoints.append_checkpoint(
                self.checkpoint_path, checkpoints.make_checkpoint(signer, seq, head)
            )

    @contextlib.contextmanager
    def _read(self, *, snapshot: bool = False) -> Iterator[Session]:
        """A read-only transaction; ``snapshot`` makes all its reads see one moment (PG)."""
        engine = self.engine
        if snapshot and self.backend == "postgresql":
            engine = engine.execution_options(isolation_level="REPEATABLE READ")
        with translate_db_errors(self.url):
            with Session(engine, expire_on_commit=False) as session:
                with session.begin():
                    yield session

    @classmethod
    def _actor(
        cls,
        session: Session,
        actor: str,
        *,
        allow_system: bool = False,
        roles: frozenset[str] | None = None,
        doing: str = "do this",
    ) -> models.UserRow | None:
        """The acting user, or None for "system" where ``allow_system`` (the CLI, jobs)."""
        if actor == SYSTEM_ACTOR and allow_system:
            return None
        return cls._user_row(session, actor, roles=roles, doing=doing)

    @staticmethod
    def _user_row(
        session: Session,
        actor: str,
        *,
        roles: frozenset[str] | None = None,
        doing: str = "do this",
    ) -> models.UserRow:
        """The signed-in acting user, checked to exist, be active and hold one of ``roles``."""
        if actor == SYSTEM_ACTOR:
            raise PermissionDeniedError(f"Sign in as a user to {doing}; 'system' cannot.")
        if not isinstance(actor, str) or not actor:
            raise PermissionDeniedError(f"Sign in as a user to {doing}.")
        user = session.execute(select(models.UserRow).where(models.UserRow.name == actor)).scalar()
        if user is None:
            raise PermissionDeniedError(f"Unknown user {actor!r}: sign in as an existing user.")
        if not user.active:
            raise PermissionDeniedError(
                f"The account {actor!r} is deactivated; ask an admin to reactivate it."
            )
        if roles is not None and user.role not in roles:
            allowed = " or ".join(sorted(roles))
            raise PermissionDeniedError(f"{actor} is a {user.role}; only {allowed}s can {doing}.")
        return user

    @staticmethod
    def _get(session: Session, model: type, obj_id: int, label: str) -> Any:
        if isinstance(obj_id, bool) or not isinstance(obj_id, int):
            raise ValidationError(
                f"{label.capitalize()} id must be a whole number, not {obj_id!r}."
            )
        row = session.get(model, obj_id)
        if row is None:
            raise NotFoundError(f"There is no {label} with id {obj_id}.")
        return row

    # ------------------------------------------------------------------ users

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
                if s.execute(select(models.UserRow.id).where(models.UserRow.name == name)).scalar():
                    raise AlreadyExistsError(f"A user named {name!r} already exists.")
                row = models.UserRow(name=name, role=role, password_hash=password_hash, active=True)
                s.add(row)
                s.flush()
                audit.append(s, actor, "user.create", "user", name, {"role": role})
                return records.StoredUser.from_row(row)
        except sa_exc.IntegrityError as exc:  # lost a race with another process adding the name
            raise AlreadyExistsError(f"A user named {name!r} already exists.") from exc

    def set_user_active(self, name: str, active: bool, actor: str) -> records.StoredUser:
        """Deactivate (or reactivate) an account; users are never deleted."""
        with self._write() as s:
            self._actor(
                s, actor, allow_system=True, roles=frozenset({"admin"}), doing="manage users"
            )
            row = s.execute(select(models.UserRow).where(models.UserRow.name == name)).scalar()
            if row is None:
                raise NotFoundError(f"There is no user named {name!r}.")
            if row.active != bool(active):
                row.active = bool(active)
                action = "user.activate" if active else "user.deactivate"
                audit.append(s, actor, action, "user", name, {})
            return records.StoredUser.from_row(row)

    def list_users(self) -> list[records.StoredUser]:
        with self._read() as s:
            rows = s.execute(select(models.UserRow).order_by(models.UserRow.name)).scalars()
            return [records.StoredUser.from_row(r) for r in rows]

    def reset_password(self, name: str, password: str, actor: str) -> records.StoredUser:
        """Set a new password for ``name`` (admins, or the system from the CLI); audited."""
        with self._read() as s:
            row = s.execute(select(models.UserRow).where(models.UserRow.name == name)).scalar()
            if row is None:
                raise NotFoundError(f"There is no user named {name!r}.")
            role = row.role  # roles never change, so the policy read here still holds below
        validate_password(password, role)
        password_hash = self._passwords.hash(password)  # slow: do it outside the lock
        with self._write() as s:
            self._actor(
                s, actor, allow_system=True, roles=frozenset({"admin"}), doing="reset passwords"
            )
            row = s.execute(select(models.UserRow).where(models.UserRow.name == name)).scalar_one()
            row.password_hash = password_hash
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
            row = s.execute(select(models.UserRow).where(models.UserRow.name == name)).scalar()
            stored = row.password_hash if row is not None else None
            active = bool(row and row.active)
        ok = self._passwords.check(stored, password)  # also runs for unknown names
        new_hash = (
            self._passwords.hash(password) if ok and self._passwords.needs_rehash(stored) else None
        )
        extra = {} if client is None else {"client": str(client)[:200]}
        with self._write() as s:
            if ok and active:
                row = s.execute(
                    select(models.UserRow).where(models.UserRow.name == name)
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

    def failed_logins(self, viewer_role: str, limit: int = 200) -> list[records.StoredAuditEvent]:
        """The newest failed sign-ins, for reviewers and admins only (builders are refused)."""
        if not workflow.may_review(viewer_role):
            raise PermissionDeniedError(
                "Only reviewers and admins can see failed sign-ins; ask one of them."
            )
        return self.audit_events(action=FAILED_LOGIN, limit=limit, newest_first=True)

    # ------------------------------------------------------------------ files

    # ------------------------------------------------------------------ example sets

    def add_example_set(
        self,
        name: str,
        data: bytes,
        filename: str,
        content_hash: str,
        row_count: int,
        actor: str,
    ) -> records.StoredExampleSet:
        """Record an uploaded example set; the upload's bytes go to the file store."""
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise ValidationError("Give the example set a name (up to 200 characters).")
        filename = Path(str(filename or "examples")).name[:255]
        if not isinstance(content_hash, str) or not _HASH_LIKE_RE.match(content_hash):
            raise ValidationError("The example set's content hash is missing or malformed.")
        if isinstance(row_count, bool) or not isinstance(row_count, int) or row_count < 0:
            raise ValidationError(f"The row count must be a whole number, not {row_count!r}.")
        suffix = Path(filename).suffix.lower()
        file_sha, _ = self.files.save(data, suffix if len(suffix) <= 17 else "")
        with self._write() as s:
            self._actor(s, actor, doing="upload example sets")
            row = models.ExampleSetRow(
                name=name.strip(),
                filename=filename,
                content_hash=content_hash,
                file_sha256=file_sha,
                row_count=row_count,
                created_by=actor,
            )
            s.add(row)
            s.flush()
            audit.append(
                s,
                actor,
                "example_set.add",
                "example_set",
                row.id,
                {
                    "name": row.name,
                    "filename": filename,
                    "content_hash": content_hash,
                    "file_sha256": file_sha,
                    "row_count": row_count,
                },
            )
            return records.StoredExampleSet.from_row(row)

    def list_example_sets(self) -> list[records.StoredExampleSet]:
        with self._read() as s:
            rows = s.execute(
                select(models.ExampleSetRow).order_by(models.ExampleSetRow.id)
            ).scalars()
            return [records.StoredExampleSet.from_row(r) for r in rows]

    # ------------------------------------------------------------------ vectors

    def add_vector(
        self,
        file_bytes: bytes,
        metadata: dict[str, Any],
        actor: str,
        example_set_id: int | None = None,
        suffix: str = ".safetensors",
    ) -> records.StoredVector:
        """Record a control vector file with its lineage metadata (model, dataset hash, method...)."""
        lineage = _json_dict(metadata, "vector's lineage metadata")
        digest, _ = self.files.save(file_bytes, suffix)
        with self._write() as s:
            self._actor(s, actor, doing="add vectors")
            if example_set_id is not None:
                self._get(s, models.ExampleSetRow, example_set_id, "example set")
            row = models.VectorRow(
                content_hash=digest,
                file_suffix=suffix.lower(),
                lineage=lineage,
                example_set_id=example_set_id,
                created_by=actor,
            )
            s.add(row)
            s.flush()
            details = {
                "content_hash": digest,
                "lineage_hash": _sha256_json(lineage),
                "example_set_id": example_set_id,
            }
            details.update({k: lineage[k] for k in ("model_id", "method") if k in lineage})
            audit.append(s, actor, "vector.add", "vector", row.id, details)
            return records.StoredVector.from_row(row)

    def get_vector(self, vector_id: int) -> records.StoredVector:
        with self._read() as s:
            return records.StoredVector.from_row(
                self._get(s, models.VectorRow, vector_id, "vector")
            )

    def read_vector_file(self, vector_id: int) -> bytes:
        """The vector's file, verified against the hash recorded when it was added."""
        return self.files.read(self.get_vector(vector_id).content_hash)

    # ------------------------------------------------------------------ evaluations

    def add_evaluation(
        self, vector_id: int, config: dict[str, Any], results: dict[str, Any], actor: str
    ) -> records.StoredEvaluation:
        """Record an evaluation run (its configuration and its results) of a vector."""
        config = _json_dict(config, "evaluation configuration")
        results = _json_dict(results, "evaluation results")
        results_hash = _sha256_json({"config": config, "results": results})
        with self._write() as s:
            self._actor(s, actor, doing="record evaluations")
            self._get(s, models.VectorRow, vector_id, "vector")
            row = models.EvaluationRow(
                vector_id=vector_id,
                config=config,
                results=results,
                results_hash=results_hash,
                created_by=actor,
            )
            s.add(row)
            s.flush()
            audit.append(
                s,
                actor,
                "evaluation.add",
                "evaluation",
                row.id,
                {"vector_id": vector_id, "results_hash": results_hash},
            )
            return records.StoredEvaluation.from_row(row)

    def get_evaluation(self, evaluation_id: int) -> records.StoredEvaluation:
        with self._read() as s:
            return records.StoredEvaluation.from_row(
                self._get(s, models.EvaluationRow, evaluation_id, "evaluation")
            )

    # ------------------------------------------------------------------ submissions

    def _check_evaluation(
        self,
        s: Session,
        evaluation_id: int | None,
        vector_id: int,
        strength: float,
        layers: list[int],
    ) -> float:
        """The evaluated strength the draft stands for; refused unless the evaluation tested it."""
        if evaluation_id is None:
            return float(strength)
        ev = self._get(s, models.EvaluationRow, evaluation_id, "evaluation")
        if ev.vector_id != vector_id:
            raise ValidationError(
                f"Evaluation {evaluation_id} was run on vector {ev.vector_id}, not on vector "
                f"{vector_id}; attach an evaluation of this vector."
            )
        return workflow.check_evaluated(strength, layers, evaluation_id, ev.config, ev.results)

    def _check_exportable(self, vector: models.VectorRow) -> None:
        """Refuse a vector whose file could not be exported (unreadable, or inf/NaN values)."""
        problem = export_problem(self.files.read(vector.content_hash))
        if problem is not None:
            raise ValidationError(
                f"Vector {vector.id} cannot be submitted: {problem}, so it could not be "
                "exported after approval. Build the vector again."
            )

    def _load_for_change(
        self, s: Session, submission_id: int, expected_version: int
    ) -> models.SubmissionRow:
        row: models.SubmissionRow = self._get(s, models.SubmissionRow, submission_id, "submission")
        if row.version != expected_version:
            last = s.execute(
                select(models.AuditEventRow)
                .where(
                    models.AuditEventRow.object_type == "submission",
                    models.AuditEventRow.object_id == str(submission_id),
                )
                .order_by(models.AuditEventRow.seq.desc())
                .limit(1)
            ).scalar()
            who = f" by {last.actor}" if last is not None else ""
            raise ConflictError(
                f"Submission {submission_id} was changed{who} after you opened it (it is now "
                f"{row.status}); your action was not applied. Reload it and decide again."
            )
        return row

    def _reviews(self, s: Session, submission_id: int) -> list[models.ReviewRow]:
        stmt = (
            select(models.ReviewRow)
            .where(models.ReviewRow.submission_id == submission_id)
            .order_by(models.ReviewRow.id)
        )
        return list(s.execute(stmt).scalars())

    def create_submission(
        self,
        vector_id: int,
        strength: float,
        layers: list[int] | tuple[int, ...],
        evaluation_id: int | None,
        actor: str,
    ) -> records.StoredSubmission:
        """Start a draft: a vector with the chosen strength, layers and evaluation.

        With an evaluation, the strength and layers must be ones it tested (see
        :func:`workflow.check_evaluated`); strength 0 and non-finite strengths are refused.
        ``submit`` checks again, requires the evaluation and refuses a vector file with
        infinite or NaN values.
        """
        layers = workflow.check_draft_content(strength, layers)
        with self._write() as s:
            self._actor(s, actor, doing="create submissions")
            self._get(s, models.VectorRow, vector_id, "vector")
            strength = self._check_evaluation(s, evaluation_id, vector_id, strength, layers)
            now = datetime.now(UTC)
            row = models.SubmissionRow(
                vector_id=vector_id,
                strength=float(strength),
                layers=layers,
                evaluation_id=evaluation_id,
                status=workflow.DRAFT,
                created_by=actor,
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            s.flush()
            audit.append(
                s,
                actor,
                "submission.create",
                "submission",
                row.id,
                {
                    "vector_id": vector_id,
                    "strength": float(strength),
                    "layers": layers,
                    "evaluation_id": evaluation_id,
                },
            )
            return _submission(row)

    @staticmethod
    def _frozen_content(s: Session, row: models.SubmissionRow) -> dict[str, Any]:
        """What a submission *is*: hashing this at submit time freezes it in the audit trail."""
        # The foreign key guarantees the vector exists, so a missing one is a crash, not a None.
        vector = s.get_one(models.VectorRow, row.vector_id)
        evaluation = s.get(models.EvaluationRow, row.evaluation_id) if row.evaluation_id else None
        return {
            "submission_id": row.id,
            "vector_id": row.vector_id,
            "vector_content_hash": vector.content_hash,
            "vector_lineage_hash": _sha256_json(vector.lineage),
            "strength": row.strength,
            "layers": list(row.layers),
            "evaluation_id": row.evaluation_id,
            "evaluation_results_hash": evaluation.results_hash if evaluation else None,
            "created_by": row.created_by,
        }

    def submit(
        self,
        submission_id: int,
        actor: str,
        expected_version: int,
        reason: str | None = None,
    ) -> records.StoredSubmission:
        """Send a draft for review; its content is frozen and its hash goes into the audit trail.

        A strength the evaluation did not choose, or an evaluation that does not recommend
        deploying (:func:`workflow.against_evidence`), is not refused: the submit event carries
        ``against_evidence`` with the concern and the builder's ``reason``.
        """
        reason = workflow.check_reason(reason)
        with self._write() as s:
            self._actor(s, actor, doing="submit for review")
            row = self._load_for_change(s, submission_id, expected_version)
            workflow.check_transition(submission_id, row.status, workflow.SUBMITTED)
            if row.created_by != actor:
                raise PermissionDeniedError(
                    f"Only {row.created_by}, who created submission {submission_id}, can submit it."
                )
            if row.evaluation_id is None:
                raise ValidationError(
                    f"Submission {submission_id} has no evaluation: reviewers need the evidence. "
                    "Run an evaluation and attach it before submitting."
                )
            # Checked again here: drafts made before this rule, or edited behind the store.
            workflow.check_draft_content(row.strength, list(row.layers))
            self._check_evaluation(
                s, row.evaluation_id, row.vector_id, row.strength, list(row.layers)
            )
            self._check_exportable(s.get_one(models.VectorRow, row.vector_id))
            content = self._frozen_content(s, row)
            content_hash = _sha256_json(content)
            details: dict[str, Any] = {"content_hash": content_hash, "content": content}
            evaluation = s.get_one(models.EvaluationRow, row.evaluation_id)
            concern = workflow.against_evidence(row.strength, evaluation.results)
            if concern is not None:
                flag = workflow.AgainstEvidence(concern, reason)
                details["against_evidence"] = flag.to_dict()
            row.status = workflow.SUBMITTED
            row.content_hash = content_hash
            row.updated_at = datetime.now(UTC)
            s.flush()
            audit.append(s, actor, "submission.submit", "submission", row.id, details)
            return _submission(row, self._reviews(s, row.id))

    def _decide(
        self,
        submission_id: int,
        target: str,
        decision: str,
        comment: str,
        actor: str,
        expected_version: int,
    ) -> records.StoredSubmission:
        comment = workflow.check_comment(comment, decision)
        with self._write() as s:
            user = self._user_row(s, actor, doing=f"{decision} submissions")
            row = self._load_for_change(s, submission_id, expected_version)
            refused = workflow.refusal(
                decision,
                actor=actor,
                role=user.role,
                creator=row.created_by,
                status=row.status,
                submission_id=submission_id,
            )
            if refused is not None:
                raise refused.error(refused)
            if target != workflow.REVOKED and self._frozen_hash(s, row) != row.content_hash:
                raise workflow.WorkflowError(
                    f"Submission {submission_id} no longer matches the content frozen when it was "
                    "submitted; it cannot be reviewed. Report this to an admin."
                )
            previous = row.status
            details: dict[str, Any] = {
                "from": previous,
                "to": target,
                "comment": comment,
                "content_hash": row.content_hash,
            }
            flag = self._against_evidence(s, row.id) if decision == "approve" else None
            if flag is not None:
                # The approval records that the reviewer approved knowing it.
                details["against_evidence"] = flag.to_dict()
            row.status = target
            row.updated_at = datetime.now(UTC)
            s.add(
                models.ReviewRow(
                    submission_id=row.id, decision=decision, comment=comment, reviewer=actor
                )
            )
            s.flush()
            audit.append(s, actor, f"submission.{decision}", "submission", row.id, details)
            return _submission(row, self._reviews(s, row.id))

    @staticmethod
    def _against_evidence(s: Session, submission_id: int) -> workflow.AgainstEvidence | None:
        """The flag its (latest) submit event carries, if the submission went against evidence."""
        event = s.execute(
            select(models.AuditEventRow)
            .where(
                models.AuditEventRow.object_type == "submission",
                models.AuditEventRow.object_id == str(submission_id),
                models.AuditEventRow.action == "submission.submit",
            )
            .order_by(models.AuditEventRow.seq.desc())
            .limit(1)
        ).scalar()
        if event is None:
            return None
        return workflow.AgainstEvidence.from_dict(json.loads(event.details).get("against_evidence"))

    def against_evidence(self, submission_id: int) -> workflow.AgainstEvidence | None:
        """Whether the submission was sent against its evaluation's evidence, and the reason given
        (from its submit event in the audit trail); None when it was not."""
        with self._read() as s:
            self._get(s, models.SubmissionRow, submission_id, "submission")
            return self._against_evidence(s, submission_id)

    def _frozen_hash(self, s: Session, row: models.SubmissionRow) -> str:
        return _sha256_json(self._frozen_content(s, row))

    def review(
        self,
        submission_id: int,
        decision: str,
        comment: str,
        actor: str,
        expected_version: int,
    ) -> records.StoredSubmission:
        """Approve or reject a submitted submission (reviewers/admins, never its creator)."""
        if decision not in workflow.DECISIONS:
            raise ValidationError(f"The decision must be 'approve' or 'reject', not {decision!r}.")
        return self._decide(
            submission_id,
            workflow.DECISIONS[decision],
            decision,
            comment,
            actor,
            expected_version,
        )

    def revoke(
        self, submission_id: int, comment: str, actor: str, expected_version: int
    ) -> records.StoredSubmission:
        """Withdraw an approval (reviewers/admins; a comment is required)."""
        return self._decide(
            submission_id, workflow.REVOKED, "revoke", comment, actor, expected_version
        )

    def get_submission(self, submission_id: int) -> records.StoredSubmission:
        with self._read() as s:
            row = self._get(s, models.SubmissionRow, submission_id, "submission")
            return _submission(row, self._reviews(s, submission_id))

    def list_submissions(
        self, status: str | None = None, created_by: str | None = None
    ) -> list[records.StoredSubmission]:
        if status is not None and status not in workflow.STATUSES:
            raise ValidationError(
                f"Unknown status {status!r}: choose one of {', '.join(workflow.STATUSES)}."
            )
        with self._read() as s:
            stmt = select(models.SubmissionRow).order_by(models.SubmissionRow.id)
            if status is not None:
                stmt = stmt.where(models.SubmissionRow.status == status)
            if created_by is not None:
                stmt = stmt.where(models.SubmissionRow.created_by == created_by)
            rows = list(s.execute(stmt).scalars())
            by_sub: dict[int, list[models.ReviewRow]] = {r.id: [] for r in rows}
            if rows:
                reviews = s.execute(
                    select(models.ReviewRow)
                    .where(models.ReviewRow.submission_id.in_(list(by_sub)))
                    .order_by(models.ReviewRow.id)
                ).scalars()
                for rv in reviews:
                    by_sub[rv.submission_id].append(rv)
            return [_submission(r, by_sub[r.id]) for r in rows]

    def check_submission(self, submission_id: int) -> bool:
        """True if a submitted submission still matches the hash frozen in its submit event."""
        with self._read(snapshot=True) as s:
            row = self._get(s, models.SubmissionRow, submission_id, "submission")
            if row.content_hash is None:
                return True  # a draft is not frozen
            event = s.execute(
                select(models.AuditEventRow)
                .where(
                    models.AuditEventRow.action == "submission.submit",
                    models.AuditEventRow.object_type == "submission",
                    models.AuditEventRow.object_id == str(submission_id),
                )
                .order_by(models.AuditEventRow.seq)
                .limit(1)
            ).scalar()
            if event is None:
                return False
            recorded = json.loads(event.details).get("content_hash")
            return recorded == row.content_hash == self._frozen_hash(s, row)

    # ------------------------------------------------------------------ audit trail

    def record_event(
        self,
        actor: str,
        action: str,
        object_type: str,
        object_id: str | int,
        details: dict[str, Any] | None = None,
    ) -> records.StoredAuditEvent:
        """Audit an action that changes no stored state (e.g. "generate", "vector.export")."""
        if not isinstance(action, str) or not _ACTION_RE.match(action):
            raise ValidationError(
                f"{action!r} is not a valid action name: use lowercase letters, digits and "
                "'.', '_' or '-', e.g. 'generate' or 'vector.export'."
            )
        with self._write() as s:
            self._actor(s, actor, allow_system=True, doing="record actions")
            return records.StoredAuditEvent.from_row(
                audit.append(s, actor, action, object_type, object_id, details)
            )

    def audit_events(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        object_type: str | None = None,
        object_id: str | int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after_seq: int | None = None,
        limit: int | None = None,
        newest_first: bool = False,
        viewer_role: str | None = None,
    ) -> list[records.StoredAuditEvent]:
        """Audit events matching all the given filters, in sequence order.

        Pass the signed-in user's ``viewer_role``: failed sign-ins are left out for builders
        (only reviewers and admins see them). None (the CLI, the system) shows everything.
        """
        M = models.AuditEventRow
        stmt = select(M)
        if viewer_role is not None and not workflow.may_review(viewer_role):
            stmt = stmt.where(M.action != FAILED_LOGIN)
        if actor is not None:
            stmt = stmt.where(M.actor == actor)
        if action is not None:
            stmt = stmt.where(M.action == action)
        if object_type is not None:
            stmt = stmt.where(M.object_type == object_type)
        if object_id is not None:
            stmt = stmt.where(M.object_id == str(object_id))
        # ts is ISO 8601 text in one fixed format, so text order is time order.
        if since is not None:
            stmt = stmt.where(M.ts >= audit.format_ts(since))
        if until is not None:
            stmt = stmt.where(M.ts < audit.format_ts(until))
        if after_seq is not None:
            stmt = stmt.where(M.seq > after_seq)
        stmt = stmt.order_by(M.seq.desc() if newest_first else M.seq)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._read() as s:
            return [records.StoredAuditEvent.from_row(r) for r in s.execute(stmt).scalars()]

    def _keyring(self, public_key: str | Path | None) -> tuple[signing.Keyring | None, str]:
        """The keyring to verify with: ``public_key`` (keyring or PEM), else the one in use."""
        path = Path(public_key).expanduser() if public_key else self.key_paths.keyring
        if public_key is None and not path.exists():
            return None, str(path)  # fine for an empty chain; verify says so otherwise
        return signing.load_keyring(path), str(path)

    def verify(
        self, checkpoints_file: str | Path | None = None, public_key: str | Path | None = None
    ) -> records.VerifyResult:
        """Check hash links, every signature and every checkpoint; see ``records.VerifyResult``.

        ``checkpoints_file``: a checkpoint log (or a copy, e.g. from a report) instead of this
        store's own; ``public_key``: a keyring or PEM public key instead of the one in use.
        Raises SigningKeyError when no usable public key is at hand or it did not sign this chain.
        """
        keyring, where = self._keyring(public_key)
        log = Path(checkpoints_file).expanduser() if checkpoints_file else self.checkpoint_path
        if checkpoints_file is not None and not log.is_file():
            raise ValidationError(f"There is no checkpoint file at {log}.")
        with self._read(snapshot=True) as s:
            return integrity.verify(s, keyring, log, where)

    def checkpoint(self) -> checkpoints.Checkpoint:
        """Sign the current head, append it to the checkpoint log and return it."""
        signer = self._signer()
        with self._read() as s:
            head = audit.read_head(s)
            cp = checkpoints.make_checkpoint(signer, head.last_seq, head.last_hash)
        checkpoints.append_checkpoint(self.checkpoint_path, cp)
        return cp

    def latest_checkpoint(self) -> checkpoints.Checkpoint | None:
        """The newest authentic checkpoint of the log (None when there is none yet)."""
        keyring, _ = self._keyring(None)
        if keyring is None:
            return None
        return checkpoints.latest(self.checkpoint_path, keyring)

    def rotate_key(self, actor: str = SYSTEM_ACTOR) -> tuple[str, str]:
        """Sign from the next event on with a new key; returns (old, new) key fingerprints.

        For a lost or retired key: the old private key is not needed (nor kept); its public key
        stays in the keyring so the events it signed still verify. The rotation is audited with
        both fingerprints, in an event signed by the new key.
        """
        keyring = signing.load_keyring(self.key_paths.keyring)
        old_id = keyring.current.key_id
        new = Signer.generate()
        with self._write(signer=new) as s:
            self._actor(
                s, actor, allow_system=True, roles=frozenset({"admin"}), doing="rotate keys"
            )
            first_seq = audit.read_head(s).last_seq + 1
            signing.install_key(self.key_paths, keyring.with_key(new.public_key, first_seq), new)
            audit.append(
                s, actor, "key.rotate", "audit", "key", {"old_key": old_id, "new_key": new.key_id}
            )
        self._signer_cache = new
        return old_id, new.key_id

    def migrate_chain(self, *, accept_broken: bool = False, actor: str = SYSTEM_ACTOR) -> int:
        """Sign an audit chain written before signing existed; returns how many events were signed.

        A broken old chain raises ChainBrokenError unless ``accept_broken`` (then audited as
        ``chain.accepted_broken``). Refused when the checkpoint log shows this deployment already
        had a signed chain: signatures stripped from it must not be replaced by signing again.
        """
        with self._read() as s:
            todo = chain_signing.unsigned_count(s)
        if todo == 0:
            return 0
        previous = checkpoints.latest(self.checkpoint_path)
        if previous is not None and previous.seq > 0:
            raise chain_signing.ChainBrokenError(
                f"The checkpoint log {self.checkpoint_path} shows this audit trail was already "
                f"signed (up to event {previous.seq}), yet {todo} events are unsigned now: they "
                "were stripped or inserted. Run 'python -m storage verify'; nothing was signed."
            )
        signer = signing.open_signer(self.key_paths, may_create=True)
        with self._write(signer=signer) as s:
            signed = chain_signing.sign_existing(
                s, signer, accept_broken=accept_broken, actor=actor
            )
        self._signer_cache = signer
        self.checkpoint()
        return signed

    def export_audit(
        self, fmt: str, path: str | Path, actor: str = SYSTEM_ACTOR
    ) -> records.ExportResult:
        """Write the audit trail to ``path`` as "csv" or "json"; the export itself is audited.

        A copy is also kept in the file store, and its hash is in the ``audit.export`` event,
        so an auditor can later prove which file was handed over. The latest checkpoint goes
        with it (CSV: a final comment row; JSON: ``checkpoint``), so every copy that leaves the
        machine also carries a signed head to check the database against later.
        """
        if fmt not in FORMATS:
            raise ValidationError(f"Unknown export format {fmt!r}: choose csv or json.")
        target = Path(path).expanduser()
        if target.is_dir():
            raise ValidationError(f"{target} is a folder; give a file name to write to.")
        if not target.parent.is_dir():
            raise ValidationError(f"The folder {target.parent} does not exist; create it first.")
        verified = self.verify()
        with self._read(snapshot=True) as s:
            rows = s.execute(
                select(models.AuditEventRow)
                .where(models.AuditEventRow.seq <= verified.head_seq)
                .order_by(models.AuditEventRow.seq)
            ).scalars()
            events = [records.StoredAuditEvent.from_row(r) for r in rows]
        checkpoint = verified.latest_checkpoint
        if fmt == "csv":
            data = to_csv(events, checkpoint)
        else:
            data = to_json(events, verified, audit.format_ts(datetime.now(UTC)), checkpoint)
        digest, _ = self.files.save(data, f".{fmt}")
        replace_file(target, data, 0o644)
        self.record_event(
            actor,
            "audit.export",
            "audit",
            "chain",
            {
                "format": fmt,
                "count": len(events),
                "last_seq": events[-1].seq if events else 0,
                "sha256": digest,
                "chain_ok": verified.ok,
                "checkpoint_seq": checkpoint.seq if checkpoint else None,
            },
        )
        return records.ExportResult(path=target, format=fmt, count=len(events), sha256=digest)

    # ------------------------------------------------------------------ serving API (api_keys.py)

    def add_api_key(
        self, name: str, submissions: list[int] | None = None, actor: str = SYSTEM_ACTOR
    ) -> tuple[api_keys.StoredApiKey, str]:
        """Create an API key (admins, or the system from the CLI); returns it and its secret,
        which is shown only now (only its hash is stored). Audited as ``api_key.create``."""
        with self._write() as s:
            self._actor(
                s, actor, allow_system=True, roles=frozenset({"admin"}), doing="create API keys"
            )
            return api_keys.add_key(s, name, submissions, actor)

    def revoke_api_key(self, name: str, actor: str = SYSTEM_ACTOR) -> api_keys.StoredApiKey:
        """Revoke an API key for good (admins or the system); audited as ``api_key.revoke``."""
        with self._write() as s:
            self._actor(
                s, actor, allow_system=True, roles=frozenset({"admin"}), doing="revoke API keys"
            )
            return api_keys.revoke_key(s, name, actor)

    def list_api_keys(self) -> list[api_keys.StoredApiKey]:
        with self._read() as s:
            return api_keys.list_keys(s)

    def api_key_for(self, secret: str) -> api_keys.StoredApiKey | None:
        """The active API key whose secret this is, else None."""
        with self._read() as s:
            return api_keys.key_for_secret(s, secret)

    def set_api_switch(self, name: str, enabled: bool, actor: str = SYSTEM_ACTOR) -> bool:
        """Switch ``steering`` or ``sampling`` on or off (admins or the system); audited."""
        with self._write() as s:
            self._actor(
                s, actor, allow_system=True, roles=frozenset({"admin"}), doing="switch the API"
            )
            return api_keys.set_switch(s, name, enabled, actor)

    def api_switch(self, name: str) -> bool:
        with self._read() as s:
            return api_keys.switch(s, name)

    def served_submission(
        self, key: api_keys.StoredApiKey, submission_id: int
    ) -> api_keys.ServedSubmission:
        """What the API may apply for ``key`` and ``submission_id``; see ``api_keys``."""
        with self._read() as s:
            return api_keys.served_submission(s, key, submission_id)

    def record_api_use(
        self,
        key_id: int,
        submission_id: int,
        sample: tuple[list[Any], str] | None = None,
    ) -> None:
        """Count one request; keep ``sample`` (messages, answer) only while sampling is on.

        Not an audit event: counters per (key, submission, hour) keep a busy API from flooding
        the signed chain, so this transaction does not take the chain's lock."""
        with translate_db_errors(self.url):
            with Session(self._writer) as s, s.begin():
                api_keys.count_use(s, key_id, submission_id, datetime.now(UTC))
                if sample is not None and api_keys.switch(s, api_keys.SAMPLING):
                    api_keys.add_sample(s, key_id, submission_id, *sample)

    def api_usage(self) -> list[api_keys.UsageCount]:
        """Every usage counter (key name, submission, UTC hour, count), newest hour first."""
        with self._read() as s:
            return api_keys.usage(s)

    def api_samples(self) -> list[api_keys.ApiSample]:
        with self._read() as s:
            return api_keys.samples(s)
