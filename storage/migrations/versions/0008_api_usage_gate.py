"""API usage counts how often a conditional vector was applied (issue 21): two counters per
(key, submission, hour) row beside ``count``.

``applied``: the prompts the vector steered (every prompt of an unconditional vector);
``not_applied``: those a conditional vector's gate left unsteered. Existing rows start at 0 for
both: nothing recorded before this revision said whether a gate opened.

Revision ID: 0008
Revises: 0007
Create Date: 2026-02-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_usage") as batch:
        batch.add_column(sa.Column("applied", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("not_applied", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("api_usage") as batch:
        batch.drop_column("not_applied")
        batch.drop_column("applied")
