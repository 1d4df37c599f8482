"""``llmtrail projects create|list|delete`` and ``llmtrail keys create|list|revoke``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from llmtrail.cli.app import app, fail, settings
from llmtrail.errors import AuditTrailError
from llmtrail.model.wire import iso
from llmtrail.store import Store, open_store

projects_app = typer.Typer(help="Create, list and delete projects.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke project API keys.", no_args_is_help=True)
app.add_typer(projects_app, name="projects")
app.add_typer(keys_app, name="keys")
URL_OPTION = typer.Option(None, "--url", help="Database URL (default: DATABASE_URL).")


@contextmanager
def _store(url: str | None) -> Iterator[Store]:
    store = open_store(url, settings=settings())
    try:
        yield store
    except AuditTrailError as e:
        fail(str(e))
    finally:
        store.close()


@projects_app.command("create")
def create_project(
    project_id: str = typer.Argument(..., metavar="ID", help="1-64 of A-Z a-z 0-9 _ -"),
    name: str | None = typer.Option(None, "--name", help="Display name (default: the id)."),
    retention_days: int | None = typer.Option(
        None, "--retention-days", help="Override the global retention for this project."
    ),
    url: str | None = URL_OPTION,
) -> None:
    """Create a project."""
    with _store(url) as store:
        p = store.create_project(project_id, name, retention_days)
        typer.echo(f"created project {p.id} ({p.name})")


@projects_app.command("list")
def list_projects(url: str | None = URL_OPTION) -> None:
    """List every project (tab-separated)."""
    with _store(url) as store:
        typer.echo("id\tname\tretention_days\tcreated_at")
        for p in store.list_projects():
            retention = "" if p.retention_days is None else str(p.retention_days)
            typer.echo(f"{p.id}\t{p.name}\t{retention}\t{iso(p.created_at) or ''}")


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
