"""the tamper-evidence ledger: entries and signed checkpoints

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

Two new tables; nothing existing changes. Every trail already stored is recorded with an
``adopt`` entry (its current content hash), so ``llmtrail verify-chain`` covers it from now
on: what happened to it before this revision cannot be known (docs/audit.md). That costs
about 30 s per million trails.
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

    _adopt_existing(op.get_bind())


def _adopt_existing(conn: sa.Connection, batch: int = 5_000) -> None:
    """An ``adopt`` entry for every stored trail, in batches by id."""
    from llmtrail.ledger.entries import written
    from llmtrail.store.sql import ledger
    from llmtrail.store.sql.rows import row_to_trail
    from llmtrail.store.sql.schema import audit_trails

    # Only the columns this revision has (a later revision may add some): selected through
    # the schema's table so that money and instants convert as everywhere else.
    present = {c["name"] for c in sa.inspect(conn).get_columns("audit_trails")}
    cols = [c for c in audit_trails.c if c.name in present]
    blank = {c.name: None for c in audit_trails.c}
    last = ""
    while True:
        rows = (
            conn.execute(
                sa.select(*cols)
                .where(audit_trails.c.id > last)
                .order_by(audit_trails.c.id)
                .limit(batch)
            )
            .mappings()
            .all()
        )
        if not rows:
            return
        trails = [row_to_trail({**blank, **r}) for r in rows]
        ledger.append(conn, [written(t, "adopt") for t in trails])
        last = rows[-1]["id"]


def downgrade() -> None:
    op.drop_table("ledger_checkpoints")
    op.drop_index("ix_ledger_entries_txid", table_name="ledger_entries")
    op.drop_table("ledger_entries")
