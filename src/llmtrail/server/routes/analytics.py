"""``GET /api/projects/{projectId}/assessment/analytics`` (SPEC §4)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from starlette.responses import Response

from llmtrail.analytics import MAX_DAYS
from llmtrail.server.access_log import note_read
from llmtrail.server.auth import ProjectAccess
from llmtrail.server.body import WireJSONResponse, store_of
from llmtrail.server.schemas import TrailOut, problems
from llmtrail.server.threads import call

router = APIRouter(tags=["analytics"])

# A "+" offset arrives as a space when the client forgot to percent-encode it.
_SPACED_OFFSET = re.compile(r"^(.{19,}) (\d\d:?\d\d)$")


class DayOut(BaseModel):
    date: str
    cost: float
    tokens: int
    messages: int


class ModelOut(BaseModel):
    model: str
    cost: float
    tokens: int
    messages: int


class GroupOut(BaseModel):
    group: str | int | float | bool | None
    cost: float
    tokens: int
    messages: int


class AnalyticsBody(BaseModel):
    totalCost: float
    totalTokens: int
    averageCost: float
    messageCount: int
    costByDay: list[DayOut]
    costByModel: list[ModelOut]
    recentTrails: list[TrailOut]
    costByGroup: list[GroupOut] | None = None


class AnalyticsOut(BaseModel):
    """Money is written from the exact decimal sums (never through binary floats)."""

    analytics: AnalyticsBody


def _instant(value: str | None) -> str | None:
    return None if value is None else _SPACED_OFFSET.sub(r"\1+\2", value)


@router.get(
    "/api/projects/{projectId}/assessment/analytics",
    response_model=AnalyticsOut,
    responses=problems(401, 403, 404, 422, 503),
    summary="Cost and usage analytics",
)
async def get_analytics(
    request: Request,
    project_id: ProjectAccess,
    days: Annotated[
        int,
        Query(
            ge=1,
            le=MAX_DAYS,
            description="the last N calendar days in `tz`, today included (ignored with since)",
        ),
    ] = 30,
    since: Annotated[
        str | None, Query(description="RFC 3339 with an offset: the window's start (inclusive)")
    ] = None,
    until: Annotated[
        str | None, Query(description="RFC 3339 with an offset: the window's end (default now)")
    ] = None,
    tz: Annotated[
        str, Query(max_length=64, description="IANA time zone of the day boundaries")
    ] = "UTC",
    group_by: Annotated[
        str | None,
        Query(
            alias="groupBy",
            max_length=200,
            description="model, provider or metadata.<key>: adds costByGroup",
        ),
    ] = None,
) -> Response:
    """Totals over every trail in the window (exact decimal sums), cost per day (one entry per
    day, zero-filled), cost per model and the 10 newest trails."""
    store = store_of(request)
    result = await call(
        store,
        store.analytics,
        project_id,
        days=days,
        since=_instant(since),
        until=_instant(until),
        tz=tz,
        group_by=group_by,
    )
    note_read(request, project_id, len(result.recent_trails))  # the trails it hands out
    return WireJSONResponse(result.to_wire(), headers={"Cache-Control": "no-store"})
