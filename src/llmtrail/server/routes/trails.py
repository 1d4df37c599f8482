"""Audit trails of one project: record (one or a batch), read, update, list."""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Path, Query, Request
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import Response

from llmtrail.errors import AuditTrailError, NotFoundError, ValidationError
from llmtrail.metrics import TRAILS_STORED
from llmtrail.model import AuditTrail, StoreOutcome, rules
from llmtrail.model.wire import trail_to_wire
from llmtrail.server.access_log import note_read
from llmtrail.server.auth import ProjectAccess, may_create_project
from llmtrail.server.body import WireJSONResponse, read_object, store_of
from llmtrail.server.group_commit import GroupCommit
from llmtrail.server.problems import problem_body, status_of
from llmtrail.server.query import Filter
from llmtrail.server.schemas import (
    BatchIn,
    BatchOut,
    TrailIn,
    TrailOut,
    TrailPage,
    TrailPatch,
    body_doc,
    problems,
)
from llmtrail.server.threads import call
from llmtrail.store import Store

router = APIRouter(prefix="/api/projects/{projectId}/audit-trails", tags=["audit trails"])
log = structlog.stdlib.get_logger("llmtrail.server.trails")
MAX_BATCH = rules.MAX_BATCH
MessageId = Annotated[
    str,
    Path(alias="messageId", description="The trail's messageId (percent-encoded; may hold '/')."),
]


class _MessageIdConvertor(Convertor[str]):
    """A path parameter that takes the rest of the path, '/' included, but never nothing:
    ``…/audit-trails/a%2Fb`` names the trail ``a/b``; ``…/audit-trails/`` stays a redirect."""

    regex = ".+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("messageid", _MessageIdConvertor())
TRAIL_PATH = "/{messageId:messageid}"


def _stored(store: Store, outcome: StoreOutcome) -> None:
    if outcome.created:
        TRAILS_STORED.labels(store.backend).inc()
        t = outcome.trail
        log.debug(
            "trail stored",
            messageId=t.message_id,
            projectId=t.project_id,
            model=t.model,
            cost=str(t.cost.total) if t.cost else None,
        )


@router.post(
    "",
    status_code=201,
    response_model=TrailOut,
    responses={
        200: {"description": "An identical retry: the stored trail", "model": TrailOut},
        **problems(400, 401, 403, 409, 413, 422, 503),
    },
    openapi_extra=body_doc(TrailIn),
    summary="Record a trail",
)
async def create_trail(request: Request, project_id: ProjectAccess) -> Response:
    """201 with the new trail; 200 for an identical retry; 409 if the messageId exists with
    different content."""
    data = await read_object(request)
    store = store_of(request)
    batcher: GroupCommit | None = request.app.state.group_commit
    create = may_create_project(request)
    if batcher is not None:
        outcome = await batcher.store_outcome(data, project_id, create_project=create)
    else:
        outcome = await call(store, store.store_outcome, data, project_id, create_project=create)
    _stored(store, outcome)
    return WireJSONResponse(
        trail_to_wire(outcome.trail), status_code=201 if outcome.created else 200
    )


@router.post(
    "/batch",
    response_model=BatchOut,
    responses=problems(400, 401, 403, 413, 422, 503),
    openapi_extra=body_doc(BatchIn),
    summary="Record up to 1,000 trails",
)
async def create_batch(request: Request, project_id: ProjectAccess) -> Response:
    """``{"items":[…]}``; per item, in order, the status it alone would have had and the
    trail or the problem. Valid items land even when others are rejected."""
    data = await read_object(request)
    unknown = [k for k in data if k != "items"]
    items = data.get("items")
    if unknown:
        raise ValidationError(f"unknown field(s) {', '.join(map(str, unknown))}", field="body")
    if not isinstance(items, list):
        raise ValidationError("must be an array of trails", field="items")
    if len(items) > MAX_BATCH:
        raise ValidationError(f"at most {MAX_BATCH} trails per batch", field="items")
    store = store_of(request)
    results = await call(
        store, store.store_many, items, project_id, create_project=may_create_project(request)
    )
    return WireJSONResponse({"items": [_item(store, r) for r in results]})


def _item(store: Store, result: StoreOutcome | AuditTrailError) -> dict[str, Any]:
    if isinstance(result, StoreOutcome):
        _stored(store, result)
        return {"status": 201 if result.created else 200, "trail": trail_to_wire(result.trail)}
    status, slug, title = status_of(result)
    errors = result.errors if isinstance(result, ValidationError) else None
    body = problem_body(status, str(result), slug=slug, title=title, errors=errors)
    return {"status": status, "problem": body}


@router.get(
    "",
    response_model=TrailPage,
    responses=problems(401, 403, 422, 503),
    summary="List trails, newest first",
)
async def list_trails(
    request: Request,
    filter: Filter,
    limit: Annotated[int, Query(ge=1, le=MAX_BATCH)] = 100,
    cursor: Annotated[str | None, Query(max_length=200, description="from nextCursor")] = None,
) -> Response:
    """One page of trails and the cursor of the next (null on the last page)."""
    store = store_of(request)
    page = await call(store, store.list_trails, filter, limit=limit, cursor=cursor)
    note_read(request, filter.project_id, len(page.items))
    return WireJSONResponse(
        {"items": [trail_to_wire(t) for t in page.items], "nextCursor": page.next_cursor}
    )


def checked_message_id(message_id: str) -> str:
    """``message_id`` if it could name a trail, else 422 naming ``messageId``."""
    errs = rules.Errors()
    rules.text(errs, "messageId", message_id, max_len=rules.MAX_MESSAGE_ID)
    if errs:
        raise ValidationError(errs.items)
    return message_id


def read_own(store: Store, project_id: str, message_id: str) -> AuditTrail | None:
    """The trail with this messageId if it belongs to ``project_id``, else None (blocking)."""
    trail = store.get(message_id)
    return trail if trail is not None and trail.project_id == project_id else None


async def _own(store: Store, project_id: str, message_id: str) -> AuditTrail:
    checked_message_id(message_id)
    trail = await call(store, read_own, store, project_id, message_id)
    if trail is None:
        raise NotFoundError(f"no audit trail with messageId {message_id!r} in this project")
    return trail


@router.get(
    TRAIL_PATH,
    response_model=TrailOut,
    responses=problems(401, 403, 404, 503),
    summary="Read a trail",
)
async def get_trail(request: Request, project_id: ProjectAccess, message_id: MessageId) -> Response:
    """The trail with this messageId in this project, else 404."""
    store = store_of(request)
    trail = await _own(store, project_id, message_id)
    note_read(request, project_id, 1)
    return WireJSONResponse(trail_to_wire(trail))


@router.patch(
    TRAIL_PATH,
    response_model=TrailOut,
    responses=problems(400, 401, 403, 404, 413, 422, 503),
    openapi_extra=body_doc(TrailPatch),
    summary="Update a trail",
)
async def patch_trail(
    request: Request, project_id: ProjectAccess, message_id: MessageId
) -> Response:
    """Partial update of reasoning, tokens, cost, status and metadata; other fields → 422."""
    checked_message_id(message_id)
    data = await read_object(request)
    store = store_of(request)
    trail = await call(store, store.update_in_project, project_id, message_id, data)
    log.debug("trail updated", messageId=message_id, status=trail.status)
    return WireJSONResponse(trail_to_wire(trail))
