"""A small HTTP client for a remote ``llmtrail serve`` (SPEC §3), with a project key.

    from llmtrail.integrations.client import TrailClient
    trails = TrailClient("http://trails.internal:8000", key="ltk_…", project_id="my-app")
    trails.store({"messageId": "m1", "model": "gpt-4o", "tokens": {...}})
    instrument(OpenAI(), trails)          # the SDK integrations accept it as their store

``TrailClient`` (sync) and ``AsyncTrailClient`` have the store methods the integrations use —
``store``, ``create_placeholder``, ``get``, ``update`` — and raise the same errors as a local
store (``ValidationError`` with the server's field errors, ``ConflictError``,
``NotFoundError``, ``AuthError``, ``ForbiddenError``, ``UnavailableError``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from llmtrail.errors import (
    AuditTrailError,
    AuthError,
    ConflictError,
    FieldError,
    ForbiddenError,
    NotFoundError,
    UnavailableError,
    ValidationError,
)
from llmtrail.model import AuditTrail, Cost, TokenUsage, parse_trail
from llmtrail.model.wire import cost_to_wire, dumps, iso, loads, tokens_to_wire

DEFAULT_TIMEOUT = 10.0
_ERRORS: dict[int, type[AuditTrailError]] = {
    401: AuthError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
}


def _wire_value(value: Any) -> Any:
    if isinstance(value, TokenUsage):
        return tokens_to_wire(value)
    if isinstance(value, Cost):
        return cost_to_wire(value)
    if isinstance(value, datetime):
        return iso(value)
    return value


def trail_body(trail: AuditTrail | Mapping[str, Any]) -> dict[str, Any]:
    """The JSON object to POST for ``trail`` (server-set fields left out)."""
    if isinstance(trail, AuditTrail):
        names = {
            "message_id": "messageId",
            "project_id": "projectId",
            "timestamp": "timestamp",
            "model": "model",
            "reasoning": "reasoning",
            "context_layers": "contextLayers",
            "tokens": "tokens",
            "cost": "cost",
            "status": "status",
            "metadata": "metadata",
            "provider": "provider",
        }
        raw = {f.name: getattr(trail, f.name) for f in dataclasses.fields(trail)}
        return {names[k]: _wire_value(v) for k, v in raw.items() if k in names and v is not None}
    return {str(k): _wire_value(v) for k, v in trail.items()}


def update_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON object to PATCH for a partial update."""
    return {k: _wire_value(v) for k, v in fields.items()}


def trail_from_wire(data: Any) -> AuditTrail:
    """An ``AuditTrail`` from the server's JSON (trusted: server fields are kept)."""
    if not isinstance(data, Mapping):
        raise AuditTrailError("the server returned something that is not a trail")
    return parse_trail(data, None, now=datetime.now(UTC), trusted=True).trail


def raise_for_problem(response: httpx.Response) -> None:
    """Raise the llmtrail error matching an error response (RFC 9457 problem)."""
    if response.status_code < 400:
        return
    try:
        body = loads(response.content)
    except ValueError:
        body = {}
    if not isinstance(body, Mapping):
        body = {}
    detail = str(body.get("detail") or response.reason_phrase or response.status_code)
    status = response.status_code
    if status == 422:
        errors = [
            FieldError(str(e.get("field", "")), str(e.get("message", "")))
            for e in body.get("errors") or []
            if isinstance(e, Mapping)
        ]
        raise ValidationError(errors or detail)
    if status == 503:
        err = UnavailableError(detail)
        with contextlib.suppress(ValueError):
            err.retry_after = int(response.headers.get("Retry-After", "5"))
        raise err
    raise _ERRORS.get(status, AuditTrailError)(f"HTTP {status}: {detail}")


