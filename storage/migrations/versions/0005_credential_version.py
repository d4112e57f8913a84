"""Users get a credential version: a password reset ends the sessions begun with the old one.

Every existing account starts at 1; ``reset_password`` adds one. The app compares it on every
request with the value its session began with, so a reset from the CLI (another process) ends
that user's sessions as a deactivation does.

Revision ID: 0005
Revises: 0004
Create Date: 2026-01-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("credential_version", sa.Integer, nullable=False, server_default="1")
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("credential_version")
