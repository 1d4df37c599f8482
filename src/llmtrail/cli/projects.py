"""``llmtrail projects create|list|delete`` and ``llmtrail keys create|list|revoke``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from llmtrail.cli.app import app, fail, settings
from llmtrail.errors import AuditTrailError, ValidationError
from llmtrail.model.wire import dumps, iso, project_to_wire
from llmtrail.store import Store, open_store

projects_app = typer.Typer(help="Create, list and delete projects.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke project API keys.", no_args_is_help=True)
app.add_typer(projects_app, name="projects")
app.add_typer(keys_app, name="keys")
URL_OPTION = typer.Option(None, "--url", help="Database URL (default: DATABASE_URL).")


@contextmanager
def _store(url: str | None) -> Iterator[Store]:
    try:
        store = open_store(url, settings=settings())
    except AuditTrailError as e:
        fail(str(e), code=exit_code(e))
    try:
        yield store
    except AuditTrailError as e:
        fail(str(e), code=exit_code(e))
    finally:
        store.close()


BUDGET_OPTION = typer.Option(
    None, "--budget", help="Spending limit in USD per --budget-period (alerts at 80%/100%)."
)
PERIOD_OPTION = typer.Option("month", "--budget-period", help="day or month (UTC).")


@projects_app.command("create")
def create_project(
    project_id: str = typer.Argument(..., metavar="ID", help="1-64 of A-Z a-z 0-9 _ -"),
    name: str | None = typer.Option(None, "--name", help="Display name (default: the id)."),
    retention_days: int | None = typer.Option(
        None, "--retention-days", help="Override the global retention for this project."
    ),
    content_retention_days: int | None = typer.Option(
        None,
        "--content-retention-days",
        help="After this many days cleanup clears reasoning and metadata (cost stays).",
    ),
    legal_hold: bool = typer.Option(
        False, "--legal-hold", help="Cleanup deletes and redacts nothing of this project."
    ),
    budget: str | None = BUDGET_OPTION,
    budget_period: str = PERIOD_OPTION,
    url: str | None = URL_OPTION,
) -> None:
    """Create a project."""
    with _store(url) as store:
        p = store.create_project(
            project_id,
            name,
            retention_days,
            content_retention_days=content_retention_days,
            legal_hold=legal_hold,
            budget=None if budget is None else {"amount": budget, "period": budget_period},
        )
        typer.echo(f"created project {p.id} ({p.name})")


_CLEAR = -1  # the value of a retention option that clears it


@projects_app.command("update")
def update_project(
    project_id: str = typer.Argument(..., metavar="ID"),
    name: str | None = typer.Option(None, "--name", help="New display name."),
    retention_days: int | None = typer.Option(
        None, "--retention-days", help="Own retention in days (-1: back to the global one)."
    ),
    content_retention_days: int | None = typer.Option(
        None, "--content-retention-days", help="Content retention in days (-1: none)."
    ),
    legal_hold: bool | None = typer.Option(
        None, "--legal-hold/--no-legal-hold", help="Put the project under legal hold, or lift it."
    ),
    budget: str | None = typer.Option(
        None, "--budget", help="Spending limit in USD per --budget-period (-1: no budget)."
    ),
    budget_period: str = PERIOD_OPTION,
    url: str | None = URL_OPTION,
) -> None:
    """Change a project's name, retention, content retention, legal hold or budget."""
    changes: dict[str, object] = {}
    if name is not None:
        changes["name"] = name
    for key, value in (
        ("retentionDays", retention_days),
        ("contentRetentionDays", content_retention_days),
    ):
        if value is not None:
            changes[key] = None if value == _CLEAR else value
    if legal_hold is not None:
        changes["legalHold"] = legal_hold
    if budget is not None:
        clear = budget.strip() == str(_CLEAR)
        changes["budget"] = None if clear else {"amount": budget, "period": budget_period}
    if not changes:
        fail(
            "nothing to change: give --name, --retention-days, --content-retention-days, "
            "--legal-hold/--no-legal-hold or --budget",
            code=2,
        )
    with _store(url) as store:
        p = store.update_project(project_id, **changes)
        typer.echo(dumps(project_to_wire(p)))


def exit_code(e: AuditTrailError) -> int:
    """2 for input the command refuses (a value below the retention floor, say), else 1."""
    return 2 if isinstance(e, ValidationError) else 1


@projects_app.command("list")
def list_projects(url: str | None = URL_OPTION) -> None:
    """List every project (tab-separated)."""
    with _store(url) as store:
        typer.echo("id\tname\tretention_days\tcreated_at\tcontent_retention_days\tlegal_hold")
        for p in store.list_projects():
            retention = "" if p.retention_days is None else str(p.retention_days)
            content = "" if p.content_retention_days is None else str(p.content_retention_days)
            typer.echo(
                f"{p.id}\t{p.name}\t{retention}\t{iso(p.created_at) or ''}\t{content}\t"
                f"{'true' if p.legal_hold else 'false'}"
            )


@projects_app.command("delete")
def delete_project(
    project_id: str = typer.Argument(..., metavar="ID"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    url: str | None = URL_OPTION,
) -> None:
    """Delete a project with all its trails, keys and aggregates."""
    if not yes:
        typer.confirm(f"Delete project {project_id!r} and ALL its trails?", abort=True)
    with _store(url) as store:
        store.delete_project(project_id)
        typer.echo(f"deleted project {project_id}")


@keys_app.command("create")
def create_key(
    project_id: str = typer.Argument(..., metavar="PROJECT"), url: str | None = URL_OPTION
) -> None:
    """Create a key for a project; the secret is printed this once."""
    with _store(url) as store:
        record, secret = store.create_api_key(project_id)
        typer.echo(f"key id: {record.id}")
        typer.echo(f"key (shown once, store it now): {secret}")


@keys_app.command("list")
def list_keys(
    project_id: str = typer.Argument(..., metavar="PROJECT"), url: str | None = URL_OPTION
) -> None:
    """List a project's keys, tab-separated (ids and prefixes, never secrets)."""
    with _store(url) as store:
        store.require_project(project_id)
        typer.echo("id\tprefix\tcreated_at\trevoked_at")
        for k in store.list_api_keys(project_id):
            created, revoked = iso(k.created_at) or "", iso(k.revoked_at) or ""
            typer.echo(f"{k.id}\t{k.prefix}…\t{created}\t{revoked}")


@keys_app.command("revoke")
def revoke_key(
    project_id: str = typer.Argument(..., metavar="PROJECT"),
    key_id: str = typer.Argument(..., metavar="KEY_ID"),
    url: str | None = URL_OPTION,
) -> None:
    """Revoke a key at once."""
    with _store(url) as store:
        store.revoke_api_key(project_id, key_id)
        typer.echo(f"revoked key {key_id}")
