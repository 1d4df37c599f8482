"""The application factory: ``create_app(store, settings)``."""

from __future__ import annotations

import gc
import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.concurrency import run_in_threadpool

from llmtrail import __version__
from llmtrail.config import Settings, load_settings
from llmtrail.ledger.sealer import PeriodicSealer
from llmtrail.logs import add_secret
from llmtrail.metrics import BACKEND_INFO
from llmtrail.server import problems
from llmtrail.server.access_log import AccessLogWriter
from llmtrail.server.body import WireJSONResponse
from llmtrail.server.fast_reads import FastTrailReads
from llmtrail.server.group_commit import GroupCommit
from llmtrail.server.middleware import (
    BodyLimitMiddleware,
    ErrorShieldMiddleware,
    RequestMetricsMiddleware,
)
from llmtrail.server.routes import include_all
from llmtrail.server.schemas import PROBLEM_CONTENT
from llmtrail.server.threads import set_store_threads
from llmtrail.store import Store, open_store

log = logging.getLogger("llmtrail.server")

DESCRIPTION = """\
An audit trail for every LLM message: record and read trails over HTTP.

Authenticate with `Authorization: Bearer <key>`: the admin key (`AUDIT_TRAIL_ADMIN_KEY`) or a
project key created by the admin. Errors are RFC 9457 `application/problem+json`.
"""


def _start_scheduler(store: Store, settings: Settings) -> Any:
    try:
        retention = importlib.import_module("llmtrail.retention")
    except ModuleNotFoundError as e:
        if e.name != "llmtrail.retention":
            raise
        return None
    start = getattr(retention, "start_scheduler", None)
    return start(store, settings) if start is not None else None


def _budget_alerts(store: Store, settings: Settings) -> Any:
    """The budget alert checker, when a webhook is configured."""
    if not settings.alert_webhook_url:
        return None
    from llmtrail.alerts import BudgetAlerts

    alerts = BudgetAlerts(
        store,
        settings.alert_webhook_url,
        secret=settings.alert_secret,
        seconds=settings.alert_check_seconds,
    )
    alerts.start()
    return alerts


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with every error response documented as problem+json."""
    if app.openapi_schema is None:
        doc = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for ops in doc.get("paths", {}).values():
            for op in ops.values():
                responses = op.setdefault("responses", {})
                for code, resp in responses.items():
                    if code[0] in "45":
                        resp["content"] = PROBLEM_CONTENT
                responses.setdefault(
                    "default", {"description": "An error (RFC 9457)", "content": PROBLEM_CONTENT}
                )
        app.openapi_schema = doc
    return app.openapi_schema


def create_app(store: Store | None = None, settings: Settings | None = None) -> FastAPI:
    """The FastAPI app serving ``store`` (opened from ``settings`` at start-up if None).

    A store passed in stays the caller's to close; one opened here is closed at shutdown.
    """
    settings = settings or load_settings()
    add_secret(settings.admin_key)  # never printed by any log record
    add_secret(settings.alert_secret)
    set_store_threads(settings.store_threads)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = app.state.store is None
        if owned:
            app.state.store = await run_in_threadpool(open_store, settings=settings)
        s: Store = app.state.store
        BACKEND_INFO.labels(s.backend, s.database).set(1)
        log.info("llmtrail serving: backend=%s database=%s", s.backend, s.database)
        scheduler = await run_in_threadpool(_start_scheduler, s, settings)
        batcher = GroupCommit(s) if settings.group_commit else None
        if batcher is not None:
            batcher.start()
        app.state.group_commit = batcher
        reads = AccessLogWriter(s)
        reads.start()
        app.state.access_log = reads
        sealer = PeriodicSealer(s, settings.seal_seconds)
        await run_in_threadpool(sealer.start)
        alerts = _budget_alerts(s, settings)
        try:
            yield
        finally:
            if batcher is not None:
                app.state.group_commit = None
                await batcher.stop()
            app.state.access_log = None
            await run_in_threadpool(reads.stop)  # a clean shutdown loses no entry
            await run_in_threadpool(sealer.stop)
            if alerts is not None:
                await run_in_threadpool(alerts.stop)
            if scheduler is not None:
                await run_in_threadpool(scheduler.shutdown)
            if owned:
                await run_in_threadpool(s.close)
                app.state.store = None

    app = FastAPI(
        title="llmtrail",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        default_response_class=WireJSONResponse,
        docs_url=None,  # routes/docs.py serves Swagger UI from the package, not a CDN
        redoc_url=None,
    )
    app.state.store = store
    app.state.settings = settings
    app.state.group_commit = None
    app.state.access_log = None
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    problems.install(app)
    include_all(app)
    app.add_middleware(FastTrailReads, fastapi=app)  # innermost: inside metrics and limits
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(ErrorShieldMiddleware)  # every bug answered 500 and logged once
    app.add_middleware(RequestMetricsMiddleware)
    return app


def app_from_environment() -> FastAPI:
    """The app of one ``llmtrail serve --workers N`` process, configured from the environment."""
    from llmtrail.logs import configure_logging
    from llmtrail.server.protocol import GuardedHTTPProtocol

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format, secrets=[settings.admin_key])
    GuardedHTTPProtocol.configure(settings)  # this worker's connections (limits, timeout)
    app = create_app(None, settings)
    gc.collect()
    gc.freeze()  # the start-up heap lives as long as the process (shorter full collections)
    return app
