"""ORM row -> frozen record conversions (kept apart so store.py reads as the API)."""

from __future__ import annotations

import json

from . import models, records
from .audit import parse_ts


def user(row: models.User) -> records.User:
    return records.User(row.id, row.name, row.role, row.active, row.created_at)


def example_set(row: models.ExampleSet) -> records.ExampleSet:
    return records.ExampleSet(
        row.id,
        row.name,
        row.filename,
        row.content_hash,
        row.file_sha256,
        row.row_count,
        row.created_by,
        row.created_at,
    )


def vector(row: models.Vector) -> records.Vector:
    return records.Vector(
        row.id,
        row.content_hash,
        row.file_suffix,
        dict(row.lineage),
        row.example_set_id,
        row.created_by,
        row.created_at,
    )


def evaluation(row: models.Evaluation) -> records.Evaluation:
    return records.Evaluation(
        row.id,
        row.vector_id,
        dict(row.config),
        dict(row.results),
        row.results_hash,
        row.created_by,
        row.created_at,
    )


def review(row: models.Review) -> records.Review:
    return records.Review(
        row.id, row.submission_id, row.decision, row.comment, row.reviewer, row.created_at
    )


def submission(
    row: models.Submission, reviews: list[models.Review] | tuple = ()
) -> records.Submission:
    return records.Submission(
        id=row.id,
        vector_id=row.vector_id,
        strength=row.strength,
        layers=tuple(row.layers),
        evaluation_id=row.evaluation_id,
        status=row.status,
        version=row.version,
        content_hash=row.content_hash,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        reviews=tuple(review(r) for r in reviews),
    )


def audit_event(row: models.AuditEvent) -> records.AuditEvent:
    return records.AuditEvent(
        seq=row.seq,
        ts=parse_ts(row.ts),
        actor=row.actor,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
        details=json.loads(row.details),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )
