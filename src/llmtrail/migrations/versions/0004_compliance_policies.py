"""compliance policies: content retention, legal hold, redaction time, the access log

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

Adds nullable columns (and one with a constant default: PostgreSQL 11+ stores it in the
catalogue, no rewrite) and a new table; existing trails and projects are unchanged.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import llmtrail.store.sql.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


# Plain ADD/DROP COLUMN, never a batch (copy-and-move) operation: on SQLite, dropping the old
# ``projects`` table of a batch would cascade to every trail, key and rollup of it. SQLite has
# ADD COLUMN (with a constant default) and, since 3.35, DROP COLUMN.


def upgrade() -> None:
    op.add_column("projects", sa.Column("content_retention_days", sa.Integer(), nullable=True))
    op.add_column(
        "projects",
        sa.Column("legal_hold", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column(
        "audit_trails",
        sa.Column(
            "content_redacted_at",
            llmtrail.store.sql.types.UTCDateTime(timezone=True),
            nullable=True,
        ),
    )
    op.create_table(
        "access_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", llmtrail.store.sql.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("route", sa.String(length=200), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_log")),
    )
    op.create_index("ix_access_log_project_id_at_id", "access_log", ["project_id", "at", "id"])
    op.create_index("ix_access_log_at", "access_log", ["at"])


def downgrade() -> None:
    op.drop_index("ix_access_log_at", table_name="access_log")
    op.drop_index("ix_access_log_project_id_at_id", table_name="access_log")
    op.drop_table("access_log")
    op.drop_column("audit_trails", "content_redacted_at")
    op.drop_column("projects", "legal_hold")
    op.drop_column("projects", "content_retention_days")
