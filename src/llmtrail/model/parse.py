"""Turn caller input (an ``AuditTrail`` or a JSON-shaped mapping) into a validated trail.

Validation happens here and only here, whichever door the data came in by.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any, Protocol

from llmtrail.errors import ValidationError
from llmtrail.ids import uuid7
from llmtrail.model import rules
from llmtrail.model.rules import Errors
from llmtrail.model.types import (
    COST_SOURCES,
    STATUSES,
    AuditTrail,
    Cost,
    TokenUsage,
)

_TRAIL_KEYS = {
    "messageId": "message_id",
    "message_id": "message_id",
    "projectId": "project_id",
    "project_id": "project_id",
    "timestamp": "timestamp",
    "model": "model",
    "reasoning": "reasoning",
    "contextLayers": "context_layers",
    "context_layers": "context_layers",
    "tokens": "tokens",
    "cost": "cost",
    "status": "status",
    "metadata": "metadata",
    "provider": "provider",
}
# Fields the server sets; accepted only from trusted input (copy/import between stores).
_SERVER_KEYS = {
    "id": "id",
    "createdAt": "created_at",
    "created_at": "created_at",
    "updatedAt": "updated_at",
    "updated_at": "updated_at",
    "costSource": "cost_source",
    "cost_source": "cost_source",
    "priceVersion": "price_version",
    "price_version": "price_version",
    "contentRedactedAt": "content_redacted_at",
    "content_redacted_at": "content_redacted_at",
}
_UPDATE_KEYS = {
    "reasoning": "reasoning",
    "tokens": "tokens",
    "cost": "cost",
    "status": "status",
    "metadata": "metadata",
}
_TOKEN_KEYS = {
    "prompt": "prompt",
    "completion": "completion",
    "total": "total",
    "cacheRead": "cache_read",
    "cache_read": "cache_read",
    "cacheWrite": "cache_write",
    "cache_write": "cache_write",
    "cacheWrite1h": "cache_write_1h",
    "cache_write_1h": "cache_write_1h",
    "reasoning": "reasoning",
}
_COST_KEYS = {"prompt": "prompt", "completion": "completion", "total": "total"}
# Fields compared for "same content" (idempotent retries) when the caller sent them.
CONTENT_FIELDS = (
    "message_id",
    "project_id",
    "timestamp",
    "model",
    "reasoning",
    "context_layers",
    "tokens",
    "cost",
    "status",
    "metadata",
    "provider",
)


@dataclass(frozen=True, slots=True)
class PricedCost:
    """A cost computed from tokens, with the price-table version that produced it."""

    cost: Cost
    version: str


class Pricer(Protocol):
    """Prices token usage for a model (served by ``provider`` when known) at the instant ``at``;
    returns None when the model has no known price. ``context`` selects price variants the
    provider bills differently (``{"service_tier": "flex"}``, ``{"processing": "batch"}``)."""

    def __call__(
        self,
        model: str,
        tokens: TokenUsage,
        at: datetime,
        provider: str | None = None,
        context: Mapping[str, str] | None = None,
    ) -> PricedCost | None: ...


#: metadata key of the model that actually answered (the integrations record it)
RESPONSE_MODEL_KEY = "llm.response_model"
#: metadata keys whose values select a price variant (``Pricer`` ``context``), as the
#: integrations record them from the provider's response
PRICE_CONTEXT_KEYS = {"llm.service_tier": "service_tier", "llm.processing": "processing"}


def price_context(metadata: Mapping[str, Any] | None) -> dict[str, str] | None:
    """The price variant a trail's metadata names (``llm.service_tier``, ``llm.processing``)."""
    if not metadata:
        return None
    out = {
        name: value
        for key, name in PRICE_CONTEXT_KEYS.items()
        if isinstance(value := metadata.get(key), str) and value
    }
    return out or None


@dataclass(frozen=True, slots=True)
class NewTrail:
    """A validated trail to insert, and the fields its caller actually sent.

    ``create_project``: whether inserting it may create its project when that does not exist
    (the library's implicit creation). False for a write authorised by a project's own key:
    if the project was deleted meanwhile, the write fails instead of re-creating it.
    """

    trail: AuditTrail
    sent: frozenset[str]
    create_project: bool = True


