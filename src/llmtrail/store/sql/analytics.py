"""The SQL backend's analytics queries (SPEC §4).

Usage per (local day, model) comes from ``usage_rollups`` (plus the increments not yet folded
into them, ``usage.py``) for every whole 15-minute bucket of
the window, and from the raw ``audit_trails`` only for the partial buckets at its edges (a
``since``/``until`` that is not on a quarter hour). A days-window (midnight to midnight in any
zone) is an exact union of buckets, so it reads rollups alone: the cost of a call depends on
the number of days and models, not on the number of trails, and the days stay visible after
cleanup has deleted their raw trails.

The local day of an instant is ``date(utc + offset)``, with the zone's offset taken per
constant-offset segment of the window (``Window.segments``); this is the one expression that
differs between the dialects (``local_date``).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Date,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from llmtrail.analytics import Segment, Usage, Window
from llmtrail.store.sql.dialects import money_sum
from llmtrail.store.sql.schema import audit_trails, usage_deltas, usage_rollups


def shifted_date(dialect: str, col: Any, seconds: int) -> ColumnElement[Any]:
    """The calendar date of the UTC instant ``col`` shifted by ``seconds``."""
    if dialect == "sqlite":
        # The column holds naive UTC text ("YYYY-MM-DD HH:MM:SS.ffffff"). SQLite's date
        # arithmetic rounds to milliseconds (23:59:59.9999 would become the next day), so
        # drop the fraction first: a whole-second shift cannot move it across midnight.
        return func.date(func.substr(col, 1, 19), literal(f"{seconds:+d} seconds"))
    return cast(
        func.timezone("UTC", col) + literal_column(f"INTERVAL '{int(seconds)} seconds'"), Date
    )


def local_date(dialect: str, col: Any, segments: list[Segment]) -> ColumnElement[Any]:
    """The calendar date of ``col`` in the window's zone (exact for instants in the window)."""
    *head, last = segments
    final = shifted_date(dialect, col, int(last.offset.total_seconds()))
    if not head:
        return final
    whens = [(col < s.end, shifted_date(dialect, col, int(s.offset.total_seconds()))) for s in head]
    return case(*whens, else_=final)


def usage(conn: Connection, dialect: str, project_id: str, window: Window) -> list[Usage]:
    """Usage per (local day, model) of a project over the window, exact."""
    out: list[Usage] = []
    aligned = window.aligned
    interior = window.interior if aligned else None
    edges = window.edges if aligned else [(window.start, window.end)]
    if interior is not None:
        # Rollups plus the increments not yet folded into them, in one statement (one snapshot):
        # a fold moves increments from one to the other atomically, so the sum is exact.
        parts = [
            select(
                local_date(dialect, r.bucket, window.segments).label("day"),
                r.model,
                r.messages,
                r.total_tokens,
                r.cost_total,
            ).where(r.project_id == project_id, r.bucket >= interior[0], r.bucket < interior[1])
            for r in (usage_rollups.c, usage_deltas.c)
        ]
        sub = union_all(*parts).subquery()
        out += _grouped(
            conn,
            select(
                sub.c.day,
                sub.c.model,
                func.sum(sub.c.messages),
                func.sum(sub.c.total_tokens),
                money_sum(dialect, sub.c.cost_total),
            ).group_by(sub.c.day, sub.c.model),
        )
    if edges:
        t = audit_trails.c
        sub = (
            select(
                local_date(dialect, t.timestamp, window.segments).label("day"),
                t.model,
                t.total_tokens,
                t.cost_total,
            )
            .where(
                t.project_id == project_id,
                or_(*[and_(t.timestamp >= a, t.timestamp < b) for a, b in edges]),
            )
            .subquery()
        )
        out += _grouped(
            conn,
            select(
                sub.c.day,
                sub.c.model,
                func.count(),
                func.sum(sub.c.total_tokens),
                money_sum(dialect, sub.c.cost_total),
            ).group_by(sub.c.day, sub.c.model),
        )
    return out


def _grouped(conn: Connection, query: Any) -> list[Usage]:
    return [
        Usage(_as_date(day), model, int(n or 0), int(tokens or 0), _as_decimal(cost))
        for day, model, n, tokens, cost in conn.execute(query)
    ]


def _as_date(v: object) -> date:
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    return date.fromisoformat(str(v))


def _as_decimal(v: object) -> Decimal:
    if v is None:
        return Decimal(0)
    return v if isinstance(v, Decimal) else Decimal(str(v))
