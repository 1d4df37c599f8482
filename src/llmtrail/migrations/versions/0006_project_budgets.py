"""project budgets: a spending limit per UTC day or month

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

Two nullable columns on ``projects`` (no rewrite); existing projects have no budget.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import llmtrail.store.sql.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN, never a batch operation (see 0004: it would cascade on SQLite)
    op.add_column(
        "projects", sa.Column("budget_amount", llmtrail.store.sql.types.Money(), nullable=True)
    )
    op.add_column("projects", sa.Column("budget_period", sa.String(length=8), nullable=True))


def downgrade() -> None:
    op.drop_column("projects", "budget_period")
    op.drop_column("projects", "budget_amount")
