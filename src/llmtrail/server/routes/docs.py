"""``/docs``: Swagger UI for ``/openapi.json``, served from the package ``swagger-ui-bundle``.

FastAPI's default page loads Swagger UI from a CDN; this one loads nothing from the internet,
so it works offline and behind egress filters (ReDoc, CDN-only, is not served).
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle  # type: ignore[import-untyped]
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from starlette.responses import Response

from llmtrail.errors import NotFoundError

router = APIRouter(include_in_schema=False)
_ASSETS = Path(swagger_ui_bundle.swagger_ui_path)
_FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui(request: Request) -> Response:
    """The interactive API documentation."""
    base = str(request.scope.get("root_path", "")).rstrip("/")
    return get_swagger_ui_html(
        openapi_url=f"{base}/openapi.json",
        title="llmtrail API",
        swagger_js_url=f"{base}/static/docs/swagger-ui-bundle.js",
        swagger_css_url=f"{base}/static/docs/swagger-ui.css",
        swagger_favicon_url=f"{base}/static/docs/favicon-32x32.png",
    )


@router.get("/static/docs/{name}")
async def swagger_asset(name: str) -> Response:
    """One of Swagger UI's files (only those the page uses)."""
    media = _FILES.get(name)
    if media is None:
        raise NotFoundError("no such file")
    return FileResponse(
        _ASSETS / name, media_type=media, headers={"Cache-Control": "public, max-age=86400"}
    )
