"""Bearer-key authorisation (SPEC §3): the admin key, or a project's own active key.

Unknown, missing or revoked key → 401; a valid key of another project → 403.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from llmtrail.config import Settings
from llmtrail.errors import AuthError, ForbiddenError
from llmtrail.keys import same_key
from llmtrail.server.body import call, store_of

bearer = HTTPBearer(
    auto_error=False,
    description="The admin key (AUDIT_TRAIL_ADMIN_KEY) or a project key (`ltk_…`).",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
ProjectId = Annotated[str, Path(alias="projectId", description="The project id.")]


def _secret(creds: HTTPAuthorizationCredentials | None) -> str:
    if creds is None or not creds.credentials:
        raise AuthError("missing bearer key (Authorization: Bearer <key>)")
    return creds.credentials


def is_admin(request: Request, secret: str) -> bool:
    """Whether ``secret`` is the configured admin key (constant-time)."""
    settings: Settings = request.app.state.settings
    return settings.admin_key is not None and same_key(secret, settings.admin_key)


async def require_admin(request: Request, creds: Credentials) -> None:
    """Dependency: the admin key, else 401 (no/unknown key) or 403 (a project key)."""
    secret = _secret(creds)
    if is_admin(request, secret):
        return
    store = store_of(request)
    if await call(store, store.authenticate, secret) is not None:
        raise ForbiddenError("this route needs the admin key")
    raise AuthError("unknown or revoked key")


async def require_project_access(
    request: Request, project_id: ProjectId, creds: Credentials
) -> str:
    """Dependency: the admin key or an active key of ``projectId``; returns the project id."""
    secret = _secret(creds)
    if is_admin(request, secret):
        return project_id
    store = store_of(request)
    key = await call(store, store.authenticate, secret)
    if key is None:
        raise AuthError("unknown or revoked key")
    if key.project_id != project_id:
        raise ForbiddenError("this key does not reach that project")
    return project_id


Admin = Annotated[None, Depends(require_admin)]
ProjectAccess = Annotated[str, Depends(require_project_access)]
