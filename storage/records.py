"""Plain, frozen values returned by the store.

Public methods never hand out live ORM objects: a caller (a Gradio handler, a CLI) holds these
after the session is gone, so there are no detached-instance surprises and nobody can change a
row by mutating an attribute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROLES = ("builder", "reviewer", "admin")
SYSTEM_ACTOR = "system"


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    active: bool
    created_at: datetime


@dataclass(frozen=True)
class ExampleSet:
    id: int
    name: str
    filename: str
    content_hash: str
    file_sha256: str
    row_count: int
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class Vector:
    id: int
    content_hash: str
    file_suffix: str
    lineage: dict[str, Any]
    example_set_id: int | None
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class Evaluation:
    id: int
    vector_id: int
    config: dict[str, Any]
    results: dict[str, Any]
    results_hash: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class Review:
    id: int
    submission_id: int
    decision: str  # approve | reject | revoke
    comment: str
    reviewer: str
    created_at: datetime


@dataclass(frozen=True)
class Submission:
    id: int
    vector_id: int
    strength: float
    layers: tuple[int, ...]
    evaluation_id: int | None
    status: str
    version: int  # pass back as expected_version to change it
    content_hash: str | None  # set when submitted; the frozen content's SHA-256
    created_by: str
    created_at: datetime
    updated_at: datetime
    reviews: tuple[Review, ...] = ()


@dataclass(frozen=True)
class AuditEvent:
    seq: int
    ts: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of walking the audit chain.

    ``count`` is the number of events checked and found intact (all of them when ``ok``; those
    before the break otherwise). ``reason`` is one of "edited", "deleted", "inserted",
    "reordered". ``head_hash`` is worth writing down somewhere else (a ticket, an email): a
    later verify that reports a different hash for the same ``count`` means history was rewritten
    wholesale, which no hash chain can detect from the inside.
    """

    ok: bool
    count: int
    first_broken_seq: int | None = None
    reason: str | None = None
    message: str = ""
    head_seq: int = 0
    head_hash: str = ""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    format: str
    count: int
    sha256: str
