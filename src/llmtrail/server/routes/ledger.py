"""``GET /api/projects/{projectId}/checkpoints/latest``: the newest signed ledger head (§9)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from llmtrail.errors import AuditTrailError, NotFoundError
from llmtrail.server.auth import ProjectAccess
from llmtrail.server.body import WireJSONResponse, store_of
from llmtrail.server.schemas import problems
from llmtrail.server.threads import call
from llmtrail.store.base import Store

router = APIRouter(prefix="/api/projects/{projectId}", tags=["tamper evidence"])


@router.get(
    "/checkpoints/latest",
    responses=problems(401, 403, 404, 503),
    summary="The project's newest signed ledger checkpoint",
)
async def latest_checkpoint(request: Request, project_id: ProjectAccess) -> Response:
    """``{"seq", "root", "signedAt", "signature", "publicKey", …}``: the ledger's first
    ``seq`` entries of this project fold to ``root`` (SHA-256 chain, hex); ``signature`` is
    Ed25519 (base64) over the canonical JSON described in docs/audit.md. Publish it elsewhere
    (a ticket, a transparency log) to make even a rewrite of the whole database evident."""
    store = store_of(request)
    await call(store, store.require_project, project_id)
    cp = await call(store, store.latest_checkpoint, project_id)
    if cp is None:
        raise NotFoundError(f"project {project_id!r} has no sealed checkpoint yet")
    body = cp.document()
    body["publicKey"] = await call(store, _public_key, store, cp.key_id)
    return WireJSONResponse(body)


def _public_key(store: Store, key_id: str) -> str | None:
    """The public key that verifies a checkpoint signed by ``key_id``: this server's, when
    it is that key (None otherwise, or when the server has no key)."""
    try:
        signer = store.signer
    except (OSError, AuditTrailError):
        return None
    return signer.public_key if signer.key_id == key_id else None
