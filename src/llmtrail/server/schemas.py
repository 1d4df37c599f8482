"""Pydantic models used ONLY to document requests and responses in OpenAPI.

Requests are parsed with ``llmtrail.model.wire.loads`` and validated by ``llmtrail.model``;
responses are written by ``llmtrail.model.wire.dumps``. These classes never see real data;
they tell clients (and schemathesis) what the JSON looks like.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llmtrail.model import rules

MetadataValue = str | int | float | bool
Money = float | str
StatusName = Literal["pending", "completed", "failed"]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokensIn(_Doc):
    prompt: int = Field(0, ge=0, le=rules.MAX_TOKENS)
    completion: int = Field(0, ge=0, le=rules.MAX_TOKENS)
    total: int | None = Field(None, ge=0, description="prompt + completion (the default)")
    cacheRead: int | None = Field(None, ge=0, description="part of prompt")
    cacheWrite: int | None = Field(None, ge=0, description="part of prompt")
    cacheWrite1h: int | None = Field(
        None, ge=0, description="part of cacheWrite written with a 1-hour lifetime"
    )
    reasoning: int | None = Field(None, ge=0, description="part of completion")


class CostIn(_Doc):
    prompt: Money = Field(0, description="USD, a JSON number or a decimal string, ≥ 0")
    completion: Money = Field(0, description="USD, a JSON number or a decimal string, ≥ 0")
    total: Money | None = Field(None, description="prompt + completion (the default)")


class TrailIn(_Doc):
    """A trail to record (camelCase, SPEC §1)."""

    messageId: str = Field(min_length=1, max_length=rules.MAX_MESSAGE_ID)
    model: str = Field(min_length=1, max_length=rules.MAX_MODEL)
    provider: str | None = Field(
        None,
        pattern=rules.PROVIDER_RE.pattern,
        description="who served the call (openai, anthropic, aws-bedrock, …); used for pricing",
    )
    projectId: str | None = Field(None, description="if sent, must match the path")
    timestamp: datetime | None = Field(None, description="RFC 3339 with an offset; default now")
    reasoning: list[str] | None = Field(None, max_length=rules.MAX_REASONING_ITEMS)
    contextLayers: int = Field(0, ge=0, le=rules.MAX_CONTEXT_LAYERS)
    tokens: TokensIn | None = None
    cost: CostIn | None = Field(None, description="omit to have it priced from tokens")
    status: StatusName = "completed"
    metadata: dict[str, MetadataValue] | None = Field(None, max_length=rules.MAX_METADATA_KEYS)


class TrailPatch(_Doc):
    """A partial update: only the fields sent change."""

    reasoning: list[str] | None = Field(None, max_length=rules.MAX_REASONING_ITEMS)
    tokens: TokensIn | None = None
    cost: CostIn | None = None
    status: StatusName | None = None
    metadata: dict[str, MetadataValue] | None = Field(None, max_length=rules.MAX_METADATA_KEYS)


class BatchIn(_Doc):
    items: list[TrailIn] = Field(max_length=rules.MAX_BATCH)


class TokensOut(BaseModel):
    prompt: int
    completion: int
    total: int
    cacheRead: int | None = None
    cacheWrite: int | None = None
    cacheWrite1h: int | None = None
    reasoning: int | None = None


class CostOut(BaseModel):
    prompt: float
    completion: float
    total: float


class TrailOut(BaseModel):
    """A stored trail."""

    id: str
    messageId: str
    projectId: str
    timestamp: datetime
    model: str
    provider: str | None = None
    reasoning: list[str] | None
    contextLayers: int
    tokens: TokensOut
    cost: CostOut
    costSource: Literal["provided", "computed", "unpriced"]
    priceVersion: str | None
    status: StatusName
    metadata: dict[str, MetadataValue] | None
    createdAt: datetime
    updatedAt: datetime


class TrailPage(BaseModel):
    items: list[TrailOut]
    nextCursor: str | None


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = None


class BatchItemResult(BaseModel):
    status: int = Field(description="the status this item alone would have had (201/200/4xx)")
    trail: TrailOut | None = None
    problem: Problem | None = None


class BatchOut(BaseModel):
    items: list[BatchItemResult]


class BudgetIn(_Doc):
    """A spending limit: alerts at 80% and 100% of ``amount`` USD per UTC day or month."""

    amount: Decimal | str = Field(description="USD above zero, a number or decimal text")
    period: Literal["day", "month"]


class BudgetOut(BaseModel):
    amount: Decimal
    period: Literal["day", "month"]


class ProjectIn(_Doc):
    id: str | None = Field(
        None, pattern=f"^{rules.PROJECT_ID_RE.pattern}$", description="default: generated"
    )
    name: str | None = Field(None, min_length=1, max_length=200)
    retentionDays: int | None = Field(
        None,
        ge=0,
        le=rules.MAX_RETENTION_DAYS,
        description="overrides the global retention; not below AUDIT_TRAIL_MIN_RETENTION_DAYS",
    )
    contentRetentionDays: int | None = Field(
        None,
        ge=0,
        le=rules.MAX_RETENTION_DAYS,
        description="after it, cleanup clears reasoning and metadata (tokens and cost stay)",
    )
    legalHold: bool = Field(False, description="while true, cleanup deletes and redacts nothing")
    budget: BudgetIn | None = None


class ProjectPatch(_Doc):
    """The fields to change (null clears a retention)."""

    name: str | None = Field(None, min_length=1, max_length=200)
    retentionDays: int | None = Field(None, ge=0, le=rules.MAX_RETENTION_DAYS)
    contentRetentionDays: int | None = Field(None, ge=0, le=rules.MAX_RETENTION_DAYS)
    legalHold: bool | None = None
    budget: BudgetIn | None = Field(None, description="null removes the budget")


class ProjectOut(BaseModel):
    id: str
    name: str
    retentionDays: int | None
    contentRetentionDays: int | None = None
    legalHold: bool = False
    budget: BudgetOut | None = None
    createdAt: datetime


class ProjectList(BaseModel):
    items: list[ProjectOut]


class KeyCreated(BaseModel):
    id: str
    key: str = Field(description="the secret, shown only this once")


class KeyOut(BaseModel):
    id: str
    projectId: str
    prefix: str
    createdAt: datetime
    revokedAt: datetime | None


class KeyList(BaseModel):
    items: list[KeyOut]


class Health(BaseModel):
    status: Literal["ok"]
    backend: str
    database: str


def inline_schema(model: type[BaseModel], mode: Literal["validation", "serialization"]) -> Any:
    """The JSON schema of ``model`` with every ``$ref`` inlined (no ``$defs`` left)."""
    schema = model.model_json_schema(mode=mode)
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


def body_doc(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON request body read by hand."""
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": inline_schema(model, "validation")}},
        }
    }


PROBLEM_CONTENT = {"application/problem+json": {"schema": inline_schema(Problem, "serialization")}}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for the problem statuses a route can return."""
    text = {
        400: "Malformed JSON",
        401: "Missing, unknown or revoked key",
        403: "The key does not reach this project",
        404: "Not found",
        409: "Conflict",
        413: "Body too large",
        415: "Unsupported Content-Type or Content-Encoding",
        422: "Invalid input (the offending fields in `errors`)",
        503: "Database unavailable (see Retry-After)",
    }
    return {c: {"description": text[c], "content": PROBLEM_CONTENT} for c in codes}
