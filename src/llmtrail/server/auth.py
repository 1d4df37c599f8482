"""Bearer-key authorisation (SPEC §3): the admin key, or a project's own active key.

Unknown, missing or revoked key → 401; a valid key of another project → 403.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from llmtrail.config import Settings
from llmtrail.errors import AuthError, ForbiddenError, ValidationError
from llmtrail.keys import hash_secret, same_key
from llmtrail.model import ApiKey, rules
from llmtrail.server.body import store_of
from llmtrail.server.epoch import SharedEpoch
from llmtrail.server.threads import call

bearer = HTTPBearer(
    auto_error=False,
    description="The admin key (AUDIT_TRAIL_ADMIN_KEY) or a project key (`ltk_…`).",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
ProjectId = Annotated[str, Path(alias="projectId", description="The project id.")]


class KeyCache:
    """Active project keys recently looked up, by secret hash, for ``ttl`` seconds.

    Only successful look-ups are cached (an unknown key always asks the store). Revoking a
    key or deleting a project through this server calls ``invalidate``, which clears this
    cache and, through the shared ``epoch``, the cache of every other worker process of the
    server before its next look-up. Changes made elsewhere (the CLI, another replica) apply
    within ``ttl``.
    """

    def __init__(self, ttl: float, epoch: SharedEpoch | None = None) -> None:
        self.ttl = ttl
        self.epoch = epoch
        self._keys: dict[str, tuple[ApiKey, float]] = {}

    def get(self, digest: str) -> ApiKey | None:
        if self.epoch is not None and self.epoch.changed():
            self._keys.clear()
        hit = self._keys.get(digest)
        if hit is None:
            return None
        if hit[1] < time.monotonic():
            self._keys.pop(digest, None)
            return None
        return hit[0]

    def put(self, digest: str, key: ApiKey) -> None:
        if self.ttl > 0:
            if len(self._keys) >= 10_000:
                self._keys.clear()
            self._keys[digest] = (key, time.monotonic() + self.ttl)

    def invalidate(self) -> None:
        """Forget every cached key, here and in the server's other workers."""
        self._keys.clear()
        if self.epoch is not None:
            self.epoch.bump()
            self.epoch.changed()  # this worker has seen its own change


def key_cache(request: Request) -> KeyCache:
    """The app's key cache (created on first use from ``settings.auth_cache_seconds``)."""
    cache: KeyCache | None = getattr(request.app.state, "key_cache", None)
    if cache is None:
        settings: Settings = request.app.state.settings
        path = settings.auth_epoch_file
        epoch = SharedEpoch(path) if path is not None else None
        cache = request.app.state.key_cache = KeyCache(settings.auth_cache_seconds, epoch)
    return cache


#: who a bearer key is: the admin, or one project's active key
Principal = ApiKey | Literal["admin"]


def known_principal(settings: Settings, cache: KeyCache | None, secret: str) -> Principal | None:
    """Who ``secret`` is, when that is known without asking the store: the admin key, or a
    key in the cache. None means: unknown here (``lookup`` asks the store)."""
    if _is_admin_key(settings, secret):
        return "admin"
    return cache.get(hash_secret(secret)) if cache is not None else None


def _is_admin_key(settings: Settings, secret: str) -> bool:
    return settings.admin_key is not None and same_key(secret, settings.admin_key)


def reaches(principal: Principal, project_id: str) -> bool:
    """Whether ``principal`` may act on ``project_id`` (the admin reaches every project)."""
    return principal == "admin" or principal.project_id == project_id


async def lookup(request: Request, secret: str) -> ApiKey | None:
    """The active project key with this secret, or None (cached briefly)."""
    cache = key_cache(request)
    digest = hash_secret(secret)
    key = cache.get(digest)
    if key is None:
        store = store_of(request)
        key = await call(store, store.authenticate, secret)
        if key is not None:
            cache.put(digest, key)
    return key


def _secret(creds: HTTPAuthorizationCredentials | None) -> str:
    if creds is None or not creds.credentials:
        raise AuthError("missing bearer key (Authorization: Bearer <key>)")
    return creds.credentials


def is_admin(request: Request, secret: str) -> bool:
    """Whether ``secret`` is the configured admin key (constant-time)."""
    return _is_admin_key(request.app.state.settings, secret)


async def require_admin(request: Request, creds: Credentials) -> None:
    """Dependency: the admin key, else 401 (no/unknown key) or 403 (a project key)."""
    secret = _secret(creds)
    if is_admin(request, secret):
        request.state.key_id = "admin"
        return
    if await lookup(request, secret) is not None:
        raise ForbiddenError("this route needs the admin key")
    raise AuthError("unknown or revoked key")


def checked_project_id(project_id: str) -> str:
    """``project_id`` if it is a valid project id, else 422 naming ``projectId``."""
    errs = rules.Errors()
    rules.project_id(errs, "projectId", project_id)
    if errs:
        raise ValidationError(errs.items)
    return project_id


async def require_admin_project(request: Request, project_id: ProjectId, creds: Credentials) -> str:
    """Dependency: the admin key, on a valid ``projectId``; returns the project id."""
    await require_admin(request, creds)
    return checked_project_id(project_id)


async def require_project_access(
    request: Request, project_id: ProjectId, creds: Credentials
) -> str:
    """Dependency: the admin key or an active key of ``projectId``; returns the project id."""
    secret = _secret(creds)
    who: Principal | None = "admin" if is_admin(request, secret) else await lookup(request, secret)
    if who is None:
        raise AuthError("unknown or revoked key")
    if not reaches(who, project_id):
        raise ForbiddenError("this key does not reach that project")
    request.state.key_id = key_id_of(who)
    if who == "admin":
        request.state.admin = True
        return checked_project_id(project_id)
    return project_id


def key_id_of(who: Principal) -> str:
    """What the access log records of a key: its id, or ``admin`` (never the secret)."""
    return "admin" if who == "admin" else who.id


async def require_principal(request: Request, creds: Credentials) -> Principal:
    """Dependency: who the bearer key is (the admin or an active project key), else 401."""
    secret = _secret(creds)
    if is_admin(request, secret):
        request.state.admin = True
        request.state.key_id = "admin"
        return "admin"
    key = await lookup(request, secret)
    if key is None:
        raise AuthError("unknown or revoked key")
    request.state.key_id = key.id
    return key


def may_create_project(request: Request) -> bool:
    """Whether this request's writes may create their project: only the admin's. A project
    key's project existed when the key was checked; if it is deleted before the write lands,
    the write fails (404) instead of re-creating the project."""
    return bool(getattr(request.state, "admin", False))


Admin = Annotated[None, Depends(require_admin)]
ProjectAccess = Annotated[str, Depends(require_project_access)]
AnyKey = Annotated[Principal, Depends(require_principal)]
AdminProject = Annotated[str, Depends(require_admin_project)]