@dataclass(frozen=True, slots=True)
class TrailUpdate:
    """A validated partial update: only the fields given are set."""

    fields: dict[str, Any]


def parse_trail(
    data: AuditTrail | Mapping[str, Any],
    project_id: str | None,
    *,
    now: datetime,
    pricer: Pricer | None = None,
    trusted: bool = False,
    status: str = "completed",
    stamp: bool = False,
) -> NewTrail:
    """Validate one trail; raise ``ValidationError`` naming every bad field.

    With ``stamp``, the server-set ``id``, ``created_at`` and ``updated_at`` that the input
    does not carry are set too (a new id, ``now``), as a store does when it inserts.
    """
    errs = Errors()
    raw = _as_fields(errs, data, trusted)
    if project_id is not None:
        if raw.get("project_id") not in (None, project_id):
            errs.add("projectId", "does not match the project it is stored under")
        raw["project_id"] = project_id
    sent = frozenset(k for k, v in raw.items() if v is not None or k in ("reasoning", "metadata"))
    out: dict[str, Any] = {}
    for key in ("message_id", "model"):
        if raw.get(key) is None:
            errs.add(_camel(key), "is required")
    if raw.get("message_id") is not None:
        out["message_id"] = rules.message_id(errs, "messageId", raw["message_id"])
    if raw.get("model") is not None:
        out["model"] = rules.text(errs, "model", raw["model"], max_len=rules.MAX_MODEL)
    if raw.get("project_id") is not None:
        out["project_id"] = rules.project_id(errs, "projectId", raw["project_id"])
    ts = raw.get("timestamp")
    out["timestamp"] = now if ts is None else rules.timestamp(errs, "timestamp", ts)
    out["reasoning"] = rules.reasoning(errs, "reasoning", raw.get("reasoning"))
    layers = raw.get("context_layers")
    out["context_layers"] = (
        0
        if layers is None
        else rules.integer(errs, "contextLayers", layers, lo=0, hi=rules.MAX_CONTEXT_LAYERS)
    )
    tokens = raw.get("tokens")
    out["tokens"] = TokenUsage() if tokens is None else parse_tokens(errs, tokens)
    cost = raw.get("cost")
    out["cost"] = None if cost is None else parse_cost(errs, cost)
    st = raw.get("status")
    out["status"] = status if st is None else rules.choice(errs, "status", st, STATUSES)
    out["metadata"] = rules.metadata(errs, "metadata", raw.get("metadata"))
    if raw.get("provider") is not None:
        out["provider"] = rules.provider(errs, "provider", raw["provider"])
    if trusted:
        _parse_server_fields(errs, raw, out)
    if errs:
        raise ValidationError(errs.items)
    if not (trusted and out.get("cost_source") is not None and out["cost"] is not None):
        out.update(cost_fields(out, out["cost"], pricer))
    if stamp:
        if out.get("id") is None:
            out["id"] = uuid7()
        out.setdefault("created_at", now)
        out.setdefault("updated_at", now)
    return NewTrail(AuditTrail(**out), sent)


def parse_update(fields: Mapping[str, Any]) -> TrailUpdate:
    """Validate the fields of a partial update (``reasoning``, ``tokens``, ``cost``, …)."""
    errs = Errors()
    raw = rules.mapping_keys(errs, "", fields, _UPDATE_KEYS)
    out: dict[str, Any] = {}
    if "reasoning" in raw:
        out["reasoning"] = rules.reasoning(errs, "reasoning", raw["reasoning"])
    if "metadata" in raw:
        out["metadata"] = rules.metadata(errs, "metadata", raw["metadata"])
    for key, fn in (("tokens", parse_tokens), ("cost", parse_cost)):
        if key in raw:
            if raw[key] is None:
                errs.add(key, "must not be null")
            else:
                out[key] = fn(errs, raw[key])
    if "status" in raw:
        out["status"] = rules.choice(errs, "status", raw["status"], STATUSES)
    if errs:
        raise ValidationError(errs.items)
    return TrailUpdate(out)


