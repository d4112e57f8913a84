"""The ORM tables (SQLAlchemy 2.0 typed mapping): the one definition of each table.

Classes are named ``<Table>Row``; the frozen values the store returns are derived from their
mapped columns in ``records.py`` (named ``Stored<Table>``), so a column is declared here and only
here (plus its Alembic migration: schema changes go through ``migrations/versions``).

Actors are stored by user *name* (unique, never renamed) so that the audit trail and the rows it
describes read the same way; the audit trail itself keeps plain strings (no foreign keys) because it
must also record "system" and failed sign-ins of names that do not exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .coltypes import UTCDateTime, utcnow


class Base(DeclarativeBase):
    pass


NAME_LEN = 64
HASH_LEN = 64
# What an audit event names (a user, a submission id, a model spec): longer ones cannot be recorded.
OBJECT_ID_LEN = 64
OUTCOME_LEN = 32


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Counts password resets: a sign-in session remembers the value it began with and ends when
    # it changes (in any process: the CLI resets passwords too). Not the hash itself, which also
    # changes when a sign-in re-hashes the same password with newer parameters.
    credential_version: Mapped[int] = mapped_column(Integer, default=1)


class ExampleSetRow(Base):
    __tablename__ = "example_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(255))
    content_hash: Mapped[str] = mapped_column(String(HASH_LEN))  # the engine's dataset hash
    file_sha256: Mapped[str] = mapped_column(String(HASH_LEN))  # the stored upload's bytes
    row_count: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(ForeignKey("users.name"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Row numbers of the uploaded file its builder chose to leave out (they had problems), so
    # reading the stored file again gives the same rows; None: nothing was skipped (0007).
    skipped_rows: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)


class VectorRow(Base):
    __tablename__ = "vectors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(HASH_LEN), index=True)
    file_suffix: Mapped[str] = mapped_column(String(32))
    lineage: Mapped[dict[str, Any]] = mapped_column(JSON)
    example_set_id: Mapped[int | None] = mapped_column(ForeignKey("example_sets.id"))
    created_by: Mapped[str] = mapped_column(ForeignKey("users.name"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EvaluationRow(Base):
    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vector_id: Mapped[int] = mapped_column(ForeignKey("vectors.id"), index=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    results: Mapped[dict[str, Any]] = mapped_column(JSON)
    results_hash: Mapped[str] = mapped_column(String(HASH_LEN))
    created_by: Mapped[str] = mapped_column(ForeignKey("users.name"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The engine's Verdict value ("improves", ...), beside the JSON rather than in it: the JSON is
    # covered by results_hash. None only for results that name no outcome (0004 filled old rows).
    outcome: Mapped[str | None] = mapped_column(String(OUTCOME_LEN), nullable=True)


class SubmissionRow(Base):
    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    vector_id: Mapped[int] = mapped_column(ForeignKey("vectors.id"), index=True)
    strength: Mapped[float] = mapped_column(Float)
    layers: Mapped[list[int]] = mapped_column(JSON)
    evaluation_id: Mapped[int | None] = mapped_column(ForeignKey("evaluations.id"))
    status: Mapped[str] = mapped_column(String(16), index=True)
    # Optimistic locking: every UPDATE says "WHERE version = <the one I read>".
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    content_hash: Mapped[str | None] = mapped_column(String(HASH_LEN))  # frozen at submit
    created_by: Mapped[str] = mapped_column(ForeignKey("users.name"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __mapper_args__ = {"version_id_col": version}


class ReviewRow(Base):
    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    decision: Mapped[str] = mapped_column(String(16))  # approve | reject | revoke
    comment: Mapped[str] = mapped_column(Text)
    reviewer: Mapped[str] = mapped_column(ForeignKey("users.name"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEventRow(Base):
    """One link of the hash chain. Columns are plain text so the hash input is byte-stable."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[str] = mapped_column(String(32))  # ISO 8601 UTC, microseconds, "Z"
    actor: Mapped[str] = mapped_column(String(NAME_LEN))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(OBJECT_ID_LEN))
    details: Mapped[str] = mapped_column(Text)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(HASH_LEN))
    hash: Mapped[str] = mapped_column(String(HASH_LEN), unique=True)
    # Ed25519 over the hash (base64), by the key named by key_id; None only before migration.
    sig: Mapped[str | None] = mapped_column(String(88))
    key_id: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        Index("ix_audit_events_actor", "actor"),
        Index("ix_audit_events_action", "action"),
        Index("ix_audit_events_object", "object_type", "object_id"),
    )


