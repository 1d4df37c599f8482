"""RFC 9457 ``application/problem+json`` errors, and the ONE table mapping error types to
HTTP status codes. Every failure the service returns goes through ``problem_response``."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from llmtrail.errors import (
    AuditTrailError,
    AuthError,
    BodyTooLargeError,
    ConflictError,
    FieldError,
    ForbiddenError,
    MalformedBodyError,
    MalformedJSONError,
    NotFoundError,
    SchemaOutdatedError,
    UnavailableError,
    UnsupportedMediaTypeError,
    ValidationError,
)
from llmtrail.model.wire import dumps

log = logging.getLogger("llmtrail.server")

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://llmtrail.dev/problems/"

#: error type → (status, problem type slug, title). The first matching entry wins.
ERROR_TABLE: tuple[tuple[type[AuditTrailError], int, str, str], ...] = (
    (ValidationError, 422, "validation-error", "Invalid input"),
    (ConflictError, 409, "conflict", "Conflict"),
    (NotFoundError, 404, "not-found", "Not found"),
    (AuthError, 401, "unauthorized", "Unauthorized"),
    (ForbiddenError, 403, "forbidden", "Forbidden"),
    (SchemaOutdatedError, 503, "schema-outdated", "Database schema is outdated"),
    (UnavailableError, 503, "unavailable", "Service unavailable"),
    (MalformedJSONError, 400, "malformed-json", "Malformed JSON"),
    (BodyTooLargeError, 413, "body-too-large", "Payload Too Large"),
    (MalformedBodyError, 400, "malformed-body", "Malformed body"),
    (UnsupportedMediaTypeError, 415, "unsupported-media-type", "Unsupported Media Type"),
)
RETRY_AFTER_SECONDS = 5


def status_of(error: AuditTrailError) -> tuple[int, str, str]:
    """The HTTP status, problem type slug and title of a domain error."""
    for cls, status, slug, title in ERROR_TABLE:
        if isinstance(error, cls):
            return status, slug, title
    return 400, "bad-request", "Bad request"


def problem_body(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    title: str | None = None,
    errors: Iterable[FieldError] | None = None,
) -> dict[str, Any]:
    """The JSON object of one problem."""
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": TYPE_BASE + slug if slug else "about:blank",
        "title": title or phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    return body


def problem_response(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    title: str | None = None,
    errors: Iterable[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """An ``application/problem+json`` response."""
    body = problem_body(status, detail, slug=slug, title=title, errors=errors)
    return Response(dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def error_response(error: AuditTrailError) -> Response:
    """The problem response for a domain error, through ``ERROR_TABLE``."""
    status, slug, title = status_of(error)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="llmtrail"'
    if status == 503:
        retry = getattr(error, "retry_after", RETRY_AFTER_SECONDS)
        headers["Retry-After"] = str(retry)
    errors = error.errors if isinstance(error, ValidationError) else None
    return problem_response(
        status, _safe_text(str(error)), slug=slug, title=title, errors=errors, headers=headers
    )


def _safe_text(text: str) -> str:
    """Text safe to encode as UTF-8 (a lone surrogate in an echoed value must not crash)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _field_of(loc: Iterable[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("query", "path", "body", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts)


def install(app: FastAPI) -> None:
    """Register every exception handler on ``app``."""

    async def on_domain(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, AuditTrailError)
        return error_response(exc)

    async def on_request_validation(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [
            FieldError(_field_of(e.get("loc", ())), _safe_text(str(e.get("msg", "invalid"))))
            for e in exc.errors()
        ]
        detail = "; ".join(str(e) for e in errors) or "invalid request"
        return problem_response(
            422, detail, slug="validation-error", title="Invalid input", errors=errors
        )

    async def on_malformed(_: Request, exc: Exception) -> Response:
        return problem_response(
            400, f"request body is not valid JSON: {_safe_text(str(exc))}", slug="malformed-json"
        )

    async def on_too_large(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, BodyTooLargeError)
        return problem_response(413, str(exc), slug="body-too-large")

    async def on_http(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = "no such route"
        elif exc.status_code == 405 and detail == "Method Not Allowed":
            detail = "method not allowed on this route"
        headers = dict(exc.headers or {})
        return problem_response(exc.status_code, _safe_text(detail), headers=headers)

    app.add_exception_handler(AuditTrailError, on_domain)
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(MalformedJSONError, on_malformed)
    app.add_exception_handler(BodyTooLargeError, on_too_large)
    app.add_exception_handler(StarletteHTTPException, on_http)
