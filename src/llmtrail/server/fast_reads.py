"""The API's hottest read served without FastAPI's routing and dependency solving.

``GET /api/projects/{projectId}/audit-trails/{messageId}`` is what an app calls most. Through
FastAPI, matching ~20 routes and solving its dependencies cost more CPU than the database
read itself. ``FastTrailReads`` answers it directly when everything about the request is
ordinary: a bearer key that is the admin key or a project key already in the key cache for
that project, a valid messageId, a trail of that project. Its answer is the route's answer
(the same ``WireJSONResponse`` of ``trail_to_wire``), and the request is counted and logged by
the metrics middleware under the same route template.

Every other case — no or unknown key, another project's key, a bad id, a missing trail, an
unavailable database, any exception — is handed, untouched, to the app, whose route, problem
responses and error mapping stay the only authority on anything but a plain 200.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from llmtrail.model import AccessEntry, AuditTrail, rules, trail_to_wire
from llmtrail.server.access_log import route_name
from llmtrail.server.auth import KeyCache, key_id_of, known_principal, reaches
from llmtrail.server.body import WireJSONResponse
from llmtrail.server.routes.trails import TRAIL_PATH, read_own
from llmtrail.server.threads import in_store_thread

_PATH = re.compile(rf"/api/projects/({rules.PROJECT_ID_RE.pattern})/audit-trails/(.+)")


class FastTrailReads:
    """ASGI middleware: the ordinary ``GET`` of one trail, or the app for anything else."""

    def __init__(self, app: ASGIApp, fastapi: FastAPI) -> None:
        self.app = app
        self.fastapi = fastapi
        self.route: Any = None  # the route's object, learnt from the first request it serves
        self.served = 0  # requests answered here (the rest went to the app)
        fastapi.state.fast_reads = self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]:
            m = _PATH.fullmatch(scope["path"])
            if m is not None:
                trail = await self._ordinary_read(scope, m[1], m[2])
                if trail is not None:
                    scope["route"] = self.route
                    self.served += 1
                    self._note(scope, m[1])
                    response = WireJSONResponse(trail_to_wire(trail))
                    await response(scope, receive, send)
                    return
                await self.app(scope, receive, send)
                route = scope.get("route")
                if self.route is None and getattr(route, "path", "").endswith(TRAIL_PATH):
                    self.route = route
                return
        await self.app(scope, receive, send)

    def _note(self, scope: Scope, project_id: str) -> None:
        """The access log's entry of the read, as the route writes it (``note_read``)."""
        writer = getattr(self.fastapi.state, "access_log", None)
        who = scope.get("state", {}).get("llmtrail_principal")
        if writer is not None and who is not None:
            route = route_name(self.route.path)
            writer.note(AccessEntry(datetime.now(UTC), project_id, key_id_of(who), route, 1))

    async def _ordinary_read(
        self, scope: Scope, project_id: str, message_id: str
    ) -> AuditTrail | None:
        """The trail, when this is an ordinary successful read; else None (the app answers).

        The same rules as the route, from the same functions: ``known_principal`` and
        ``reaches`` (auth, without I/O: only keys already cached), ``rules.could_be_message_id`` and
        ``read_own`` (the route's own read)."""
        state = self.fastapi.state
        store = state.store
        if self.route is None or store is None or message_id in rules.RESERVED_MESSAGE_IDS:
            return None
        secret = _bearer(scope)
        cache: KeyCache | None = getattr(state, "key_cache", None)
        who = None if secret is None else known_principal(state.settings, cache, secret)
        if who is None or not reaches(who, project_id) or not rules.could_be_message_id(message_id):
            return None
        try:
            trail: AuditTrail | None = await in_store_thread(
                read_own, store, project_id, message_id
            )
        except Exception:
            return None  # the app answers (and maps the error) the usual way
        scope.setdefault("state", {})["llmtrail_principal"] = who
        return trail


def _bearer(scope: Scope) -> str | None:
    """The bearer key of the request, parsed as FastAPI's ``HTTPBearer`` does, or None."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, param = value.decode("latin-1").partition(" ")
            secret = param.strip()
            return secret if scheme.lower() == "bearer" and secret else None
    return None
