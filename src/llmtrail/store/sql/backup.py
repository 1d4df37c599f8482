"""Backups before migrations: ``pg_dump`` custom format, or SQLite's online backup API."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from llmtrail.errors import AuditTrailError, UnavailableError
from llmtrail.store.sql.dialects import normalize_url


class BackupError(AuditTrailError):
    """A backup could not be taken (so a migration that needed one did not run)."""


def backup(url: str, dest_dir: Path) -> Path | None:
    """Back up the database at ``url`` into ``dest_dir``; None when there is nothing yet."""
    u = normalize_url(url)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    dest_dir.mkdir(parents=True, exist_ok=True)
    if u.get_backend_name() == "sqlite":
        src = Path(u.database or "")
        if not u.database or u.database == ":memory:" or not src.exists():
            return None
        dest = dest_dir / f"{src.stem}-{stamp}.db"
        with sqlite3.connect(src) as source, sqlite3.connect(dest) as target:
            source.backup(target)
        return dest
    dest = dest_dir / f"{u.database or 'postgres'}-{stamp}.dump"
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError("pg_dump is not installed (apt-get install postgresql-client)")
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    proc = subprocess.run(
        [pg_dump, "--format=custom", f"--file={dest}", f"--dbname={plain}"],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if proc.returncode != 0:
        dest.unlink(missing_ok=True)
        message = proc.stderr.strip() or f"pg_dump exited {proc.returncode}"
        if "could not connect" in message or "Connection refused" in message:
            raise UnavailableError(message)
        raise BackupError(message)
    return dest
