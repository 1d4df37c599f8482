"""Bringing a database to the current schema with Alembic, under a cross-process lock."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import exc, text
from sqlalchemy.engine import Connection, Engine

from llmtrail.errors import SchemaOutdatedError
from llmtrail.migrations import HEAD
from llmtrail.store.sql.dialects import exclusive_lock, lock_in_transaction

if TYPE_CHECKING:  # Alembic is imported only to migrate (it costs ~70 ms at every start)
    from alembic.config import Config

log = logging.getLogger("llmtrail.migrate")
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    """The newest revision this llmtrail ships (``llmtrail.migrations.HEAD``)."""
    return HEAD


def alembic_head() -> str:
    """The head as Alembic computes it from the scripts (what ``HEAD`` must equal)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _revision(conn: Connection) -> str | None:
    """The database's revision: one SELECT of ``alembic_version`` (None when empty)."""
    try:
        with conn.begin_nested() if conn.in_transaction() else conn.begin():
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    except exc.ProgrammingError:  # PostgreSQL: no such table
        return None
    except exc.OperationalError as e:  # SQLite: no such table (anything else is real)
        if "no such table" not in str(e):
            raise
        return None
    return str(row[0]) if row else None


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return _revision(conn)


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Apply pending migrations (safe to run twice and from several processes at once).

    Returns the revision before and after.
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    cfg = alembic_config()
    with exclusive_lock(engine, "migrate"), engine.begin() as conn:
        # PostgreSQL: the lock is the migration transaction's own (transactional DDL), so
        # concurrent starts queue here and nothing outlives the transaction (poolers).
        lock_in_transaction(conn, "migrate")
        before = MigrationContext.configure(conn).get_current_revision()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        after = MigrationContext.configure(conn).get_current_revision()
    if before != after:
        log.info("migrated %s from %s to %s", _safe(engine), before or "empty", after)
    return before, after


def ensure_schema(engine: Engine, *, auto_migrate: bool) -> None:
    """Make sure the schema is current: migrate if allowed, else fail fast and clearly."""
    if is_current(engine):
        return
    if auto_migrate:
        upgrade(engine)
        return
    current = current_revision(engine)
    raise SchemaOutdatedError(
        f"database {_safe(engine)} is at schema {current or 'empty'}, this llmtrail needs "
        f"{head_revision()}: run `llmtrail migrate` (AUDIT_TRAIL_AUTO_MIGRATE is false)"
    )


def _safe(engine: Engine) -> str:
    plain = engine.url.set(drivername=engine.url.get_backend_name())
    return plain.render_as_string(hide_password=True)
