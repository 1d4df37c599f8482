"""Pure ASGI middleware: the request-body limit, the last-resort error shield, and
per-request metrics and logs."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit, urlunsplit

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmtrail.errors import BodyTooLargeError
from llmtrail.metrics import HTTP_LATENCY, HTTP_REQUESTS
from llmtrail.model.wire import dumps
from llmtrail.server.problems import problem_body

log = structlog.stdlib.get_logger("llmtrail.server.access")
_access = logging.getLogger("llmtrail.server.access")
_errors = logging.getLogger("llmtrail.server")


class BodyLimitMiddleware:
    """Reject bodies over ``limit`` bytes with 413, counting streamed bytes, not only the
    declared Content-Length. Reading past the limit raises ``BodyTooLargeError`` inside the
    app (turned into a 413 problem by its handler)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.limit:
                    await _send_413(send, self.limit)
                    return
        seen = 0
        limit = self.limit

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLargeError(limit)
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited, tracking_send)
        except BodyTooLargeError:
            if started:
                raise
            await _send_413(send, limit)


async def _send_413(send: Send, limit: int) -> None:
    await _send_problem(
        send, 413, f"request body exceeds {limit} bytes", slug="body-too-large", close=True
    )


async def _send_problem(
    send: Send, status: int, detail: str, *, slug: str, close: bool = False
) -> None:
    body = dumps(problem_body(status, detail, slug=slug)).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ErrorShieldMiddleware:
    """Answer an unexpected exception (a bug) with a 500 problem and log it once, as one
    record with a plain traceback (no local variables, secrets redacted by ``llmtrail.logs``).

    Starlette's own ``ServerErrorMiddleware`` re-raises after answering, so uvicorn logged
    every such error a second time with the whole ASGI scope; nothing escapes this shield.

    It also makes redirects relative: Starlette's trailing-slash redirect builds an absolute
    ``Location`` from the client's ``Host`` header, which a client can set to any host.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if 300 <= message["status"] < 400:
                    message["headers"] = [_relative(h) for h in message.get("headers", ())]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except BodyTooLargeError:
            raise
        except Exception as exc:
            _errors.error(
                "unhandled error (a bug): %s %s",
                scope.get("method", ""),
                scope.get("path", ""),
                exc_info=exc,
            )
            if not started:
                await _send_problem(
                    send, 500, "internal error; it has been logged", slug="internal"
                )


def _relative(header: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    name, value = header
    if name.lower() == b"location" and value.startswith((b"http://", b"https://")):
        parts = urlsplit(value)
        path = b"/" + parts.path.lstrip(b"/")  # never "//host": that would leave this server
        return name, urlunsplit((b"", b"", path, parts.query, parts.fragment))
    return header


class RequestMetricsMiddleware:
    """Count and time every request by route template; log one line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path_format", None) or "<unmatched>"
            method = scope.get("method", "")
            HTTP_REQUESTS.labels(method, template, str(status)).inc()
            HTTP_LATENCY.labels(method, template).observe(elapsed)
            if _access.isEnabledFor(logging.INFO):
                log.info(
                    "request",
                    method=method,
                    path=scope.get("path", ""),
                    route=template,
                    status=status,
                    ms=round(elapsed * 1000, 2),
                )
