"""Frozen values returned by the store, derived from the ORM tables in ``tables.py``.

Public methods never hand out live ORM objects: a caller (a Gradio handler, a CLI) holds these
after the session is gone, so there are no detached-instance surprises and nobody can change a
row by mutating an attribute. Each record type lists its table's mapped columns (same names and
types; a test checks they match) and is filled by one generic conversion; only the exceptions are
said per record: what must never leave the store (the password hash), columns stored
in an encoded form (an audit event's text timestamp and JSON details), and what a caller gets
alongside a row (a submission's reviews). JSON columns are copied, lists become tuples.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Self

from sqlalchemy import JSON, inspect

from . import tables
from .canonical import parse_ts
from .checkpoints import Checkpoint

_Convert = Callable[[Any], Any]


def _copy_json(value: Any) -> Any:
    """A deep copy (lists as tuples at the top) so a caller's edits never reach the session."""
    return tuple(copy.deepcopy(value)) if isinstance(value, list) else copy.deepcopy(value)


def _converters(
    table: type[tables.Base], hide: frozenset[str], decode: dict[str, _Convert]
) -> dict[str, _Convert | None]:
    """Column -> conversion (None: as stored) for every mapped column of ``table`` not hidden."""
    out: dict[str, _Convert | None] = {}
    for attr in inspect(table).column_attrs:
        if attr.key in hide:
            continue
        if attr.key in decode:
            out[attr.key] = decode[attr.key]
        elif isinstance(attr.columns[0].type, JSON):
            out[attr.key] = _copy_json
        else:
            out[attr.key] = None
    return out


class RowRecord:
    """The one generic conversion from a row: each record names its table, what it hides and
    what it decodes; every other mapped column is copied under the same name.

    The fields are written out (so type checkers and readers see them); a test checks that they
    are exactly the table's columns, so a new column cannot be forgotten.
    """

    TABLE: ClassVar[type[tables.Base]]
    HIDE: ClassVar[frozenset[str]] = frozenset()
    DECODE: ClassVar[dict[str, _Convert]] = {}

    @classmethod
    def from_row(cls, row: tables.Base, **more: Any) -> Self:
        values = {
            key: getattr(row, key) if convert is None else convert(getattr(row, key))
            for key, convert in _converters(cls.TABLE, cls.HIDE, cls.DECODE).items()
        }
        return cls(**values, **more)


@dataclasses.dataclass(frozen=True)
class StoredUser(RowRecord):
    """A user account (the password hash never leaves the store)."""

    TABLE = tables.UserRow
    HIDE = frozenset({"password_hash"})

    id: int
    name: str
    role: str
    active: bool
    created_at: datetime
    credential_version: int  # one more at each password reset: sessions of older ones end


@dataclasses.dataclass(frozen=True)
class StoredExampleSet(RowRecord):
    """An uploaded example set (the file's metadata)."""

    TABLE = tables.ExampleSetRow

    id: int
    name: str
    filename: str
    content_hash: str
    file_sha256: str
    row_count: int
    created_by: str
    created_at: datetime
    skipped_rows: tuple[int, ...] | None  # rows of the file left out (they had problems)


@dataclasses.dataclass(frozen=True)
class StoredVector(RowRecord):
    """A stored control vector and its lineage."""

    TABLE = tables.VectorRow

    id: int
    content_hash: str
    file_suffix: str
    lineage: dict[str, Any]
    example_set_id: int | None
    created_by: str
    created_at: datetime


@dataclasses.dataclass(frozen=True)
class StoredEvaluation(RowRecord):
    """An evaluation run: its config and results as the engine's ``to_dict()`` JSON, and the
    outcome it concluded (the engine's ``Verdict`` value), kept beside the JSON so that
    evaluations stored before the JSON named it have one too (None: the results name none)."""

    TABLE = tables.EvaluationRow

    id: int
    vector_id: int
    config: dict[str, Any]
    results: dict[str, Any]
    results_hash: str
    created_by: str
    created_at: datetime
    outcome: str | None


@dataclasses.dataclass(frozen=True)
class StoredReview(RowRecord):
    """One decision: approve | reject | revoke, with comment."""

    TABLE = tables.ReviewRow

    id: int
    submission_id: int
    decision: str
    comment: str
    reviewer: str
    created_at: datetime


@dataclasses.dataclass(frozen=True)
class StoredSubmission(RowRecord):
    """A vector at a chosen strength and layers, through the review workflow. Pass ``version``
    back as ``expected_version`` to change it; ``content_hash`` is set when submitted."""

    TABLE = tables.SubmissionRow

    id: int
    vector_id: int
    strength: float
    layers: tuple[int, ...]
    evaluation_id: int | None
    status: str
    version: int
    content_hash: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    reviews: tuple[StoredReview, ...] = ()


@dataclasses.dataclass(frozen=True)
class StoredAuditEvent(RowRecord):
    """One link of the audit chain, with its timestamp and details decoded."""

    TABLE = tables.AuditEventRow
    DECODE = {"ts": parse_ts, "details": json.loads}

    seq: int
    ts: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]
    prev_hash: str
    hash: str
    sig: str | None
    key_id: str | None


@dataclasses.dataclass(frozen=True)
class StoredJob(RowRecord):
    """A heavy job (build, evaluation, answer generation) and where it stands: ``state`` is
    queued | running | done | failed | interrupted; ``result_id`` the vector or evaluation it
    made; ``seconds_left`` the time left as of ``updated_at``."""

    TABLE = tables.JobRow

    id: int
    created_by: str
    kind: str
    state: str
    phase: str
    progress: float
    seconds_left: float | None
    estimate_s: float | None
    result_id: int | None
    error: str | None
    told: bool
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @property
    def open(self) -> bool:
        """Still to finish: queued or running."""
        return self.state in ("queued", "running")


@dataclasses.dataclass(frozen=True)
class VerifyResult:
    """Outcome of checking the audit trail (hash links, signatures, checkpoints).

    ``count`` is the number of events checked and found intact (all of them when ``ok``; those
    before the break otherwise). ``reason`` names the damage at ``first_broken_seq``: "edited",
    "deleted", "inserted", "reordered", "truncated" (events missing against a checkpoint) or
    "bad-signature" (an event or checkpoint not signed by the audit key). ``signed_at_write`` and
    ``signed_at_migration`` count the events signed when written and those signed when an older
    plain chain was migrated. ``checkpoints`` is how many checkpoints were compared, and
    ``latest_checkpoint`` the newest authentic one: a copy kept elsewhere is what detects a
    rewrite by someone who holds both the database and the signing key.
    """

    ok: bool
    count: int
    first_broken_seq: int | None = None
    reason: str | None = None
    message: str = ""
    head_seq: int = 0
    head_hash: str = ""
    signed_at_write: int = 0
    signed_at_migration: int = 0
    checkpoints: int = 0
    latest_checkpoint: Checkpoint | None = None


@dataclasses.dataclass(frozen=True)
class ExportResult:
    path: Path
    format: str
    count: int
    sha256: str
