"""Logging set-up for the service and the CLI: stdlib logging rendered by structlog.

Two rules hold for every record, console or JSON: tracebacks are plain text without local
variables (rich's "show locals" printed the whole ASGI scope, bearer keys included, and took
seconds per error), and every string that reaches the output passes ``redact`` first.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

REDACTED = "[redacted]"
# Bearer credentials in any rendering (a header dict, a tuple of bytes, a curl line) and the
# shapes of llmtrail's own keys (``lta_`` admin keys it generates, ``ltk_`` project keys).
_SECRET_RES = (
    re.compile(r"(?i)(bearer\s+)[^\s'\",;)\]}]+"),
    re.compile(r"\blt[ak]_[A-Za-z0-9_-]{8,}"),
)
_extra_secrets: list[str] = []


def add_secret(secret: str | None) -> None:
    """Redact this literal (e.g. a configured admin key) wherever it appears in a log."""
    if secret and len(secret) >= 8 and secret not in _extra_secrets:
        _extra_secrets.append(secret)


def redact(text: str) -> str:
    """``text`` with every credential replaced by ``[redacted]``."""
    for secret in _extra_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern in _SECRET_RES:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, text)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        return redact(value.decode("utf-8", "backslashreplace"))
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value


def redact_processor(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: redact every value (run after the traceback became text)."""
    for key, value in event_dict.items():
        if not isinstance(value, int | float | bool) and value is not None:
            event_dict[key] = _redact_value(value)
    return event_dict


def _renderer(fmt: str) -> structlog.types.Processor:
    if fmt == "json":
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(
        colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
    )


def configure_logging(
    level: str = "INFO", fmt: str = "console", secrets: Iterable[str | None] = ()
) -> None:
    """Route stdlib and structlog records through one handler on stderr."""
    for secret in secrets:
        add_secret(secret)
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.stdlib.PositionalArgumentsFormatter(),
                structlog.processors.format_exc_info,  # plain text, no locals
                redact_processor,
                _renderer(fmt),
            ],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("alembic", "sqlalchemy.engine"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
