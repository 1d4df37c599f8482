"""``llmtrail cleanup``: delete trails past their retention (for system cron or a CronJob)."""

from __future__ import annotations

import json

import typer

from llmtrail.cli.app import app, fail, settings
from llmtrail.errors import AuditTrailError, ValidationError

URL_OPTION = typer.Option(None, "--url", help="Database URL (default: DATABASE_URL).")


@app.command()
def cleanup(
    days: float | None = typer.Option(
        None,
        "--days",
        help="Delete trails older than this many days (default: AUDIT_TRAIL_RETENTION_DAYS); "
        "projects with their own retention keep theirs.",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Only count the trails that would be deleted."
    ),
    url: str | None = URL_OPTION,
) -> None:
    """Delete audit trails older than the retention, in small batches; prints
    {"deletedCount": n, "backend": …}. Safe to run while the server and its scheduler run."""
    from llmtrail.retention import run_cleanup
    from llmtrail.store import open_store

    s = settings()
    try:
        store = open_store(url, settings=s)
    except AuditTrailError as e:
        fail(str(e), code=2 if isinstance(e, ValidationError) else 1)
    try:
        result = run_cleanup(store, days, dry_run=dry_run, trigger="cli")
    except AuditTrailError as e:  # a --days below AUDIT_TRAIL_MIN_RETENTION_DAYS: exit 2
        fail(str(e), code=2 if isinstance(e, ValidationError) else 1)
    finally:
        store.close()
    typer.echo(json.dumps(result.to_wire()))


@app.command()
def fold(url: str | None = URL_OPTION) -> None:
    """Fold pending usage increments into the daily rollups (PostgreSQL); prints
    {"folded": n}. Analytics are exact without it; run it from cron where no server runs the
    background folder (serverless), or let `llmtrail cleanup` do it daily."""
    from llmtrail.store import open_store

    s = settings()
    try:
        store = open_store(url, settings=s.model_copy(update={"usage_fold_seconds": 0}))
    except AuditTrailError as e:
        fail(str(e))
    try:
        folded = store.fold_usage()
    except AuditTrailError as e:
        fail(str(e))
    finally:
        store.close()
    typer.echo(json.dumps({"folded": folded}))
