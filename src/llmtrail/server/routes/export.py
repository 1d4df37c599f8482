"""Streamed export of a project's trails as JSONL (``trail_to_wire`` lines) or CSV.

JSONL is also how a memory-backed service is drained before a restart: ``llmtrail import``
reads it back.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from starlette.concurrency import iterate_in_threadpool
from starlette.responses import Response, StreamingResponse

from llmtrail.model import AuditTrail, Page, TrailFilter
from llmtrail.model.wire import dumps, trail_to_wire
from llmtrail.server.access_log import later_note
from llmtrail.server.body import store_of
from llmtrail.server.query import Filter
from llmtrail.server.schemas import problems
from llmtrail.server.threads import call
from llmtrail.store import Store

router = APIRouter(prefix="/api/projects/{projectId}/audit-trails", tags=["audit trails"])
PAGE = 500
CSV_COLUMNS = (
    "id", "messageId", "projectId", "timestamp", "model", "status", "contextLayers",
    "promptTokens", "completionTokens", "totalTokens", "cacheReadTokens", "cacheWriteTokens",
    "reasoningTokens", "costPrompt", "costCompletion", "costTotal", "costSource",
    "priceVersion", "reasoning", "metadata", "createdAt", "updatedAt",
    # added later, so at the end: readers that index columns by position keep working
    "provider", "cacheWrite1hTokens",
)  # fmt: skip
MEDIA = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
# A cell a spreadsheet would run as a formula (OWASP "CSV injection"): a messageId such as
# ``=HYPERLINK(…)`` is written as ``'=HYPERLINK(…)``, which every spreadsheet shows as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "One JSON trail per line, or CSV with a header row",
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        **problems(401, 403, 422, 503),
    },
    summary="Export trails (streamed)",
)
async def export_trails(
    request: Request,
    filter: Filter,
    format: Annotated[Literal["jsonl", "csv"], Query(description="jsonl or csv")] = "jsonl",
) -> Response:
    """Every trail matching the filters, newest first, streamed page by page."""
    store = store_of(request)
    first = await call(store, store.list_trails, filter, limit=PAGE)  # fail early: 503/422
    render = _jsonl if format == "jsonl" else _csv
    lines = render(_counted(_pages(store, filter, first), filter.project_id, later_note(request)))
    name = f"{filter.project_id}-audit-trails.{format}"
    return StreamingResponse(
        iterate_in_threadpool(lines),
        media_type=MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _counted(
    trails: Iterator[AuditTrail], project_id: str, note: Callable[[str, int], None]
) -> Iterator[AuditTrail]:
    """``trails``, logging in the access log how many were sent (also when cut short)."""
    sent = 0
    try:
        for t in trails:
            sent += 1
            yield t
    finally:
        note(project_id, sent)


def _pages(store: Store, filter: TrailFilter, first: Page) -> Iterator[AuditTrail]:
    page = first
    while True:
        yield from page.items
        if page.next_cursor is None:
            return
        page = store.list_trails(filter, limit=PAGE, cursor=page.next_cursor)


def _jsonl(trails: Iterator[AuditTrail]) -> Iterator[bytes]:
    buf: list[str] = []
    for t in trails:
        buf.append(dumps(trail_to_wire(t), separators=(",", ":")))
        if len(buf) >= 100:
            yield ("\n".join(buf) + "\n").encode()
            buf = []
    if buf:
        yield ("\n".join(buf) + "\n").encode()


def csv_cell(value: Any) -> Any:
    """``value`` safe to open in a spreadsheet: text that starts like a formula gets a ``'``."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_row(t: AuditTrail) -> list[Any]:
    """One trail as the CSV columns of ``CSV_COLUMNS`` (JSON text for lists and maps), each
    text cell neutralised by ``csv_cell``."""
    return [csv_cell(v) for v in _csv_values(t)]


def _csv_values(t: AuditTrail) -> list[Any]:
    w = trail_to_wire(t)
    tok, cost = w["tokens"], w["cost"]
    return [
        w["id"], w["messageId"], w["projectId"], w["timestamp"], w["model"], w["status"],
        w["contextLayers"], tok["prompt"], tok["completion"], tok["total"],
        tok.get("cacheRead", ""), tok.get("cacheWrite", ""), tok.get("reasoning", ""),
        str(cost["prompt"]), str(cost["completion"]), str(cost["total"]), w["costSource"],
        w["priceVersion"] or "",
        "" if w["reasoning"] is None else dumps(w["reasoning"]),
        "" if w["metadata"] is None else dumps(w["metadata"]),
        w["createdAt"], w["updatedAt"],
        w["provider"] or "", tok.get("cacheWrite1h", ""),
    ]  # fmt: skip


def _csv(trails: Iterator[AuditTrail]) -> Iterator[bytes]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for n, t in enumerate(trails, 1):
        writer.writerow(csv_row(t))
        if n % 100 == 0:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()
