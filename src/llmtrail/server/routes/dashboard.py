"""The analytics dashboard page (SPEC §4) and its static assets, served by the app itself.

The page is public HTML holding no data: it asks for a project or admin key (kept in the
browser's sessionStorage) and calls the analytics API with it. Every asset comes from the
package (``server/static``, with Chart.js vendored under ``static/vendor``); the
Content-Security-Policy forbids loading anything from elsewhere.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import Response

from llmtrail import __version__
from llmtrail.errors import NotFoundError, ValidationError
from llmtrail.model import rules

router = APIRouter(tags=["dashboard"], include_in_schema=False)
HERE = Path(__file__).resolve().parent.parent
STATIC = HERE / "static"
_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(("html",)),
    trim_blocks=True,
    lstrip_blocks=True,
)
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


@router.get("/projects/{projectId}/dashboard", response_class=HTMLResponse)
async def dashboard(
    request: Request,
    project_id: Annotated[str, PathParam(alias="projectId")],
) -> Response:
    """The dashboard of one project (the page itself asks for a key before showing data)."""
    errs = rules.Errors()
    pid = rules.project_id(errs, "projectId", project_id)
    if errs or pid is None:
        raise ValidationError(errs.items)
    # Behind a proxy that serves the app under a prefix (uvicorn --root-path), links keep it.
    base = str(request.scope.get("root_path", "")).rstrip("/")
    html = _env.get_template("dashboard.html").render(
        project_id=pid, version=__version__, base=base
    )
    return HTMLResponse(html, headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})


@router.get("/projects/{projectId}/trails", response_class=HTMLResponse)
async def explorer(
    request: Request,
    project_id: Annotated[str, PathParam(alias="projectId")],
) -> Response:
    """The trail explorer (SPEC §12): the project's trails with filters and paging."""
    return _explorer(request, project_id, None)


@router.get("/projects/{projectId}/trails/{messageId:path}", response_class=HTMLResponse)
async def explorer_trail(
    request: Request,
    project_id: Annotated[str, PathParam(alias="projectId")],
    message_id: Annotated[str, PathParam(alias="messageId")],
) -> Response:
    """One trail, whole: reasoning, token breakdown, cost and its source, metadata, times."""
    return _explorer(request, project_id, message_id)


def _explorer(request: Request, project_id: str, message_id: str | None) -> Response:
    errs = rules.Errors()
    pid = rules.project_id(errs, "projectId", project_id)
    if errs or pid is None:
        raise ValidationError(errs.items)
    if message_id is not None and not rules.could_be_message_id(message_id):
        raise NotFoundError(f"no audit trail with messageId {message_id!r}")
    base = str(request.scope.get("root_path", "")).rstrip("/")
    html = _env.get_template("explorer.html").render(
        project_id=pid, message_id=message_id, version=__version__, base=base
    )
    return HTMLResponse(html, headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})


@router.get("/static/dashboard/{path:path}")
async def static_file(path: str) -> Response:
    """A file of the dashboard's assets (never anything outside ``server/static``)."""
    try:  # a NUL byte, a lone surrogate or an over-long name is an OS error: not a file
        target = (STATIC / path).resolve()
        found = target.is_relative_to(STATIC) and target.is_file()
    except (OSError, ValueError):
        found = False
    if not found:
        raise NotFoundError("no such static file")
    media = _TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0]
    return FileResponse(
        target,
        media_type=media or "application/octet-stream",
        headers={**SECURITY_HEADERS, "Cache-Control": "public, max-age=3600"},
    )