class _Base:
    def __init__(self, key: str, project_id: str) -> None:
        self.project_id = project_id
        self.headers = {
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    def _path(self, project_id: str | None, message_id: str | None = None) -> str:
        pid = quote(project_id or self.project_id, safe="")
        path = f"/api/projects/{pid}/audit-trails"
        return path if message_id is None else f"{path}/{quote(message_id, safe='')}"

    @staticmethod
    def _placeholder(
        message_id: str, model: str, context_layers: int, extra: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {
            "messageId": message_id,
            "model": model,
            "contextLayers": context_layers,
            "status": "pending",
            **extra,
        }


class TrailClient(_Base):
    """Sync client of a remote llmtrail server, scoped to one project (its key)."""

    def __init__(
        self,
        base_url: str,
        key: str,
        project_id: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        http: httpx.Client | None = None,
    ) -> None:
        super().__init__(key, project_id)
        self._owned = http is None
        self.http = http or httpx.Client(base_url=base_url, timeout=timeout)

    def _send(self, method: str, path: str, body: Any = None) -> httpx.Response:
        content = None if body is None else dumps(body).encode()
        try:
            response = self.http.request(method, path, content=content, headers=self.headers)
        except httpx.HTTPError as e:
            raise UnavailableError(f"llmtrail server unreachable: {e}") from e
        return response

    def store(
        self, trail: AuditTrail | Mapping[str, Any], project_id: str | None = None
    ) -> AuditTrail:
        """POST a trail; an identical retry returns the stored trail."""
        response = self._send("POST", self._path(project_id), trail_body(trail))
        raise_for_problem(response)
        return trail_from_wire(loads(response.content))

    def create_placeholder(
        self,
        message_id: str,
        model: str,
        context_layers: int = 0,
        project_id: str | None = None,
        **extra: Any,
    ) -> AuditTrail:
        """The seed's placeholder: a ``pending`` trail, completed later with ``update``."""
        return self.store(self._placeholder(message_id, model, context_layers, extra), project_id)

    def get(self, message_id: str, project_id: str | None = None) -> AuditTrail | None:
        """The trail, or None."""
        response = self._send("GET", self._path(project_id, message_id))
        if response.status_code == 404:
            return None
        raise_for_problem(response)
        return trail_from_wire(loads(response.content))

    def update(self, message_id: str, project_id: str | None = None, **fields: Any) -> AuditTrail:
        """PATCH the fields given (reasoning, tokens, cost, status, metadata)."""
        response = self._send("PATCH", self._path(project_id, message_id), update_body(fields))
        raise_for_problem(response)
        return trail_from_wire(loads(response.content))

    def close(self) -> None:
        if self._owned:
            self.http.close()

    def __enter__(self) -> TrailClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncTrailClient(_Base):
    """Async client of a remote llmtrail server (``await client.store(...)``)."""

    def __init__(
        self,
        base_url: str,
        key: str,
        project_id: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(key, project_id)
        self._owned = http is None
        self.http = http or httpx.AsyncClient(base_url=base_url, timeout=timeout)

    async def _send(self, method: str, path: str, body: Any = None) -> httpx.Response:
        content = None if body is None else dumps(body).encode()
        try:
            return await self.http.request(method, path, content=content, headers=self.headers)
        except httpx.HTTPError as e:
            raise UnavailableError(f"llmtrail server unreachable: {e}") from e

    async def store(
        self, trail: AuditTrail | Mapping[str, Any], project_id: str | None = None
    ) -> AuditTrail:
        response = await self._send("POST", self._path(project_id), trail_body(trail))
        raise_for_problem(response)
        return trail_from_wire(loads(response.content))

    async def create_placeholder(
        self,
        message_id: str,
        model: str,
        context_layers: int = 0,
        project_id: str | None = None,
        **extra: Any,
    ) -> AuditTrail:
        body = self._placeholder(message_id, model, context_layers, extra)
        return await self.store(body, project_id)

    async def get(self, message_id: str, project_id: str | None = None) -> AuditTrail | None:
        response = await self._send("GET", self._path(project_id, message_id))
        if response.status_code == 404:
            return None
        raise_for_problem(response)
        return trail_from_wire(loads(response.content))

    async def update(
        self, message_id: str, project_id: str | None = None, **fields: Any
    ) -> AuditTrail:
        response = await self._send(
            "PATCH", self._path(project_id, message_id), update_body(fields)
        )
        raise_for_problem(response)
        return trail_from_wire(loads(response.content))

    async def aclose(self) -> None:
        if self._owned:
            await self.http.aclose()

    async def __aenter__(self) -> AsyncTrailClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
