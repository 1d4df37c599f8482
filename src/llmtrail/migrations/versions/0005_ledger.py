"""the tamper-evidence ledger: entries and signed checkpoints

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

Two new tables; nothing existing changes. Trails written before this revision have no
ledger entry: ``llmtrail verify-chain`` reports them as ``unrecorded`` (not as tampering)
until they are written again — see docs/audit.md.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import llmtrail.store.sql.types

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    when = llmtrail.store.sql.types.UTCDateTime(timezone=True)
    op.create_table(
        "ledger_entries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("txid", sa.BigInteger(), nullable=True),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("op", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("content_hash", sa.LargeBinary(), nullable=True),
        sa.Column("trail_timestamp", when, nullable=True),
        sa.Column("cutoff", when, nullable=True),
        sa.Column("at", when, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    op.create_index(
        "ix_ledger_entries_txid",
        "ledger_entries",
        ["txid"],
        postgresql_using="brin",
        sqlite_where=sa.text("0"),
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("bound", sa.BigInteger(), nullable=False),
        sa.Column("signed_at", when, nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("entries", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "seq", name=op.f("pk_ledger_checkpoints")),
    )


def downgrade() -> None:
    op.drop_table("ledger_checkpoints")
    op.drop_index("ix_ledger_entries_txid", table_name="ledger_entries")
    op.drop_table("ledger_entries")
