"""``GET /api/projects/{projectId}/access-log``: who read the project's trails (SPEC §10)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from llmtrail.errors import ValidationError
from llmtrail.model import access_to_wire, rules
from llmtrail.server.access_log import note_read
from llmtrail.server.auth import AdminProject
from llmtrail.server.body import WireJSONResponse, store_of
from llmtrail.server.query import instant
from llmtrail.server.schemas import problems
from llmtrail.server.threads import call

router = APIRouter(prefix="/api/projects/{projectId}", tags=["compliance"])


@router.get(
    "/access-log",
    responses=problems(401, 403, 404, 422, 503),
    summary="Who read this project's trails (admin)",
)
async def access_log(
    request: Request,
    project_id: AdminProject,
    since: Annotated[str | None, Query(description="RFC 3339: reads at or after")] = None,
    until: Annotated[str | None, Query(description="RFC 3339: reads before")] = None,
    key_id: Annotated[str | None, Query(alias="keyId", max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=rules.MAX_BATCH)] = 100,
    cursor: Annotated[str | None, Query(max_length=200, description="from nextCursor")] = None,
) -> Response:
    """The reads of trails (GET one, list, export, analytics, snapshot, this log), newest
    first: time, key id (``admin`` for the admin key; never a secret), route, items returned."""
    errs = rules.Errors()
    lo, hi = instant(errs, "since", since), instant(errs, "until", until)
    if errs:
        raise ValidationError(errs.items)
    store = store_of(request)
    await call(store, store.require_project, project_id)
    page = await call(
        store,
        store.access_log,
        project_id,
        since=lo if isinstance(lo, datetime) else None,
        until=hi if isinstance(hi, datetime) else None,
        key_id=key_id,
        limit=limit,
        cursor=cursor,
    )
    note_read(request, project_id, len(page.items))  # reading the log is a read, too
    return WireJSONResponse(
        {"items": [access_to_wire(e) for e in page.items], "nextCursor": page.next_cursor}
    )
