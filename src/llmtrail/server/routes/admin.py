"""Admin operations: ``POST /api/admin/cleanup`` (retention cleanup on demand)."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from llmtrail.errors import FieldError, ValidationError
from llmtrail.model import rules
from llmtrail.retention import run_cleanup
from llmtrail.server.auth import Admin
from llmtrail.server.body import WireJSONResponse, read_object, store_of
from llmtrail.server.schemas import body_doc, problems
from llmtrail.server.threads import call

router = APIRouter(prefix="/api/admin", tags=["admin"])


class CleanupIn(BaseModel):
    """Documentation only: the optional body of ``POST /api/admin/cleanup``."""

    model_config = ConfigDict(extra="forbid")
    days: float | None = Field(
        None,
        ge=0,
        le=rules.MAX_RETENTION_DAYS,
        description="Delete trails older than this many days (default: the retention).",
    )
    dryRun: bool = Field(False, description="Only count what would be deleted.")


class CleanupOut(BaseModel):
    """Documentation only: the result of a cleanup."""

    deletedCount: int = Field(..., ge=0)
    backend: str = Field(..., description="memory, sqlite, postgresql or dual")
    dryRun: bool | None = Field(None, description="present (true) for a dry run")


def _days(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, Decimal) and value.is_finite():
        value = float(value)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not math.isfinite(value))
        or not 0 <= value <= rules.MAX_RETENTION_DAYS
    ):
        raise ValidationError("must be a number of days between 0 and 36500", field="days")
    return value


@router.post(
    "/cleanup",
    response_model=CleanupOut,
    responses=problems(400, 401, 403, 413, 422, 503),
    openapi_extra=body_doc(CleanupIn, required=False),
    summary="Delete trails past their retention",
)
async def cleanup(request: Request, _: Admin) -> Response:
    """Delete trails older than ``days`` (default: the retention; projects with their own
    retention keep theirs), in small batches; ``{"deletedCount": n, "backend": …}``."""
    data: dict[str, Any] = await read_object(request, empty={})
    unknown = [k for k in data if k not in ("days", "dryRun")]
    if unknown:
        raise ValidationError([FieldError(str(k), "is not a known field") for k in unknown])
    days = _days(data.get("days"))
    dry_run = data.get("dryRun", False)
    if not isinstance(dry_run, bool):
        raise ValidationError("must be true or false", field="dryRun")
    store = store_of(request)
    result = await call(store, run_cleanup, store, days, dry_run=dry_run, trigger="api")
    return WireJSONResponse(result.to_wire())
