"""provider and 1-hour cache writes on audit trails

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

Both columns are nullable and have no default, so on PostgreSQL adding them only changes the
catalogue (no table rewrite, a brief lock), and trails written before keep NULL: no provider
known, no 1-hour writes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_trails") as batch:
        batch.add_column(sa.Column("provider", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("cache_write_1h_tokens", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_trails") as batch:
        batch.drop_column("cache_write_1h_tokens")
        batch.drop_column("provider")