def apply_update(
    existing: AuditTrail, update: TrailUpdate, *, now: datetime, pricer: Pricer | None
) -> AuditTrail:
    """The trail after ``update``; cost is re-priced when tokens change and cost was not given."""
    fields = dict(update.fields)
    fields["updated_at"] = now
    if "cost" in fields:
        fields["cost_source"] = "provided"
        fields["price_version"] = None
    elif "tokens" in fields and existing.cost_source != "provided":
        trail = {**pricing_fields(existing), "tokens": fields["tokens"]}
        if "metadata" in fields:  # a completion's metadata may name the service tier
            trail["metadata"] = fields["metadata"]
        fields.update(cost_fields(trail, None, pricer))
    return dataclasses.replace(existing, **fields)


def finalize_cost(trail: AuditTrail, *, cost_sent: bool, pricer: Pricer | None) -> AuditTrail:
    """Set ``cost``/``cost_source``: provided if sent, else computed from tokens, else unpriced."""
    cost = trail.cost if cost_sent else None
    return dataclasses.replace(trail, **cost_fields(pricing_fields(trail), cost, pricer))


def pricing_fields(t: AuditTrail) -> dict[str, Any]:
    """What prices a trail: ``model``, ``tokens``, ``timestamp``, ``provider``, ``metadata``."""
    return {
        "model": t.model,
        "tokens": t.tokens,
        "timestamp": t.timestamp,
        "provider": t.provider,
        "metadata": t.metadata,
    }


def cost_fields(
    trail: Mapping[str, Any], cost: Cost | None, pricer: Pricer | None
) -> dict[str, Any]:
    """``cost``, ``cost_source`` and ``price_version``: the cost given (provided), else the
    price of the trail's tokens (``pricing_fields``) at its timestamp, for its provider and
    the price variant its metadata names (computed), else zero (unpriced)."""
    if cost is not None:
        return {"cost": cost, "cost_source": "provided", "price_version": None}
    priced = None
    if pricer is not None:
        at = trail["timestamp"]
        assert at is not None
        metadata = trail.get("metadata") or {}
        context = price_context(metadata)
        # the model that answered (an integration records it) if it has a price, else the one
        # asked for: "gpt-4o" may be answered, and billed, as a dated snapshot
        answered = metadata.get(RESPONSE_MODEL_KEY)
        for model in (answered, trail["model"]) if isinstance(answered, str) else (trail["model"],):
            priced = pricer(
                model, trail["tokens"], at, provider=trail.get("provider"), context=context
            )
            if priced is not None:
                break
    if priced is None:
        return {"cost": Cost(), "cost_source": "unpriced", "price_version": None}
    return {"cost": priced.cost, "cost_source": "computed", "price_version": priced.version}


def same_content(existing: AuditTrail, new: NewTrail) -> bool:
    """True when every field the caller sent equals the stored value (a safe retry)."""
    for name in CONTENT_FIELDS:
        if name in new.sent and getattr(existing, name) != getattr(new.trail, name):
            return False
    return True


def parse_tokens(errs: Errors, v: object) -> TokenUsage | None:
    if isinstance(v, TokenUsage):
        v = {f.name: getattr(v, f.name) for f in dataclasses.fields(TokenUsage)}
    if not isinstance(v, Mapping):
        errs.add("tokens", "must be an object")
        return None
    raw = rules.mapping_keys(errs, "tokens", v, _TOKEN_KEYS)
    out: dict[str, int | None] = {}
    for name, field, default, hi in _TOKEN_FIELDS:
        value = raw.get(name)
        if value is None:
            out[name] = default
            continue
        out[name] = rules.integer(errs, field, value, lo=0, hi=hi)
        if out[name] is None:
            return None
    prompt, completion = out["prompt"] or 0, out["completion"] or 0
    if out["total"] is not None and out["total"] != prompt + completion:
        errs.add("tokens.total", f"must equal prompt + completion ({prompt + completion})")
        return None
    if (out["cache_read"] or 0) + (out["cache_write"] or 0) > prompt:
        errs.add("tokens.cacheRead", "cache reads + writes are part of prompt and cannot exceed it")
        return None
    if (out["reasoning"] or 0) > completion:
        errs.add("tokens.reasoning", "reasoning tokens are part of completion and cannot exceed it")
        return None
    if (out["cache_write_1h"] or 0) > (out["cache_write"] or 0):
        errs.add(
            "tokens.cacheWrite1h", "1-hour cache writes are part of cacheWrite and cannot exceed it"
        )
        return None
    return TokenUsage(**out)  # type: ignore[arg-type]


