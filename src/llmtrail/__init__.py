"""llmtrail: a durable, queryable, exactly-priced audit trail for every LLM message.

import llmtrail
store = llmtrail.open_store()                 # from the environment (SQLite by default)
store.store({"messageId": "m1", "model": "gpt-4o", "tokens": {...}}, project_id="app")
"""

from llmtrail.aio import AsyncStore, open_async_store
from llmtrail.config import Settings
from llmtrail.default import (
    cleanup_old_audit_trails,
    create_placeholder_audit_trail,
    default_store,
    get_audit_trail,
    set_default_store,
    store_audit_trail,
    update_audit_trail,
)
from llmtrail.errors import (
    AuditTrailError,
    ConflictError,
    NotFoundError,
    SchemaOutdatedError,
    UnavailableError,
    ValidationError,
)
from llmtrail.model import (
    ApiKey,
    AuditTrail,
    Cost,
    Page,
    Project,
    StoreOutcome,
    TokenUsage,
    TrailFilter,
)
from llmtrail.store import Store, open_store

__version__ = "0.1.0"

__all__ = [
    "ApiKey",
    "AsyncStore",
    "AuditTrail",
    "AuditTrailError",
    "ConflictError",
    "Cost",
    "NotFoundError",
    "Page",
    "Project",
    "SchemaOutdatedError",
    "Settings",
    "Store",
    "StoreOutcome",
    "TokenUsage",
    "TrailFilter",
    "UnavailableError",
    "ValidationError",
    "__version__",
    "cleanup_old_audit_trails",
    "create_placeholder_audit_trail",
    "default_store",
    "get_audit_trail",
    "open_async_store",
    "open_store",
    "set_default_store",
    "store_audit_trail",
    "update_audit_trail",
]
