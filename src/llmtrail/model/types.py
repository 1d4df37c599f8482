"""The domain types of SPEC §1, as plain frozen dataclasses (snake_case attributes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

Status = Literal["pending", "completed", "failed"]
CostSource = Literal["provided", "computed", "unpriced"]
MetadataValue = str | int | float | bool
STATUSES: tuple[str, ...] = ("pending", "completed", "failed")
COST_SOURCES: tuple[str, ...] = ("provided", "computed", "unpriced")

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts. ``prompt`` includes cache reads/writes; ``completion`` includes reasoning.

    ``cache_write_1h`` is the part of ``cache_write`` written with a 1-hour lifetime (Anthropic
    bills those at 2× input, 5-minute writes at 1.25×).
    """

    prompt: int = 0
    completion: int = 0
    total: int | None = None
    cache_read: int | None = None
    cache_write: int | None = None
    reasoning: int | None = None
    cache_write_1h: int | None = None

    def __post_init__(self) -> None:
        if self.total is None and _is_int(self.prompt) and _is_int(self.completion):
            object.__setattr__(self, "total", self.prompt + self.completion)


@dataclass(frozen=True, slots=True)
class Cost:
    """Cost in USD as exact decimals; ``total`` defaults to ``prompt + completion``."""

    prompt: Decimal = ZERO
    completion: Decimal = ZERO
    total: Decimal | None = None

    def __post_init__(self) -> None:
        if (
            self.total is None
            and isinstance(self.prompt, Decimal)
            and isinstance(self.completion, Decimal)
        ):
            object.__setattr__(self, "total", self.prompt + self.completion)


@dataclass(frozen=True, slots=True)
class AuditTrail:
    """One LLM message's audit record.

    Build one to pass to ``store``; the store returns it completed with the server-set fields
    (``id``, ``created_at``, ``updated_at``, and ``timestamp``/``cost_source`` when defaulted).
    """

    message_id: str
    model: str
    project_id: str | None = None
    timestamp: datetime | None = None
    reasoning: list[str] | None = None
    context_layers: int = 0
    tokens: TokenUsage = field(default_factory=TokenUsage)
    cost: Cost | None = None
    cost_source: CostSource | None = None
    status: Status = "completed"
    metadata: dict[str, MetadataValue] | None = None
    id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    price_version: str | None = None
    #: who served the call (``openai``, ``anthropic``, ``aws-bedrock``, …); used for pricing
    provider: str | None = None
    #: when cleanup cleared ``reasoning`` and ``metadata`` (the project's content retention)
    content_redacted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Project:
    """A project owns trails; ``retention_days`` overrides the global retention.

    ``content_retention_days``: after it, cleanup clears a trail's ``reasoning`` and
    ``metadata`` (tokens and cost stay). ``legal_hold``: cleanup deletes and redacts nothing.
    """

    id: str
    name: str
    retention_days: int | None = None
    created_at: datetime | None = None
    content_retention_days: int | None = None
    legal_hold: bool = False
    #: a spending limit per day or month; analytics report against it, alerts fire at 80/100%
    budget: Budget | None = None


@dataclass(frozen=True, slots=True)
class Budget:
    """A project's spending limit (SPEC §12): ``amount`` USD per UTC ``day`` or ``month``."""

    amount: Decimal
    period: str


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A project key as stored: only its hash is kept, never the secret."""

    id: str
    project_id: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoreOutcome:
    """The result of storing one trail: the stored trail and whether it was new."""

    trail: AuditTrail
    created: bool


@dataclass(frozen=True, slots=True)
class TrailFilter:
    """Filters shared by listing, export and cleanup-style scans."""

    project_id: str
    since: datetime | None = None
    until: datetime | None = None
    model: str | None = None
    status: str | None = None
    provider: str | None = None
    #: only trails whose messageId starts with this
    message_id_prefix: str | None = None
    #: only trails whose metadata has each (key, value): a string equal to the value, or a
    #: number or boolean whose JSON text is it (``3``, ``0.25``, ``true``)
    metadata: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a newest-first listing and the opaque cursor of the next one."""

    items: list[AuditTrail]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class AccessEntry:
    """One read of a project's trails through the API (SPEC §10): when, by which key (its id,
    ``admin`` for the admin key: never the secret), which route, how many items came back."""

    at: datetime
    project_id: str
    key_id: str
    route: str
    items: int
    id: int | None = None  # set by the store


@dataclass(frozen=True, slots=True)
class AccessPage:
    """One page of the access log, newest first, and the cursor of the next one."""

    items: list[AccessEntry]
    next_cursor: str | None


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
