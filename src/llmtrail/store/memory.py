"""The in-memory backend: for tests and throw-away dev only.

Bounded by construction: at most ``max_entries`` trails, the oldest evicted first, and
entries past the retention are dropped lazily when the store is touched. Projects and keys
are bounded by the same number: projects without trails or keys are dropped first (then the
oldest project, with its trails), revoked keys before the oldest active ones. There are no
timers and no threads, so nothing can leak the way the seed's ``setTimeout`` cleanup did.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from llmtrail import keys
from llmtrail.analytics import Usage, Window, usage_of_trails
from llmtrail.errors import ConflictError, NotFoundError
from llmtrail.ids import uuid7
from llmtrail.model import (
    AccessEntry,
    ApiKey,
    AuditTrail,
    NewTrail,
    Page,
    Project,
    StoreOutcome,
    TrailFilter,
    rules,
    same_content,
)
from llmtrail.store.base import AccessQuery, Store, redacted
from llmtrail.store.cursor import decode_cursor, encode_cursor

log = logging.getLogger("llmtrail.store.memory")


class MemoryStore(Store):
    """Trails in a bounded ordered dict; lost when the process ends (a warning says so)."""

    backend = "memory"
    database = "memory://"
    requires_project = False

    def __init__(self, *, max_entries: int = 100_000, **kw: Any) -> None:
        super().__init__(**kw)
        self.max_entries = max_entries
        self._trails: OrderedDict[str, AuditTrail] = OrderedDict()
        self._projects: dict[str, Project] = {}
        self._keys: dict[str, tuple[ApiKey, str]] = {}  # key id -> (record, hash)
        self._access: deque[AccessEntry] = deque(maxlen=max_entries)  # oldest dropped first
        self._access_ids = itertools.count(1)
        self._lock = threading.RLock()
        self.evicted = 0
        self.evicted_projects = 0
        log.warning(
            "memory backend in use: audit trails are lost on restart and capped at %d entries; "
            "use DATABASE_URL=sqlite:///… or postgresql://… for anything you want to keep",
            max_entries,
        )

    # -- the access log -----------------------------------------------------------------------

    def _record_reads(self, entries: list[AccessEntry]) -> None:
        with self._lock:
            for e in entries:
                self._access.append(dataclasses.replace(e, id=next(self._access_ids)))

    def _access_log(self, q: AccessQuery) -> list[AccessEntry]:
        with self._lock:
            rows = [
                e
                for e in self._access
                if e.project_id == q.project_id
                and (q.since is None or e.at >= q.since)
                and (q.until is None or e.at < q.until)
                and (q.key_id is None or e.key_id == q.key_id)
                and (q.after is None or (e.at, e.id or 0) < q.after)
            ]
        rows.sort(key=lambda e: (e.at, e.id or 0), reverse=True)
        return rows[: q.limit]

    def _purge_access_log(self, cutoff: datetime) -> int:
        with self._lock:
            kept = [e for e in self._access if e.at >= cutoff]
            gone = len(self._access) - len(kept)
            self._access.clear()
            self._access.extend(kept)
            return gone

    # -- trails -----------------------------------------------------------------------------

    def _expired(self, trail: AuditTrail, now: datetime) -> bool:
        # Like the seed's setTimeout, an entry lives for the retention from when it was
        # stored; explicit cleanup() goes by the trail's own timestamp, as in the database.
        assert trail.created_at is not None
        days = self.retention_days
        if trail.project_id is not None and trail.project_id in self._projects:
            project = self._projects[trail.project_id]
            if project.legal_hold:
                return False
            days = project.retention_days if project.retention_days is not None else days
        return trail.created_at < now - timedelta(days=days)

    def _evict(self, now: datetime) -> None:
        while self._trails:
            first = next(iter(self._trails.values()))
            if not self._expired(first, now):
                break
            self._trails.popitem(last=False)
            self.evicted += 1
        while len(self._trails) >= self.max_entries:
            self._trails.popitem(last=False)
            self.evicted += 1

    def _insert(self, new: NewTrail) -> StoreOutcome:
        t = new.trail
        with self._lock:
            existing = self._get(t.message_id)
            if existing is not None:
                if same_content(existing, new):
                    return StoreOutcome(existing, created=False)
                raise ConflictError(
                    f"messageId {t.message_id!r} already exists with different content"
                )
            now = self.clock()
            self._evict(now)
            if t.project_id is not None and t.project_id not in self._projects:
                if not new.create_project:
                    raise NotFoundError(f"no project {t.project_id!r}")
                self._make_room_for_project()
                self._projects[t.project_id] = Project(t.project_id, t.project_id, None, now)
            stored = _replace(
                t,
                id=t.id or uuid7(),
                created_at=t.created_at or now,
                updated_at=t.updated_at or now,
            )
            self._trails[t.message_id] = stored
            return StoreOutcome(stored, created=True)

    def _get(self, message_id: str) -> AuditTrail | None:
        with self._lock:
            trail = self._trails.get(message_id)
            if trail is not None and self._expired(trail, self.clock()):
                del self._trails[message_id]
                self.evicted += 1
                return None
            return trail

    def _update(
        self, message_id: str, change: Callable[[AuditTrail], AuditTrail], project_id: str | None
    ) -> AuditTrail:
        with self._lock:
            old = self._get(message_id)
            if old is None or (project_id is not None and old.project_id != project_id):
                raise NotFoundError(f"no audit trail with messageId {message_id!r}")
            new = change(old)
            self._trails[message_id] = new
            return new

    def _past_cutoff(self, now: datetime, days: float) -> list[str]:
        """Message ids of trails whose ``timestamp`` is strictly older than their cutoff."""
        cutoffs = {
            pid: now - timedelta(days=p.retention_days)
            for pid, p in self._projects.items()
            if p.retention_days is not None
        }
        default = now - timedelta(days=days)
        held = {pid for pid, p in self._projects.items() if p.legal_hold}
        out = []
        for mid, t in self._trails.items():
            assert t.timestamp is not None
            if t.project_id in held:
                continue
            limit = cutoffs.get(t.project_id, default) if t.project_id is not None else default
            if t.timestamp < limit:
                out.append(mid)
        return out

    def _to_redact(self, now: datetime) -> list[str]:
        """Message ids of trails past their project's content retention, not yet redacted."""
        cutoffs = {
            pid: now - timedelta(days=p.content_retention_days)
            for pid, p in self._projects.items()
            if p.content_retention_days is not None and not p.legal_hold
        }
        return [
            mid
            for mid, t in self._trails.items()
            if t.project_id in cutoffs
            and t.content_redacted_at is None
            and t.timestamp is not None
            and t.timestamp < cutoffs[t.project_id]
        ]

    def _redact(self, now: datetime, dry_run: bool) -> int:
        with self._lock:
            doomed = self._to_redact(now)
            if not dry_run:
                for mid in doomed:
                    self._trails[mid] = redacted(self._trails[mid], now)
            return len(doomed)

    def _cleanup(self, now: datetime, days: float) -> int:
        with self._lock:
            doomed = self._past_cutoff(now, days)
            for mid in doomed:
                del self._trails[mid]
            self.evicted += len(doomed)
            return len(doomed)

    def _count_expired(self, now: datetime, days: float) -> int:
        with self._lock:
            return len(self._past_cutoff(now, days))

    def _matching(self, f: TrailFilter) -> list[AuditTrail]:
        now = self.clock()
        out = []
        for t in self._trails.values():
            assert t.timestamp is not None
            if t.project_id != f.project_id or self._expired(t, now):
                continue
            if f.since is not None and t.timestamp < f.since:
                continue
            if f.until is not None and t.timestamp >= f.until:
                continue
            if f.model is not None and t.model != f.model:
                continue
            if f.status is not None and t.status != f.status:
                continue
            if f.provider is not None and t.provider != f.provider:
                continue
            if f.message_id_prefix is not None and not t.message_id.startswith(f.message_id_prefix):
                continue
            if f.metadata and not _metadata_matches(t, f.metadata):
                continue
            out.append(t)
        out.sort(key=lambda t: (t.timestamp, t.id), reverse=True)
        return out

    def _list(self, filter: TrailFilter, limit: int, cursor: str | None) -> Page:
        position = decode_cursor(cursor) if cursor else None
        with self._lock:
            items = self._matching(filter)
        if position is not None:
            items = [t for t in items if (t.timestamp, t.id) < position]
        page = items[:limit]
        more = len(items) > limit
        last = page[-1] if page else None
        nxt = (
            encode_cursor(last.timestamp, last.id)
            if more and last and last.timestamp and last.id
            else None
        )
        return Page(page, nxt)

    def _usage(self, project_id: str, window: Window) -> list[Usage]:
        # Brute force over the live trails in one pass (memory keeps no aggregates).
        with self._lock:
            trails = self._matching(TrailFilter(project_id, since=window.start, until=window.end))
        return usage_of_trails(trails, window)

    def all_trails(self) -> list[AuditTrail]:
        """A snapshot of every live trail (for export before a restart, and analytics)."""
        with self._lock:
            now = self.clock()
            return [t for t in self._trails.values() if not self._expired(t, now)]

    # -- projects and keys ---------------------------------------------------------------------

    def _create_project(self, project: Project) -> Project:
        with self._lock:
            if project.id in self._projects:
                raise ConflictError(f"project {project.id!r} already exists")
            self._make_room_for_project()
            self._projects[project.id] = project
            return project

    def _make_room_for_project(self) -> None:
        """Keep fewer than ``max_entries`` projects before one is added: drop every project
        holding no trail and no key (one scan pays for many additions), else the oldest."""
        if len(self._projects) < self.max_entries:
            return
        used = {t.project_id for t in self._trails.values()}
        used.update(rec.project_id for rec, _ in self._keys.values())
        idle = [pid for pid in self._projects if pid not in used]
        for pid in idle:
            del self._projects[pid]
        if not idle:
            self._delete_project(next(iter(self._projects)))
        self.evicted_projects += max(len(idle), 1)

    def _make_room_for_key(self) -> None:
        if len(self._keys) < self.max_entries:
            return
        revoked = [kid for kid, (rec, _) in self._keys.items() if rec.revoked_at is not None]
        for kid in revoked or [next(iter(self._keys))]:
            del self._keys[kid]

    def _get_project(self, id: str) -> Project | None:
        return self._projects.get(id)

    def list_projects(self) -> list[Project]:
        with self._lock:
            return sorted(self._projects.values(), key=lambda p: p.id)

    def _delete_project(self, id: str) -> bool:
        with self._lock:
            if self._projects.pop(id, None) is None:
                return False
            for mid in [m for m, t in self._trails.items() if t.project_id == id]:
                del self._trails[mid]
            for kid in [k for k, (rec, _) in self._keys.items() if rec.project_id == id]:
                del self._keys[kid]
            return True

    def create_api_key(self, project_id: str) -> tuple[ApiKey, str]:
        with self._lock:
            self.require_project(project_id)
            self._make_room_for_key()
            secret = keys.new_secret()
            record = ApiKey(uuid7(), project_id, keys.display_prefix(secret), self.clock())
            self._keys[record.id] = (record, keys.hash_secret(secret))
            return record, secret

    def _set_project(self, project: Project) -> None:
        with self._lock:
            self._projects[project.id] = project

    def key_records(self) -> list[tuple[ApiKey, str]]:
        with self._lock:
            return list(self._keys.values())

    def put_key(self, record: ApiKey, digest: str) -> bool:
        with self._lock:
            if self._keys.get(record.id) == (record, digest):
                return False
            self._keys[record.id] = (record, digest)
            return True

    def count_trails(self, project_id: str | None = None) -> int:
        return sum(project_id in (None, t.project_id) for t in self.all_trails())

    def list_api_keys(self, project_id: str) -> list[ApiKey]:
        with self._lock:
            return [rec for rec, _ in self._keys.values() if rec.project_id == project_id]

    def revoke_api_key(self, project_id: str, key_id: str) -> None:
        with self._lock:
            entry = self._keys.get(key_id)
            if entry is None or entry[0].project_id != project_id:
                raise NotFoundError(f"no key {key_id!r} in project {project_id!r}")
            rec, digest = entry
            if rec.revoked_at is None:
                self._keys[key_id] = (_replace_key(rec, self.clock()), digest)

    def authenticate(self, secret: str) -> ApiKey | None:
        digest = keys.hash_secret(secret)
        with self._lock:
            for rec, h in self._keys.values():
                if h == digest and rec.revoked_at is None:
                    return rec
        return None

    def ping(self) -> None:
        return None


def _replace(t: AuditTrail, **kw: Any) -> AuditTrail:
    return dataclasses.replace(t, **kw)


def _replace_key(k: ApiKey, when: datetime) -> ApiKey:
    return dataclasses.replace(k, revoked_at=when)


def _metadata_matches(t: AuditTrail, wanted: tuple[tuple[str, str], ...]) -> bool:
    md = t.metadata or {}
    return all(k in md and rules.metadata_text(md[k]) == v for k, v in wanted)
