"""The Typer application and the helpers every command shares."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from rich.console import Console

from llmtrail.config import Settings, load_settings
from llmtrail.errors import AuditTrailError, ValidationError
from llmtrail.logs import configure_logging

app = typer.Typer(
    name="llmtrail",
    help="A durable, queryable, exactly-priced audit trail for every LLM message.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


def settings() -> Settings:
    s = load_settings()
    configure_logging(s.log_level, s.log_format, secrets=[s.admin_key])
    return s


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _register() -> None:
    # Each module adds its commands to ``app`` on import.
    from llmtrail.cli import db, demo  # noqa: F401

    for optional in ("serve", "projects", "retention", "report", "transfer", "prices", "ledger"):
        try:
            __import__(f"llmtrail.cli.{optional}")
        except ModuleNotFoundError as e:
            if e.name != f"llmtrail.cli.{optional}":
                raise


def main() -> None:
    """Entry point of the console script."""
    _register()
    try:
        app()
    except AuditTrailError as e:  # a bad setting (e.g. a retention below the floor): exit 2
        err_console.print(f"[bold red]error:[/] {e}", highlight=False)
        sys.exit(2 if isinstance(e, ValidationError) else 1)
