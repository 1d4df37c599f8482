"""``/metrics``: Prometheus text; anyone on loopback, else the admin key."""

from __future__ import annotations

import contextlib
import ipaddress

from fastapi import APIRouter, Request
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from llmtrail.errors import AuthError, UnavailableError
from llmtrail.metrics import BUDGET_AMOUNT, BUDGET_SPENT, BUDGET_USED, REGISTRY
from llmtrail.server.auth import Credentials, is_admin
from llmtrail.server.body import store_of
from llmtrail.server.schemas import problems
from llmtrail.server.threads import call
from llmtrail.store.base import Store

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
    store = store_of(request)
    with contextlib.suppress(UnavailableError):  # the others still answer while it is down
        await call(store, budget_gauges, store)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def budget_gauges(store: Store) -> None:
    """Set the ``llmtrail_budget_*`` gauges from every project with a budget (scrape time)."""
    statuses = [
        s
        for p in store.list_projects()
        if p.budget is not None and (s := store.budget_status(p.id)) is not None
    ]
    for gauge in (BUDGET_AMOUNT, BUDGET_SPENT, BUDGET_USED):
        gauge.clear()  # a budget removed or a project deleted leaves no stale series
    for s in statuses:
        labels = (s.project_id, s.budget.period)
        BUDGET_AMOUNT.labels(*labels).set(float(s.budget.amount))
        BUDGET_SPENT.labels(*labels).set(float(s.spent))
        BUDGET_USED.labels(*labels).set(float(s.used))