def parse_cost(errs: Errors, v: object) -> Cost | None:
    if isinstance(v, Cost):
        v = {"prompt": v.prompt, "completion": v.completion, "total": v.total}
    if not isinstance(v, Mapping):
        errs.add("cost", "must be an object")
        return None
    raw = rules.mapping_keys(errs, "cost", v, _COST_KEYS)
    out: dict[str, Decimal | None] = {}
    for name, field in _COST_FIELDS:
        value = raw.get(name)
        out[name] = None if value is None else rules.money(errs, field, value)
        if value is not None and out[name] is None:
            return None
    prompt, completion = out["prompt"] or Decimal(0), out["completion"] or Decimal(0)
    with localcontext() as ctx:
        ctx.prec = 60
        expected = prompt + completion
    if out["total"] is not None and out["total"] != expected:
        errs.add("cost.total", f"must equal prompt + completion ({rules.plain(expected)})")
        return None
    return Cost(prompt, completion, rules.plain(expected))


def _as_fields(errs: Errors, data: object, trusted: bool) -> dict[str, Any]:
    if isinstance(data, AuditTrail):
        raw = {f.name: getattr(data, f.name) for f in dataclasses.fields(AuditTrail)}
        if not trusted:
            server_set = ("id", "created_at", "updated_at", "cost_source", "price_version")
            for key in (*server_set, "content_redacted_at"):
                raw.pop(key)
            if raw["status"] == "completed":
                raw["status"] = None  # the dataclass default, not something the caller chose
        return raw
    if not isinstance(data, Mapping):
        errs.add("", "an audit trail must be an object")
        raise ValidationError(errs.items)
    allowed = {**_TRAIL_KEYS, **_SERVER_KEYS} if trusted else _TRAIL_KEYS
    for key in data:
        if not trusted and key in _SERVER_KEYS:
            errs.add(str(key), "is set by the server and cannot be sent")
    fields = rules.mapping_keys(
        errs, "", {k: v for k, v in data.items() if trusted or k not in _SERVER_KEYS}, allowed
    )
    if errs:
        raise ValidationError(errs.items)
    return fields


def _parse_server_fields(errs: Errors, raw: Mapping[str, Any], out: dict[str, Any]) -> None:
    if raw.get("id") is not None:
        out["id"] = rules.text(errs, "id", raw["id"], max_len=64)
    for key in ("created_at", "updated_at", "content_redacted_at"):
        if raw.get(key) is not None:
            out[key] = rules.timestamp(errs, _camel(key), raw[key])
    if raw.get("cost_source") is not None:
        out["cost_source"] = rules.choice(errs, "costSource", raw["cost_source"], COST_SOURCES)
    if raw.get("price_version") is not None:
        out["price_version"] = rules.text(errs, "priceVersion", raw["price_version"], max_len=64)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


_TOKEN_FIELDS = tuple(
    (name, f"tokens.{_camel(name)}", 0 if name in ("prompt", "completion") else None, hi)
    for name, hi in (
        ("prompt", rules.MAX_TOKENS),
        ("completion", rules.MAX_TOKENS),
        ("total", 2 * rules.MAX_TOKENS),
        ("cache_read", rules.MAX_TOKENS),
        ("cache_write", rules.MAX_TOKENS),
        ("reasoning", rules.MAX_TOKENS),
        ("cache_write_1h", rules.MAX_TOKENS),
    )
)
_COST_FIELDS = tuple((name, f"cost.{name}") for name in ("prompt", "completion", "total"))
