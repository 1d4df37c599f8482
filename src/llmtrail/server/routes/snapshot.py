"""``GET /api/admin/snapshot``: every project, key and trail of the store as JSON Lines.

Made for the first step of a migration: a service running on the memory backend is drained
before it restarts (``curl … > snapshot.jsonl``), and ``llmtrail import snapshot.jsonl``
loads it into a database with ids, timestamps, project names and keys intact. Lines are
``{"project": {…}}``, then ``{"apiKey": {…, "keyHash": …}}`` (hashes only, never secrets),
then one trail object per line (the ``…/audit-trails/export?format=jsonl`` format).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from fastapi import APIRouter, Request
from starlette.concurrency import iterate_in_threadpool
from starlette.responses import Response, StreamingResponse

from llmtrail.errors import AuditTrailError
from llmtrail.model import Project, TrailFilter
from llmtrail.model.wire import dumps, key_to_wire, project_to_wire, trail_to_wire
from llmtrail.server.access_log import later_note
from llmtrail.server.auth import Admin
from llmtrail.server.body import store_of
from llmtrail.server.schemas import problems
from llmtrail.server.threads import call
from llmtrail.store import Store

router = APIRouter(prefix="/api/admin", tags=["admin"])
PAGE = 1_000


@router.get(
    "/snapshot",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Projects, API keys (hashes) and trails, one JSON object per line",
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        },
        **problems(401, 403, 503),
    },
    summary="Snapshot the whole store as JSONL (for `llmtrail import`)",
)
async def snapshot(request: Request, _: Admin) -> Response:
    """Every project, key and trail, streamed; load it elsewhere with ``llmtrail import``."""
    store = store_of(request)
    projects = await call(store, store.list_projects)  # fail early (503) if the store is down
    return StreamingResponse(
        iterate_in_threadpool(_lines(store, projects, later_note(request))),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="llmtrail-snapshot.jsonl"'},
    )


def _lines(
    store: Store, projects: list[Project], note: Callable[[str, int], None]
) -> Iterator[bytes]:

    for p in projects:
        yield (dumps({"project": project_to_wire(p)}) + "\n").encode()
    try:
        keys = store.key_records()
    except AuditTrailError:
        keys = []
    for record, digest in keys:
        yield (dumps({"apiKey": {**key_to_wire(record), "keyHash": digest}}) + "\n").encode()
    for p in projects:
        buf: list[str] = []
        sent = 0
        try:
            for t in store.iter_trails(TrailFilter(p.id), batch=PAGE):
                buf.append(dumps(trail_to_wire(t), separators=(",", ":")))
                sent += 1
                if len(buf) >= 200:
                    yield ("\n".join(buf) + "\n").encode()
                    buf = []
            if buf:
                yield ("\n".join(buf) + "\n").encode()
        finally:
            note(p.id, sent)  # the access log: this project's trails read by the snapshot
