"""Initial schema: users, example sets, vectors, evaluations, submissions, reviews, audit chain.

Revision ID: 0001
Revises:
Create Date: 2025-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.coltypes import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.CheckConstraint("role IN ('builder', 'reviewer', 'admin')", name="ck_users_role"),
    )
    op.create_table(
        "example_sets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("row_count", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(64), sa.ForeignKey("users.name"), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "vectors",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("content_hash", sa.String(64), nullable=False, index=True),
        sa.Column("file_suffix", sa.String(32), nullable=False),
        sa.Column("lineage", sa.JSON, nullable=False),
        sa.Column("example_set_id", sa.Integer, sa.ForeignKey("example_sets.id")),
        sa.Column("created_by", sa.String(64), sa.ForeignKey("users.name"), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("vector_id", sa.Integer, sa.ForeignKey("vectors.id"), nullable=False, index=True),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("results", sa.JSON, nullable=False),
        sa.Column("results_hash", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(64), sa.ForeignKey("users.name"), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("vector_id", sa.Integer, sa.ForeignKey("vectors.id"), nullable=False, index=True),
        sa.Column("strength", sa.Float, nullable=False),
        sa.Column("layers", sa.JSON, nullable=False),
        sa.Column("evaluation_id", sa.Integer, sa.ForeignKey("evaluations.id")),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(64)),
        sa.Column("created_by", sa.String(64), sa.ForeignKey("users.name"), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'submitted', 'approved', 'rejected', 'revoked')",
            name="ck_submissions_status",
        ),
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "submission_id",
            sa.Integer,
            sa.ForeignKey("submissions.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("reviewer", sa.String(64), sa.ForeignKey("users.name"), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.CheckConstraint(
            "decision IN ('approve', 'reject', 'revoke')", name="ck_reviews_decision"
        ),
    )
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("ts", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("object_id", sa.String(64), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_index("ix_audit_events_actor", "audit_events", ["actor"])
    op.create_index("ix_audit_events_action", "audit_events", ["action"])
    op.create_index("ix_audit_events_object", "audit_events", ["object_type", "object_id"])
    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "last_seq": 0, "last_hash": GENESIS_HASH}])


def downgrade() -> None:
    for table in (
        "audit_chain_head",
        "audit_events",
        "reviews",
        "submissions",
        "evaluations",
        "vectors",
        "example_sets",
        "users",
    ):
        op.drop_table(table)
