"""API keys get a metrics right: a key created with ``add-api-key --metrics`` may read /metrics.

Every existing key starts without it. A metrics key is otherwise an ordinary key (it calls /v1
under the same rules); the right only adds GET /metrics.

Revision ID: 0006
Revises: 0005
Create Date: 2026-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(
            sa.Column("metrics", sa.Boolean, nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("metrics")
