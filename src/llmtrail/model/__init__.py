"""The domain: types, validation rules and the JSON shape. Imports no web framework."""

from llmtrail.model.parse import (
    NewTrail,
    PricedCost,
    Pricer,
    TrailUpdate,
    apply_update,
    finalize_cost,
    parse_trail,
    parse_update,
    same_content,
)
from llmtrail.model.types import (
    ApiKey,
    AuditTrail,
    Cost,
    CostSource,
    Page,
    Project,
    Status,
    StoreOutcome,
    TokenUsage,
    TrailFilter,
)
from llmtrail.model.wire import dumps, loads, project_to_wire, trail_to_wire

__all__ = [
    "ApiKey",
    "AuditTrail",
    "Cost",
    "CostSource",
    "NewTrail",
    "Page",
    "PricedCost",
    "Pricer",
    "Project",
    "Status",
    "StoreOutcome",
    "TokenUsage",
    "TrailFilter",
    "TrailUpdate",
    "apply_update",
    "dumps",
    "finalize_cost",
    "loads",
    "parse_trail",
    "parse_update",
    "project_to_wire",
    "same_content",
    "trail_to_wire",
]