class AuditChainHeadRow(Base):
    """A single row (id = 1): the last sequence number and hash.

    Appenders lock this row (PostgreSQL ``SELECT ... FOR UPDATE``; on SQLite the immediate
    transaction already holds the database write lock), which keeps one linear chain across
    processes. It also lets ``verify()`` notice events deleted from the end of the chain.
    """

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(HASH_LEN))


# ---------------------------------------------------------------------- the serving API (0003)


class ApiKeyRow(Base):
    """A caller of the OpenAI-compatible API. Only the SHA-256 of the key is kept (see
    ``api_keys.py``); ``submissions`` limits the key to those ids (None: any approved one)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN), unique=True)
    key_hash: Mapped[str] = mapped_column(String(HASH_LEN), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the key's first characters, to recognise it
    submissions: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(NAME_LEN))  # a user name or "system"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    metrics: Mapped[bool] = mapped_column(Boolean, default=False)  # may also read GET /metrics


class ApiUsageRow(Base):
    """How many requests a key made with a submission (0: unsteered) in one UTC hour.

    One counter per (key, submission, hour) instead of one audit event per request, so heavy
    use does not flood the signed chain."""

    __tablename__ = "api_usage"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    submission_id: Mapped[int] = mapped_column(Integer)  # 0 = unsteered
    hour: Mapped[str] = mapped_column(String(13))  # "YYYY-MM-DDTHH", UTC
    count: Mapped[int] = mapped_column(Integer, default=0)
    # Of those requests' prompts, how many the vector was applied to and how many its gate kept
    # unsteered (a conditional vector); an unconditional vector is applied to every prompt.
    # A completions request with several prompts counts each of them here. 0 when unsteered.
    applied: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    not_applied: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        Index("ux_api_usage_key_sub_hour", "key_id", "submission_id", "hour", unique=True),
    )


class ApiSwitchRow(Base):
    """The API's switches, set by admins and audited: ``steering`` (on unless switched off) and
    ``sampling`` (prompts and answers kept; off unless switched on)."""

    __tablename__ = "api_switches"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    changed_by: Mapped[str] = mapped_column(String(NAME_LEN))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiSampleRow(Base):
    """A prompt and its answer, kept only while an admin has sampling switched on."""

    __tablename__ = "api_samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    submission_id: Mapped[int] = mapped_column(Integer)  # 0 = unsteered
    messages: Mapped[list[Any]] = mapped_column(JSON)
    answer: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# ---------------------------------------------------------------------- heavy jobs (0007)

# A job's states: queued and running are "open"; the others are where it ended.
JOB_STATES = ("queued", "running", "done", "failed", "interrupted")
JOB_KINDS = ("build", "evaluation", "generation")
PHASE_LEN = 200


class JobRow(Base):
    """One heavy job (a build, an evaluation, an answer generation) of one user.

    Not an audit event: jobs are what the page shows of work in progress, updated many times
    while they run, and the work they make (a vector, an evaluation) is audited when stored.
    ``result_id`` names the vector a build made or the evaluation an evaluation made;
    ``seconds_left`` is the time left as of ``updated_at``; ``told`` records that the user's
    page said how an interrupted job ended.
    """

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_by: Mapped[str] = mapped_column(ForeignKey("users.name"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    phase: Mapped[str] = mapped_column(String(PHASE_LEN), default="")
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0 to 1
    seconds_left: Mapped[float | None] = mapped_column(Float, nullable=True)
    estimate_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    result_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    told: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
