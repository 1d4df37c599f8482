"""``/metrics``: Prometheus text; anyone on loopback, else the admin key."""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, Request
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from llmtrail.errors import AuthError
from llmtrail.metrics import REGISTRY
from llmtrail.server.auth import Credentials, is_admin
from llmtrail.server.schemas import problems

router = APIRouter(tags=["health"])


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    if host in ("testclient", "localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _admin(request: Request, creds: HTTPAuthorizationCredentials | None) -> bool:
    return creds is not None and is_admin(request, creds.credentials)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **problems(401)},
)
async def metrics(request: Request, creds: Credentials) -> Response:
    """Request counts and latencies per route, trails stored, store errors, backend in use."""
    if not (_loopback(request) or _admin(request, creds)):
        raise AuthError("/metrics needs the admin key from outside loopback")
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
