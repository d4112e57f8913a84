"""Heavy jobs become records, and an example set keeps the rows its builder chose to skip.

``jobs``: one row per build, evaluation or answer generation (who, what, its state, phase,
progress, start, estimate, and the vector or evaluation it made), so a page opened later shows a
running job and its result, and a restart marks the jobs it cut short as interrupted.
``example_sets.skipped_rows``: the row numbers left out of an uploaded file (None: none).

Revision ID: 0007
Revises: 0006
Create Date: 2026-02-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.coltypes import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_by", sa.String(64), sa.ForeignKey("users.name"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("phase", sa.String(200), nullable=False),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("seconds_left", sa.Float, nullable=True),
        sa.Column("estimate_s", sa.Float, nullable=True),
        sa.Column("result_id", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("told", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_jobs_created_by", "jobs", ["created_by"])
    op.create_index("ix_jobs_state", "jobs", ["state"])
    with op.batch_alter_table("example_sets") as batch:
        batch.add_column(sa.Column("skipped_rows", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("example_sets") as batch:
        batch.drop_column("skipped_rows")
    op.drop_index("ix_jobs_state", table_name="jobs")
    op.drop_index("ix_jobs_created_by", table_name="jobs")
    op.drop_table("jobs")
