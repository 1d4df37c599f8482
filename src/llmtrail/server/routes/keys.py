"""A project's API keys: create (the secret is shown once), list, revoke."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from llmtrail.errors import NotFoundError
from llmtrail.model import rules
from llmtrail.model.wire import key_to_wire
from llmtrail.server.auth import AdminProject, key_cache
from llmtrail.server.body import WireJSONResponse, store_of
from llmtrail.server.schemas import KeyCreated, KeyList, problems
from llmtrail.server.threads import call

router = APIRouter(prefix="/api/projects/{projectId}/keys", tags=["keys"])


@router.post(
    "",
    status_code=201,
    response_model=KeyCreated,
    responses=problems(401, 403, 404, 503),
    summary="Create a project key",
)
async def create_key(request: Request, project_id: AdminProject) -> Response:
    """201 ``{"id","key"}``: the secret is returned this once and stored only as a hash."""
    store = store_of(request)
    record, secret = await call(store, store.create_api_key, project_id)
    return WireJSONResponse({"id": record.id, "key": secret}, status_code=201)


@router.get(
    "",
    response_model=KeyList,
    responses=problems(401, 403, 404, 503),
    summary="List a project's keys",
)
async def list_keys(request: Request, project_id: AdminProject) -> Response:
    """The project's keys without their secrets, revoked ones included."""
    store = store_of(request)
    await call(store, store.require_project, project_id)
    items = await call(store, store.list_api_keys, project_id)
    return WireJSONResponse({"items": [key_to_wire(k) for k in items]})


@router.delete(
    "/{keyId}",
    status_code=204,
    response_class=Response,
    responses=problems(401, 403, 404, 503),
    summary="Revoke a project key",
)
async def revoke_key(
    request: Request,
    project_id: AdminProject,
    key_id: str = Path(alias="keyId", max_length=64),
) -> Response:
    """Revoke the key at once (204); 404 if the project has no such key."""
    store = store_of(request)
    if not _plausible_id(key_id):
        raise NotFoundError(f"project {project_id!r} has no key {key_id!r}")
    await call(store, store.revoke_api_key, project_id, key_id)
    key_cache(request).invalidate()
    return Response(status_code=204)


def _plausible_id(key_id: str) -> bool:
    """Whether ``key_id`` could be a key id at all (printable, no NUL): others are not found."""
    return rules.text(rules.Errors(), "keyId", key_id, max_len=64) is not None
