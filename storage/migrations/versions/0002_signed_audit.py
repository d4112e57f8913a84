"""Signed audit trail: each event's Ed25519 signature and the id of the key that made it.

Both columns are empty for events written before signing; ``python -m storage migrate`` verifies
that old chain and signs it (see ``storage/chain_signing.py``). Schema only: no event changes here.

Revision ID: 0002
Revises: 0001
Create Date: 2025-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("sig", sa.String(88), nullable=True))
        batch.add_column(sa.Column("key_id", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("key_id")
        batch.drop_column("sig")
