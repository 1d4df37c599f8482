"""The HTTP service (SPEC §3): a thin FastAPI shell around one ``Store``."""

from llmtrail.server.app import create_app

__all__ = ["create_app"]
