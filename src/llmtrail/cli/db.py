"""``llmtrail migrate`` and ``llmtrail backup``."""

from __future__ import annotations

from pathlib import Path

import typer

from llmtrail.cli.app import app, console, fail, settings
from llmtrail.errors import AuditTrailError

URL_OPTION = typer.Option(None, "--url", help="Database URL (default: DATABASE_URL).")


@app.command()
def migrate(
    url: str | None = URL_OPTION,
    no_backup: bool = typer.Option(False, "--no-backup", help="Skip the backup taken first."),
    backup_dir: Path | None = typer.Option(None, help="Where backups go (default: ./backups)."),
) -> None:
    """Back up the database, then apply pending schema migrations (safe to run twice)."""
    from llmtrail.store.sql.backup import backup as take_backup
    from llmtrail.store.sql.dialects import behind_transaction_pooler, make_engine, normalize_url
    from llmtrail.store.sql.migrate import head_revision, is_current, upgrade

    s = settings()
    target = url or s.database_url
    sql_url = normalize_url(target)
    engine = make_engine(sql_url, transaction_pooler=behind_transaction_pooler(sql_url, s.pooler))
    try:
        plain = engine.url.set(drivername=engine.url.get_backend_name())
        safe = plain.render_as_string(hide_password=True)
        console.print(f"database: {safe}")
        if is_current(engine):
            console.print(f"schema is current ({head_revision()}); nothing to do")
            return
        if not no_backup:
            path = take_backup(target, backup_dir or s.backup_dir)
            console.print(f"backup: {path}" if path else "backup: nothing to back up yet")
        before, after = upgrade(engine)
        console.print(f"migrated: {before or 'empty'} -> {after}")
    except AuditTrailError as e:
        fail(str(e))
    finally:
        engine.dispose()


@app.command()
def backup(
    url: str | None = URL_OPTION,
    backup_dir: Path | None = typer.Option(None, help="Where backups go (default: ./backups)."),
) -> None:
    """Back up the database (pg_dump custom format, or SQLite's online backup)."""
    from llmtrail.store.sql.backup import backup as take_backup

    s = settings()
    try:
        path = take_backup(url or s.database_url, backup_dir or s.backup_dir)
    except AuditTrailError as e:
        fail(str(e))
    console.print(f"backup: {path}" if path else "nothing to back up: the database is empty")
