"""Bringing a database to the current schema with Alembic, under a cross-process lock."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from llmtrail.errors import SchemaOutdatedError
from llmtrail.store.sql.dialects import exclusive_lock

log = logging.getLogger("llmtrail.migrate")
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Apply pending migrations (safe to run twice and from several processes at once).

    Returns the revision before and after.
    """
    with exclusive_lock(engine, "migrate"):
        before = current_revision(engine)
        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
        after = current_revision(engine)
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
