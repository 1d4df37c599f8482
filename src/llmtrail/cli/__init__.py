"""The ``llmtrail`` command: one Typer app; each command a small function over the library."""

from __future__ import annotations

from llmtrail.cli.app import app, main

__all__ = ["app", "main"]
