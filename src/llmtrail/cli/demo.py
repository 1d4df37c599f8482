"""``llmtrail demo``: fill a ``demo`` project with a few weeks of realistic trails."""

from __future__ import annotations

import typer

from llmtrail.cli.app import app, console, settings
from llmtrail.demo_data import DEMO_PROJECT, fill_demo
from llmtrail.store import Store, open_store


def seed_demo(store: Store, project_id: str = DEMO_PROJECT, days: int = 21) -> str:
    """Fill the demo project (unless it already has trails) and return a new project key."""
    project, stored = fill_demo(store, project_id, days=days)
    _, key = store.create_api_key(project.id)
    if stored:
        console.print(f"demo: stored {stored} trails over {days} days in project '{project.id}'")
    else:
        console.print(f"demo: project '{project.id}' already has trails; left as it is")
    typer.echo(f"demo: project key for '{project.id}' (shown once): {key}")
    return key


@app.command()
def demo(
    url: str | None = typer.Option(None, "--url", help="Database URL (default: DATABASE_URL)."),
    project: str = typer.Option(DEMO_PROJECT, "--project", help="Project to fill."),
    days: int = typer.Option(21, "--days", min=1, max=365, help="How many days of trails."),
) -> None:
    """Fill a demo project with a few weeks of realistic trails and print a project key."""
    s = settings()
    store = open_store(url, settings=s)
    try:
        console.print(f"database: {store.backend} {store.database}")
        seed_demo(store, project, days)
        console.print(
            f"see it: llmtrail serve, then open http://127.0.0.1:8000/projects/{project}/dashboard"
        )
    finally:
        store.close()
