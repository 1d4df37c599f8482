"""``llmtrail serve``: the REST API (SPEC §3) through uvicorn."""

from __future__ import annotations

import gc
import ipaddress
import os
import secrets
from typing import Any

import typer

from llmtrail.cli.app import app, err_console, fail, settings
from llmtrail.demo_data import DEMO_PROJECT
from llmtrail.store import open_store


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the service reachable only from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind."),
    port: int = typer.Option(8000, "--port", min=0, max=65_535, help="TCP port."),
    demo: bool = typer.Option(False, "--demo", help="Fill a 'demo' project first."),
    url: str | None = typer.Option(None, "--url", help="Database URL (default: DATABASE_URL)."),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="Server processes (database backends only)."
    ),
) -> None:
    """Serve the REST API. Without AUDIT_TRAIL_ADMIN_KEY, only on loopback, with a
    generated admin key printed here."""
    import uvicorn

    from llmtrail.errors import ValidationError
    from llmtrail.retention.schedule import parse_schedule
    from llmtrail.server.app import create_app
    from llmtrail.server.protocol import GuardedHTTPProtocol

    s = settings()
    try:
        parse_schedule(s.cleanup_cron, s.cleanup_tz)  # a bad schedule stops us before binding
    except ValidationError as e:
        fail(str(e))
    if s.admin_key is None:
        if not is_loopback(host):
            fail(
                f"refusing to bind to {host} without AUDIT_TRAIL_ADMIN_KEY: set an admin key, "
                "or bind to 127.0.0.1"
            )
        s = s.model_copy(update={"admin_key": "lta_" + secrets.token_urlsafe(32)})
        err_console.print(
            "no AUDIT_TRAIL_ADMIN_KEY set; generated an admin key for this run (loopback only):"
        )
        typer.echo(f"admin key: {s.admin_key}")
    from llmtrail.logs import add_secret

    add_secret(s.admin_key)
    store = open_store(url, settings=s)
    try:
        shown = "localhost" if host in ("0.0.0.0", "::") else host
        base = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}"
        typer.echo(f"llmtrail on {store.backend} ({store.database})")
        if demo:
            from llmtrail.cli.demo import seed_demo

            seed_demo(store)
            typer.echo(f"dashboard: {base}/projects/{DEMO_PROJECT}/dashboard")
        typer.echo(f"API: {base}/api  ·  docs: {base}/docs  ·  health: {base}/healthz")
        options: dict[str, Any] = {
            "host": host,
            "port": port,
            "log_config": None,
            "access_log": False,
            "proxy_headers": False,
            "server_header": False,
            "http": GuardedHTTPProtocol,
        }
        if workers == 1:
            GuardedHTTPProtocol.configure(s)
            application = create_app(store, s)
            # Objects alive now live as long as the process: keep them out of the collector's
            # way, so full collections stay short and do not show up as latency spikes.
            gc.collect()
            gc.freeze()
            uvicorn.run(application, **options)
            return
        if store.backend == "memory":
            fail("--workers needs a database backend: each process would have its own memory")
        # Each worker process builds its app from the environment: hand it what was decided here.
        os.environ["AUDIT_TRAIL_ADMIN_KEY"] = s.admin_key or ""
        if url is not None:
            os.environ["DATABASE_URL"] = url
        store.close()
        from llmtrail.server.epoch import create_epoch_file

        epoch = create_epoch_file()  # revocations apply at once in every worker
        os.environ["AUDIT_TRAIL_AUTH_EPOCH_FILE"] = str(epoch)
        try:
            uvicorn.run(
                "llmtrail.server.app:app_from_environment",
                factory=True,
                workers=workers,
                **options,
            )
        finally:
            epoch.unlink(missing_ok=True)
    finally:
        store.close()
