"""``POST /v1/traces``: OTLP/HTTP trace exports (SPEC §8), a thin shell over ``llmtrail.otel``.

Point any OpenTelemetry exporter here: ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://HOST/v1/traces``
and ``OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer <project key>``.
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Request
from starlette.responses import Response

from llmtrail.config import Settings
from llmtrail.otel import decompress, ingest, media_type, parse_request, response_body
from llmtrail.server.auth import AnyKey, may_create_project
from llmtrail.server.body import store_of
from llmtrail.server.schemas import problems
from llmtrail.server.threads import call, in_store_thread

router = APIRouter(tags=["opentelemetry"])
log = structlog.stdlib.get_logger("llmtrail.server.otlp")
#: a compressed export may inflate to this many times the body limit
INFLATE_FACTOR = 8


@router.post(
    "/v1/traces",
    responses={
        200: {
            "description": "ExportTraceServiceResponse (protobuf or JSON, as sent); spans "
            "that could not be trails are counted in partialSuccess.rejectedSpans",
        },
        **problems(400, 401, 413, 415, 503),
    },
    summary="Ingest OTLP/HTTP traces (protobuf or JSON, gzip)",
)
async def export_traces(request: Request, principal: AnyKey) -> Response:
    """Every LLM span becomes a trail of the key's project (the admin key: of the project in
    the resource attribute ``llmtrail.project.id``); answered once the trails are committed."""
    kind = media_type(request.headers.get("content-type"))
    settings: Settings = request.app.state.settings
    raw = await request.body()
    encoding = request.headers.get("content-encoding")
    limit = settings.max_body_bytes * INFLATE_FACTOR
    # inflating and parsing megabytes is CPU work: in a worker thread, not on the event loop
    export = await in_store_thread(lambda: parse_request(decompress(raw, encoding, limit), kind))
    store = store_of(request)
    project_id = None if principal == "admin" else principal.project_id
    result = await call(
        store,
        ingest,
        store,
        export,
        project_id=project_id,
        create_project=may_create_project(request),
    )
    log.debug(
        "otlp export",
        stored=result.stored,
        duplicates=result.duplicates,
        ignored=result.ignored,
        rejected=result.rejected,
    )
    return Response(response_body(kind, result.rejected, result.message), media_type=kind)
