"""The JSON (camelCase) shape of the domain types, and exact-decimal JSON text."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import simplejson

from llmtrail.model.types import (
    AccessEntry,
    ApiKey,
    AuditTrail,
    Budget,
    Cost,
    Project,
    TokenUsage,
)


class JSONDecimal(Decimal):
    """A Decimal that prints without exponent, so JSON carries ``0.0000001``, not ``1E-7``."""

    def __str__(self) -> str:
        s = format(Decimal(self), "f")
        return s.rstrip("0").rstrip(".") if "." in s else s


def iso(dt: datetime | None) -> str | None:
    """RFC 3339 in UTC with a ``Z`` suffix."""
    if dt is None:
        return None
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def money(d: Decimal | None) -> JSONDecimal:
    return JSONDecimal(d if d is not None else 0)


def tokens_to_wire(t: TokenUsage) -> dict[str, int]:
    out = {"prompt": t.prompt, "completion": t.completion, "total": t.total or 0}
    for name, key in (
        ("cache_read", "cacheRead"),
        ("cache_write", "cacheWrite"),
        ("cache_write_1h", "cacheWrite1h"),
        ("reasoning", "reasoning"),
    ):
        value = getattr(t, name)
        if value is not None:
            out[key] = value
    return out


def cost_to_wire(c: Cost | None) -> dict[str, JSONDecimal]:
    c = c or Cost()
    return {"prompt": money(c.prompt), "completion": money(c.completion), "total": money(c.total)}


def trail_to_wire(t: AuditTrail) -> dict[str, Any]:
    """The camelCase JSON object of SPEC §1 (Decimals stay exact; dump with ``dumps``)."""
    return {
        "id": t.id,
        "messageId": t.message_id,
        "projectId": t.project_id,
        "timestamp": iso(t.timestamp),
        "model": t.model,
        "provider": t.provider,
        "reasoning": t.reasoning,
        "contextLayers": t.context_layers,
        "tokens": tokens_to_wire(t.tokens),
        "cost": cost_to_wire(t.cost),
        "costSource": t.cost_source,
        "priceVersion": t.price_version,
        "status": t.status,
        "metadata": t.metadata,
        "createdAt": iso(t.created_at),
        "updatedAt": iso(t.updated_at),
        "contentRedactedAt": iso(t.content_redacted_at),
    }


def project_to_wire(p: Project) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "retentionDays": p.retention_days,
        "contentRetentionDays": p.content_retention_days,
        "legalHold": p.legal_hold,
        "budget": budget_to_wire(p.budget),
        "createdAt": iso(p.created_at),
    }


def budget_to_wire(b: Budget | None) -> dict[str, Any] | None:
    return None if b is None else {"amount": JSONDecimal(b.amount), "period": b.period}


def access_to_wire(e: AccessEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": iso(e.at),
        "projectId": e.project_id,
        "keyId": e.key_id,
        "route": e.route,
        "items": e.items,
    }


def key_to_wire(k: ApiKey) -> dict[str, Any]:
    return {
        "id": k.id,
        "projectId": k.project_id,
        "prefix": k.prefix,
        "createdAt": iso(k.created_at),
        "revokedAt": iso(k.revoked_at),
    }


def dumps(obj: Any, **kw: Any) -> str:
    """JSON text with Decimals written exactly as numbers."""
    text: str = simplejson.dumps(obj, use_decimal=True, default=_default, ensure_ascii=False, **kw)
    return text


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class DuplicateKeyError(ValueError):
    """A JSON object names the same key twice (which one would win is not obvious)."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"duplicate key {key!r} in a JSON object")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(key)
            seen.add(key)
    return obj


def loads(text: str | bytes) -> Any:
    """Parse JSON with numbers as exact Decimals; NaN/Infinity and duplicate keys are
    rejected (``ValueError``; ``DuplicateKeyError`` for the latter)."""
    return simplejson.loads(
        text,
        use_decimal=True,
        parse_constant=_reject_constant,
        allow_nan=False,
        object_pairs_hook=_object,
    )


def _default(o: object) -> Any:
    if isinstance(o, datetime):
        return iso(o)
    if isinstance(o, Decimal):
        return JSONDecimal(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")
