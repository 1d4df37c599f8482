"""usage deltas: append-only usage increments, folded into usage_rollups in the background

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import llmtrail.store.sql.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _money(name: str) -> sa.Column[object]:
    return sa.Column(name, llmtrail.store.sql.types.Money(precision=38, scale=18), nullable=False)


def upgrade() -> None:
    op.create_table(
        "usage_deltas",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("bucket", llmtrail.store.sql.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.Column("total_tokens", sa.BigInteger(), nullable=False),
        _money("cost_prompt"),
        _money("cost_completion"),
        _money("cost_total"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_deltas")),
    )


def downgrade() -> None:
    # Fold what is pending first, so no usage is lost going back to 0001 (only PostgreSQL
    # writes deltas).
    if op.get_context().dialect.name == "postgresql":
        op.execute(_FOLD_ALL)
    op.drop_table("usage_deltas")


_FOLD_ALL = """
        INSERT INTO usage_rollups (project_id, bucket, model, messages, prompt_tokens,
            completion_tokens, total_tokens, cost_prompt, cost_completion, cost_total)
        SELECT project_id, bucket, model, sum(messages), sum(prompt_tokens),
            sum(completion_tokens), sum(total_tokens), sum(cost_prompt), sum(cost_completion),
            sum(cost_total)
        FROM usage_deltas GROUP BY project_id, bucket, model
        ON CONFLICT (project_id, bucket, model) DO UPDATE SET
            messages = usage_rollups.messages + excluded.messages,
            prompt_tokens = usage_rollups.prompt_tokens + excluded.prompt_tokens,
            completion_tokens = usage_rollups.completion_tokens + excluded.completion_tokens,
            total_tokens = usage_rollups.total_tokens + excluded.total_tokens,
            cost_prompt = usage_rollups.cost_prompt + excluded.cost_prompt,
            cost_completion = usage_rollups.cost_completion + excluded.cost_completion,
            cost_total = usage_rollups.cost_total + excluded.cost_total
        """
