"""Projects: create, list, read, delete (with cascade)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from llmtrail.errors import ConflictError, FieldError, ValidationError
from llmtrail.ids import uuid7
from llmtrail.model import Project
from llmtrail.model.wire import project_to_wire
from llmtrail.server.auth import Admin, AdminProject, ProjectAccess, key_cache
from llmtrail.server.body import WireJSONResponse, read_object, store_of
from llmtrail.server.schemas import (
    ProjectIn,
    ProjectList,
    ProjectOut,
    ProjectPatch,
    body_doc,
    problems,
)
from llmtrail.server.threads import call
from llmtrail.store import Store

router = APIRouter(prefix="/api/projects", tags=["projects"])
_FIELDS = ("id", "name", "retentionDays", "contentRetentionDays", "legalHold", "budget")
_MUTABLE = ("name", "retentionDays", "contentRetentionDays", "legalHold", "budget")


@router.post(
    "",
    status_code=201,
    response_model=ProjectOut,
    responses=problems(400, 401, 403, 409, 413, 422, 503),
    openapi_extra=body_doc(ProjectIn, required=False),
    summary="Create a project",
)
async def create_project(request: Request, _: Admin) -> Response:
    """201 with the project; 409 if the id exists. The id is generated when not given."""
    data: dict[str, Any] = await read_object(request, empty={})
    unknown = [k for k in data if k not in _FIELDS]
    if unknown:
        raise ValidationError([_unknown(k) for k in unknown])
    pid = data.get("id")
    if pid is None:
        pid = "p-" + uuid7().replace("-", "")[:20]
    project = await _create(store_of(request), pid, data)
    return WireJSONResponse(project_to_wire(project), status_code=201)


async def _create(store: Store, pid: str, data: dict[str, Any]) -> Project:
    return await call(
        store,
        store.create_project,
        pid,
        data.get("name"),
        data.get("retentionDays"),
        content_retention_days=data.get("contentRetentionDays"),
        legal_hold=data.get("legalHold", False),
        budget=data.get("budget"),
    )


def _unknown(key: object) -> FieldError:
    return FieldError(str(key), "is not a known field")


@router.get(
    "",
    response_model=ProjectList,
    responses=problems(401, 403, 503),
    summary="List projects",
)
async def list_projects(request: Request, _: Admin) -> Response:
    """Every project, by id."""
    store = store_of(request)
    items = await call(store, store.list_projects)
    return WireJSONResponse({"items": [project_to_wire(p) for p in items]})


@router.get(
    "/{projectId}",
    response_model=ProjectOut,
    responses=problems(401, 403, 404, 503),
    summary="Read a project",
)
async def get_project(request: Request, project_id: ProjectAccess) -> Response:
    """The project (admin key, or the project's own key)."""
    store = store_of(request)
    project = await call(store, store.require_project, project_id)
    return WireJSONResponse(project_to_wire(project))


@router.patch(
    "/{projectId}",
    response_model=ProjectOut,
    responses=problems(400, 401, 403, 404, 413, 422, 503),
    openapi_extra=body_doc(ProjectPatch),
    summary="Change a project's name or retention policies",
)
async def update_project(request: Request, project_id: AdminProject) -> Response:
    """The project after the change (only the fields sent change; null clears a retention)."""
    data: dict[str, Any] = await read_object(request)
    unknown = [k for k in data if k not in _MUTABLE]
    if unknown:
        raise ValidationError([_unknown(k) for k in unknown])
    store = store_of(request)
    project = await call(store, store.update_project, project_id, **data)
    return WireJSONResponse(project_to_wire(project))


@router.post(
    "/{projectId}",
    status_code=200,
    response_model=ProjectOut,
    responses={
        201: {"description": "Created (it did not exist)", "model": ProjectOut},
        **problems(400, 401, 403, 413, 422, 503),
    },
    openapi_extra=body_doc(ProjectPatch, required=False),
    summary="Set a project's name or policies, creating it if needed",
)
async def put_project(request: Request, project_id: AdminProject) -> Response:
    """200 with the project after the change; 201 when it did not exist and was created with
    these fields."""
    data: dict[str, Any] = await read_object(request, empty={})
    unknown = [k for k in data if k not in _MUTABLE]
    if unknown:
        raise ValidationError([_unknown(k) for k in unknown])
    store = store_of(request)
    if await call(store, store.get_project, project_id) is None:
        try:
            project = await _create(store, project_id, data)
            return WireJSONResponse(project_to_wire(project), status_code=201)
        except ConflictError:
            pass  # created meanwhile: update it
    project = await call(store, store.update_project, project_id, **data)
    return WireJSONResponse(project_to_wire(project))


@router.delete(
    "/{projectId}",
    status_code=204,
    response_class=Response,
    responses=problems(401, 403, 404, 503),
    summary="Delete a project",
)
async def delete_project(request: Request, project_id: AdminProject) -> Response:
    """Delete the project with its trails, keys and aggregates (204)."""
    store = store_of(request)
    await call(store, store.delete_project, project_id)
    key_cache(request).invalidate()
    return Response(status_code=204)
