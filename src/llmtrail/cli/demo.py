"""``llmtrail demo``: store, complete and read one trail the way the seed's chat route does."""

from __future__ import annotations

import uuid

import typer
from rich.table import Table

from llmtrail.cli.app import app, console, settings
from llmtrail.model import dumps, trail_to_wire
from llmtrail.store import open_store


@app.command()
def demo(url: str | None = typer.Option(None, "--url", help="Database URL.")) -> None:
    """Migrate, then store a placeholder trail, complete it and read it back."""
    s = settings()
    store = open_store(url, settings=s)
    try:
        mid = f"demo-{uuid.uuid4().hex[:12]}"
        store.create_placeholder(mid, "claude-3-7-sonnet-20250219", 3, project_id="demo")
        store.update(
            mid,
            tokens={"prompt": 1200, "completion": 350},
            cost={"prompt": "0.0036", "completion": "0.00525"},
            reasoning=["The user asks about X.", "Layer 2 says Y."],
            status="completed",
        )
        trail = store.get(mid)
        assert trail is not None
        table = Table(title=f"audit trail {mid} ({store.backend}: {store.database})")
        table.add_column("field")
        table.add_column("value")
        for key, value in trail_to_wire(trail).items():
            table.add_row(key, value if isinstance(value, str) else dumps(value))
        console.print(table)
    finally:
        store.close()
