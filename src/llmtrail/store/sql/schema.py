"""The tables, as SQLAlchemy Core metadata: the single source of truth for the schema.

Alembic migrations (``llmtrail/migrations``) must produce exactly this; a test checks it.
Money columns are exact decimals (NUMERIC on PostgreSQL, decimal text on SQLite — see
``types.py``), JSON is JSONB on PostgreSQL, and every foreign key cascades on delete.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from llmtrail.store.sql.types import Money, UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}
metadata = MetaData(naming_convention=NAMING)
Json = JSON().with_variant(JSONB(), "postgresql")

projects = Table(
    "projects",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("retention_days", Integer, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    # Added by migration 0004 (SPEC §10).
    Column("content_retention_days", Integer, nullable=True),
    Column("legal_hold", Boolean, nullable=False, server_default=false()),
    # Added by migration 0006 (SPEC §12): a spending limit per UTC day or month.
    Column("budget_amount", Money(), nullable=True),
    Column("budget_period", String(8), nullable=True),
)

audit_trails = Table(
    "audit_trails",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("message_id", String(255), nullable=False, unique=True),
    Column(
        "project_id",
        String(64),
        ForeignKey("projects.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("timestamp", UTCDateTime(), nullable=False),
    Column("model", String(200), nullable=False),
    Column("reasoning", Json, nullable=True),
    Column("context_layers", Integer, nullable=False),
    Column("prompt_tokens", BigInteger, nullable=False),
    Column("completion_tokens", BigInteger, nullable=False),
    Column("total_tokens", BigInteger, nullable=False),
    Column("cache_read_tokens", BigInteger, nullable=True),
    Column("cache_write_tokens", BigInteger, nullable=True),
    Column("reasoning_tokens", BigInteger, nullable=True),
    Column("cost_prompt", Money(), nullable=False),
    Column("cost_completion", Money(), nullable=False),
    Column("cost_total", Money(), nullable=False),
    Column("cost_source", String(16), nullable=False),
    Column("price_version", String(64), nullable=True),
    Column("status", String(16), nullable=False),
    Column("metadata", Json, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # Added by migration 0003, hence after the others (ALTER TABLE ADD COLUMN appends).
    Column("provider", String(64), nullable=True),
    Column("cache_write_1h_tokens", BigInteger, nullable=True),
    # Added by migration 0004.
    Column("content_redacted_at", UTCDateTime(), nullable=True),
    # Newest-first listing per project and its keyset cursor (a B-tree scans either way).
    Index("ix_audit_trails_project_id_timestamp_id", "project_id", "timestamp", "id"),
    Index("ix_audit_trails_timestamp", "timestamp"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column(
        "project_id",
        String(64),
        ForeignKey("projects.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

# Usage per (project, 15-minute UTC bucket, model). Every IANA zone's offset is a multiple of
# 15 minutes, so days in any zone are exact unions of buckets. Kept up to date in the same
# transaction as each trail write, and kept after raw trails are cleaned up.
usage_rollups = Table(
    "usage_rollups",
    metadata,
    Column(
        "project_id",
        String(64),
        ForeignKey("projects.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("bucket", UTCDateTime(), primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("messages", BigInteger, nullable=False),
    Column("prompt_tokens", BigInteger, nullable=False),
    Column("completion_tokens", BigInteger, nullable=False),
    Column("total_tokens", BigInteger, nullable=False),
    Column("cost_prompt", Money(), nullable=False),
    Column("cost_completion", Money(), nullable=False),
    Column("cost_total", Money(), nullable=False),
    Index("ix_usage_rollups_bucket", "bucket"),
)

# Usage increments not yet folded into usage_rollups (PostgreSQL). Each trail write appends
# its increment here instead of updating the rollup row in place, so concurrent writes to one
# (project, bucket, model) never wait on each other's row lock; ``usage.fold`` moves them into
# usage_rollups in the background (SKIP LOCKED) and analytics reads rollups + deltas, exact at
# every instant. SQLite has one writer at a time and updates usage_rollups directly.
usage_deltas = Table(
    "usage_deltas",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    # No foreign key: its check locks the project row (FOR KEY SHARE) once more per write, and
    # concurrent lockers of one row share a multixact that every new locker must rebuild.
    # Deleting a project deletes its increments first (``SQLStore._delete_project``).
    Column("project_id", String(64), nullable=False),
    Column("bucket", UTCDateTime(), nullable=False),
    Column("model", String(200), nullable=False),
    Column("messages", BigInteger, nullable=False),
    Column("prompt_tokens", BigInteger, nullable=False),
    Column("completion_tokens", BigInteger, nullable=False),
    Column("total_tokens", BigInteger, nullable=False),
    Column("cost_prompt", Money(), nullable=False),
    Column("cost_completion", Money(), nullable=False),
    Column("cost_total", Money(), nullable=False),
)

# Every read of trails through the API (SPEC §10): who (a key id, never the key), when, which
# route, how many items came back. Appended in batches by the server, kept for
# AUDIT_TRAIL_ACCESS_LOG_DAYS; no foreign key (the log outlives a deleted project's trails).
access_log = Table(
    "access_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("project_id", String(64), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("route", String(200), nullable=False),
    Column("items", Integer, nullable=False),
    Index("ix_access_log_project_id_at_id", "project_id", "at", "id"),
    Index("ix_access_log_at", "at"),
)

# The tamper-evidence ledger (SPEC §9, ``llmtrail.ledger``): one entry per trail write, appended
# in the write's transaction and never changed. ``txid`` (PostgreSQL) is the writing
# transaction's id: the chain's order, so a sealer can tell which entries are settled (every
# transaction below ``pg_snapshot_xmin`` has ended); SQLite has one writer at a time and
# orders by ``id``. No foreign key: the ledger outlives a deleted project.
ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("txid", BigInteger, nullable=True),
    Column("project_id", String(64), nullable=False),
    Column("op", String(16), nullable=False),
    Column("message_id", String(255), nullable=True),
    Column("content_hash", LargeBinary, nullable=True),
    Column("trail_timestamp", UTCDateTime(), nullable=True),
    Column("cutoff", UTCDateTime(), nullable=True),
    Column("at", UTCDateTime(), nullable=False),
    # The sealer reads the newest entries by txid, which grows with insertion order: a BRIN
    # index (a few bytes per 128 pages, nearly free to maintain) finds them. SQLite orders by
    # the primary key and needs no index: ``WHERE 0`` keeps this one empty there.
    Index(
        "ix_ledger_entries_txid",
        "txid",
        postgresql_using="brin",
        sqlite_where=text("0"),
    ),
)

# Signed heads of each project's ledger chain (``ledger.entries.Checkpoint``).
ledger_checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("project_id", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("root", LargeBinary, nullable=False),
    Column("bound", BigInteger, nullable=False),
    Column("signed_at", UTCDateTime(), nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("entries", LargeBinary, nullable=False),
)

# Small key/value facts about a database (e.g. when cleanup last ran), shared by replicas.
store_state = Table(
    "store_state",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Json, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)
