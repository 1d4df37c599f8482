"""Putting one store's records into another, idempotently: the shared core of dual mode,
``llmtrail copy`` and ``llmtrail import``.

Every write here is an *upsert with last-writer-wins on ``updatedAt``*: a trail that is
missing is inserted with its ids and timestamps kept; one that is present with the same
content is left alone; one that differs is overwritten only when the incoming copy is at
least as new (so a slow copy can never undo a newer dual write). Running any of these twice
changes nothing the second time.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence

from llmtrail.errors import (
    ConflictError,
    FieldError,
    NotFoundError,
    ValidationError,
)
from llmtrail.model import AuditTrail, NewTrail, StoreOutcome
from llmtrail.model.parse import CONTENT_FIELDS
from llmtrail.model.wire import dumps, trail_to_wire
from llmtrail.store.base import Store

_ALL_CONTENT = frozenset(CONTENT_FIELDS)


def canonical(t: AuditTrail) -> str:
    """The canonical JSON text of a trail (sorted keys, exact decimals)."""
    return dumps(trail_to_wire(t), sort_keys=True, separators=(",", ":"))


def checksum(t: AuditTrail) -> bytes:
    """A content checksum of every field of a trail (16 bytes of SHA-256)."""
    return hashlib.sha256(canonical(t).encode()).digest()[:16]


def diff_fields(a: AuditTrail, b: AuditTrail) -> list[str]:
    """The JSON names of the fields that differ between two trails."""
    wa, wb = trail_to_wire(a), trail_to_wire(b)
    return sorted(k for k in wa if dumps(wa[k], sort_keys=True) != dumps(wb[k], sort_keys=True))


@dataclasses.dataclass
class PutStats:
    """What a batch of puts did."""

    created: int = 0
    unchanged: int = 0
    overwritten: int = 0
    stale: int = 0

    def add(self, other: PutStats) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def _prepared(store: Store, t: AuditTrail, validate: bool) -> NewTrail:
    """The insert of a trail with every field as given (ids, timestamps, cost source)."""
    if validate:
        try:
            return store.prepare(t, trusted=True)
        except ValidationError as e:
            raise ValidationError(
                [FieldError(f"{t.message_id}: {f.field}", f.message) for f in e.errors]
            ) from None
    if store.requires_project and t.project_id is None:
        raise ValidationError(f"{t.message_id}: is required by the database backends", "projectId")
    if t.id is None or t.timestamp is None or t.cost is None or t.cost_source is None:
        return store.prepare(t, trusted=True)
    return NewTrail(t, _ALL_CONTENT)


def put_trails(store: Store, trails: Sequence[AuditTrail], *, validate: bool = False) -> PutStats:
    """Upsert trails (ids, timestamps, cost source kept) in one batched insert.

    The trails must come from a store or from ``parse_trail`` (already validated); pass
    ``validate=True`` for anything else. Raises the first error that is not a content
    conflict (e.g. ``UnavailableError``); a ``ValidationError`` names the trail's messageId.
    """
    stats = PutStats()
    if not trails:
        return stats
    latest: dict[str, AuditTrail] = {}
    for t in trails:  # a later snapshot of the same trail supersedes an earlier one
        latest.pop(t.message_id, None)
        latest[t.message_id] = t
    batch = list(latest.values())
    prepared = [_prepared(store, t, validate) for t in batch]
    results = store.insert_prepared(prepared)
    for t, r in zip(batch, results, strict=True):
        if isinstance(r, StoreOutcome):
            if r.created:
                stats.created += 1
            elif canonical(r.trail) == canonical(t):
                stats.unchanged += 1
            elif _overwrite(store, t):
                stats.overwritten += 1
            else:
                stats.stale += 1
        elif isinstance(r, ConflictError):
            if _overwrite(store, t):
                stats.overwritten += 1
            else:
                stats.stale += 1
        else:
            raise r
    return stats


def put_trail(store: Store, trail: AuditTrail) -> PutStats:
    """Upsert one trail (see ``put_trails``)."""
    return put_trails(store, [trail])


def put_changed(store: Store, trail: AuditTrail) -> PutStats:
    """Upsert a trail that most likely exists already (an update): one write transaction
    instead of an insert attempt followed by the overwrite."""
    stats = PutStats()
    if _overwrite(store, trail):
        stats.overwritten += 1
    else:
        stats.unchanged += 1
    return stats


def _overwrite(store: Store, incoming: AuditTrail) -> bool:
    """Replace a stored trail by ``incoming`` unless the stored one is newer; True if written."""
    written = False

    def change(old: AuditTrail) -> AuditTrail:
        nonlocal written
        if old.updated_at and incoming.updated_at and incoming.updated_at < old.updated_at:
            return old
        written = canonical(old) != canonical(incoming)
        return incoming

    for _ in range(3):
        try:
            store.rewrite(incoming.message_id, change)
            return written
        except NotFoundError:  # deleted in between: insert it again
            outcome = store.insert_prepared([_prepared(store, incoming, False)])[0]
            if isinstance(outcome, StoreOutcome):
                return True
            if not isinstance(outcome, ConflictError):
                raise outcome from None
    raise ConflictError(f"messageId {incoming.message_id!r} keeps changing; try again")
