"""Mapping between table rows and domain objects (and the usage-rollup arithmetic)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import localcontext
from typing import Any

from llmtrail.model import AuditTrail, Budget, Cost, Project, TokenUsage

BUCKET = timedelta(minutes=15)


def trail_to_row(t: AuditTrail) -> dict[str, Any]:
    cost = t.cost or Cost()
    return {
        "id": t.id,
        "message_id": t.message_id,
        "project_id": t.project_id,
        "timestamp": t.timestamp,
        "model": t.model,
        "reasoning": t.reasoning,
        "context_layers": t.context_layers,
        "prompt_tokens": t.tokens.prompt,
        "completion_tokens": t.tokens.completion,
        "total_tokens": t.tokens.total,
        "cache_read_tokens": t.tokens.cache_read,
        "cache_write_tokens": t.tokens.cache_write,
        "reasoning_tokens": t.tokens.reasoning,
        "cost_prompt": cost.prompt,
        "cost_completion": cost.completion,
        "cost_total": cost.total,
        "cost_source": t.cost_source,
        "price_version": t.price_version,
        "status": t.status,
        "metadata": t.metadata,
        "created_at": t.created_at,
        "updated_at": t.updated_at,
        "provider": t.provider,
        "cache_write_1h_tokens": t.tokens.cache_write_1h,
        "content_redacted_at": t.content_redacted_at,
    }


def row_to_trail(r: Any) -> AuditTrail:
    return AuditTrail(
        id=r["id"],
        message_id=r["message_id"],
        project_id=r["project_id"],
        timestamp=r["timestamp"],
        model=r["model"],
        reasoning=r["reasoning"],
        context_layers=r["context_layers"],
        tokens=TokenUsage(
            prompt=r["prompt_tokens"],
            completion=r["completion_tokens"],
            total=r["total_tokens"],
            cache_read=r["cache_read_tokens"],
            cache_write=r["cache_write_tokens"],
            reasoning=r["reasoning_tokens"],
            cache_write_1h=r["cache_write_1h_tokens"],
        ),
        cost=Cost(r["cost_prompt"], r["cost_completion"], r["cost_total"]),
        cost_source=r["cost_source"],
        price_version=r["price_version"],
        status=r["status"],
        metadata=r["metadata"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        provider=r["provider"],
        content_redacted_at=r["content_redacted_at"],
    )


def row_to_project(r: Any) -> Project:
    return Project(
        r["id"],
        r["name"],
        r["retention_days"],
        r["created_at"],
        r["content_retention_days"],
        bool(r["legal_hold"]),
        None if r["budget_amount"] is None else Budget(r["budget_amount"], r["budget_period"]),
    )


def project_to_row(p: Project) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "retention_days": p.retention_days,
        "created_at": p.created_at,
        "content_retention_days": p.content_retention_days,
        "legal_hold": p.legal_hold,
        "budget_amount": None if p.budget is None else p.budget.amount,
        "budget_period": None if p.budget is None else p.budget.period,
    }


def same_value(a: Any, b: Any) -> bool:
    """Equal and of the same type, JSON objects value by value (``1 == True == 1.0`` in
    Python, but they are different JSON): whether a column needs no write."""
    if type(a) is not type(b) or a != b:
        return False
    return not isinstance(a, dict) or all(type(v) is type(b[k]) for k, v in a.items())


def bucket_of(ts: datetime) -> datetime:
    """The start of the 15-minute UTC bucket holding ``ts``."""
    return ts.replace(minute=ts.minute - ts.minute % 15, second=0, microsecond=0)


def usage_delta(t: AuditTrail, sign: int = 1, messages: int = 1) -> dict[str, Any]:
    """A rollup row's increments for adding (sign=1) or removing (sign=-1) a trail."""
    cost = t.cost or Cost()
    assert t.timestamp is not None and t.tokens.total is not None and cost.total is not None
    return {
        "project_id": t.project_id,
        "bucket": bucket_of(t.timestamp),
        "model": t.model,
        "messages": sign * messages,
        "prompt_tokens": sign * t.tokens.prompt,
        "completion_tokens": sign * t.tokens.completion,
        "total_tokens": sign * t.tokens.total,
        "cost_prompt": sign * cost.prompt,
        "cost_completion": sign * cost.completion,
        "cost_total": sign * cost.total,
    }


def change_deltas(old: AuditTrail, new: AuditTrail) -> list[dict[str, Any]]:
    """The rollup increments of replacing ``old`` by ``new``, combined (see ``combine``).

    The usual change (an update) keeps the trail's project, bucket and model: one increment
    of the differences, computed directly."""
    assert old.timestamp is not None and new.timestamp is not None
    if (
        old.project_id != new.project_id
        or old.model != new.model
        or bucket_of(old.timestamp) != bucket_of(new.timestamp)
    ):
        return combine([usage_delta(new), usage_delta(old, -1)])
    a, b = old.tokens, new.tokens
    ca, cb = old.cost or Cost(), new.cost or Cost()
    assert a.total is not None and b.total is not None
    assert ca.total is not None and cb.total is not None
    with localcontext() as ctx:
        ctx.prec = 60
        d = {
            "project_id": new.project_id,
            "bucket": bucket_of(new.timestamp),
            "model": new.model,
            "messages": 0,
            "prompt_tokens": b.prompt - a.prompt,
            "completion_tokens": b.completion - a.completion,
            "total_tokens": b.total - a.total,
            "cost_prompt": cb.prompt - ca.prompt,
            "cost_completion": cb.completion - ca.completion,
            "cost_total": cb.total - ca.total,
        }
    return [d] if any(d[c] != 0 for c in _COUNTED) else []


# The columns of a rollup increment that add up (the others are its key).
_COUNTED = (
    "messages",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost_prompt",
    "cost_completion",
    "cost_total",
)


def combine(deltas: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge increments that hit the same rollup row; drop ones that net to nothing."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    with localcontext() as ctx:
        ctx.prec = 60
        _merge(merged, deltas)
    return [m for m in merged.values() if any(m[c] != 0 for c in _COUNTED)]


def _merge(merged: dict[tuple[Any, ...], dict[str, Any]], deltas: list[dict[str, Any]]) -> None:
    for d in deltas:
        key = (d["project_id"], d["bucket"], d["model"])
        if key not in merged:
            merged[key] = dict(d)
            continue
        m = merged[key]
        for col in _COUNTED:
            m[col] = m[col] + d[col]
