"""The seed's module-level functions, in snake case, working on one default store.

The default store is opened lazily from the environment on first use, so code ported from
the seed (``storeAuditTrail`` → ``store_audit_trail``) reads the same.
"""

from __future__ import annotations

import threading
from typing import Any

from llmtrail.model import AuditTrail
from llmtrail.store import Store, open_store
from llmtrail.store.base import TrailInput

_lock = threading.Lock()
_default: Store | None = None


def default_store() -> Store:
    """The process-wide store configured from the environment (opened on first use)."""
    global _default
    with _lock:
        if _default is None:
            _default = open_store()
        return _default


def set_default_store(store: Store | None) -> None:
    """Replace the default store (tests, or an app that opens its own)."""
    global _default
    with _lock:
        _default = store


def store_audit_trail(trail: TrailInput, project_id: str | None = None) -> AuditTrail:
    """Seed ``storeAuditTrail``: insert a trail (identical retries are no-ops)."""
    return default_store().store(trail, project_id)


def get_audit_trail(message_id: str) -> AuditTrail | None:
    """Seed ``getAuditTrail``: the trail, or None."""
    return default_store().get(message_id)


def update_audit_trail(message_id: str, **fields: Any) -> AuditTrail:
    """Seed ``updateAuditTrail``: partial update; NotFoundError if missing."""
    return default_store().update(message_id, **fields)


def cleanup_old_audit_trails(days_old: float = 7) -> int:
    """Seed ``cleanupOldAuditTrails``: delete trails older than ``days_old``; the count."""
    return default_store().cleanup(days_old)


def create_placeholder_audit_trail(
    message_id: str,
    model: str,
    context_layers: int = 0,
    project_id: str | None = None,
    **extra: Any,
) -> AuditTrail:
    """Seed ``createPlaceholderAuditTrail``: a ``pending`` trail with zero tokens and cost."""
    return default_store().create_placeholder(
        message_id, model, context_layers, project_id, **extra
    )
