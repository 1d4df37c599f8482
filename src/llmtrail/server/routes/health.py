"""``/healthz`` (the process is up) and ``/readyz`` (the database answers)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from llmtrail.server.body import WireJSONResponse, store_of
from llmtrail.server.schemas import Health, problems
from llmtrail.server.threads import call

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz(request: Request) -> Response:
    """200 while the process serves requests, with the backend and database in use."""
    store = store_of(request)
    return WireJSONResponse({"status": "ok", "backend": store.backend, "database": store.database})


@router.get("/readyz", response_model=Health, responses=problems(503), summary="Readiness")
async def readyz(request: Request) -> Response:
    """200 when the database answers a query; 503 (with Retry-After) when it does not."""
    store = store_of(request)
    await call(store, store.ping)
    return WireJSONResponse({"status": "ok", "backend": store.backend, "database": store.database})
