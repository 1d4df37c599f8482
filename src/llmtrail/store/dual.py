"""``AUDIT_TRAIL_BACKEND=dual``: every write to a source store and a target store, reads from
one of them, and a durable outbox for whatever the target missed (SPEC §7).

The **source** (``AUDIT_TRAIL_DUAL_SOURCE_URL``: ``memory://``, the old SQLite file, …) stays
the authority for the whole of dual mode: writes go to it first and fail the caller if it
fails. Each write is then applied to the **target** (``DATABASE_URL``) as an idempotent upsert
of the full record (see ``replicate``). If the target fails — an outage, a timeout — the caller
still succeeds: the operation goes to the outbox (a SQLite file, ``AUDIT_TRAIL_DUAL_OUTBOX``)
and a replayer thread applies it later, oldest first, with exponential backoff. While the
outbox holds anything, new writes queue behind it instead of going straight to the target, and
writes of one trail are serialised (striped locks), so the target sees every trail's versions
in the source's order: an update is never applied before the insert it depends on.

Reads come from the source until ``AUDIT_TRAIL_DUAL_READ=target``. A trail missing from the
read side is looked up on the other one (a memory source forgets trails on restart), and with
reads on the target a trail that still waits in the outbox is read from the source.

Projects and keys go to both sides the same way (keys by id and hash, so one secret works on
both). Cleanup runs on both; the count returned is the read side's, and a target failure during
cleanup is logged and left to the next run.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from llmtrail import keys
from llmtrail.config import Settings
from llmtrail.errors import AuditTrailError, NotFoundError, UnavailableError, ValidationError
from llmtrail.metrics import DUAL_BACKLOG, DUAL_REPLAYED
from llmtrail.model import (
    ApiKey,
    AuditTrail,
    NewTrail,
    Page,
    Project,
    StoreOutcome,
    TrailFilter,
    parse_trail,
)
from llmtrail.model.rules import Errors, timestamp
from llmtrail.model.wire import key_to_wire, project_to_wire, trail_to_wire
from llmtrail.store.base import Store
from llmtrail.store.outbox import Entry, Outbox
from llmtrail.store.replicate import put_key, put_project, put_trails

log = logging.getLogger("llmtrail.store.dual")
_STRIPES = 64
_MAX_ATTEMPTS = 8  # permanent (non-outage) failures before an entry goes to the dead table
_MAX_BACKOFF = 30.0


class DualStore(Store):
    """A source store and a target store written together (see the module docstring)."""

    backend = "dual"
    requires_project = True

    def __init__(
        self,
        source: Store,
        target: Store | Callable[[], Store],
        outbox: Outbox,
        *,
        read: str = "source",
        target_database: str = "",
        replay_interval: float = 2.0,
        replayer: bool = True,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        if read not in ("source", "target"):
            raise ValidationError("must be 'source' or 'target'", field="AUDIT_TRAIL_DUAL_READ")
        self.source = source
        self._target: Store | None = target if isinstance(target, Store) else None
        self._open_target = None if isinstance(target, Store) else target
        self.read_from = read
        self.outbox = outbox
        self.replay_interval = replay_interval
        tdb = self._target.database if self._target else target_database
        self.database = f"{source.database} -> {tdb}"
        self._stripes = [threading.Lock() for _ in range(_STRIPES)]
        self._target_lock = threading.Lock()
        self._replay_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._failures = 0
        self._retry_at = 0.0
        self._thread: threading.Thread | None = None
        self._synced: set[str] = set()  # projects already replicated by this process
        self._update_backlog()
        if replayer:
            self._thread = threading.Thread(target=self._run, name="llmtrail-dual", daemon=True)
            self._thread.start()

    # -- the two sides -----------------------------------------------------------------------

    @property
    def target(self) -> Store:
        """The target store, opened on first use (it may be down when the service starts)."""
        if self._target is None:
            with self._target_lock:
                if self._target is None:
                    assert self._open_target is not None
                    self._target = self._open_target()
        return self._target

    def _reader(self) -> Store:
        return self.target if self.read_from == "target" else self.source

    def _other(self) -> Store:
        return self.source if self.read_from == "target" else self.target

    @contextlib.contextmanager
    def _locked(self, message_ids: Sequence[str]) -> Iterator[None]:
        stripes = sorted({zlib.crc32(m.encode()) % _STRIPES for m in message_ids})
        with contextlib.ExitStack() as stack:
            for i in stripes:
                stack.enter_context(self._stripes[i])
            yield

    # -- replication -----------------------------------------------------------------------------

    def _replicate(
        self, kind: str, items: list[tuple[str, dict[str, Any]]], apply: Callable[[Store], Any]
    ) -> None:
        """Apply an operation to the target now, or record it in the outbox (caller holds the
        stripe locks of the trails involved)."""
        if not items:
            return
        if not self.outbox.has_pending():
            try:
                apply(self.target)
                return
            except Exception as e:  # any target failure: the source has it, the outbox keeps it
                self.outbox.append(kind, items)
                backlog = self._update_backlog()
                log.warning(
                    "dual: target write failed (%s); recorded in the outbox, backlog=%d",
                    _describe(e),
                    backlog,
                )
                self._note_failure()
                return
        self.outbox.append(kind, items)
        self._update_backlog()
        if time.monotonic() >= self._retry_at:
            self._wake.set()

    def _replicate_trails(self, trails: list[AuditTrail]) -> None:
        # Projects the source created implicitly go first, with their name and createdAt.
        for pid in sorted({t.project_id for t in trails if t.project_id} - self._synced):
            project = self.source.get_project(pid)
            if project is not None:
                self._replicate_project(project)
        self._replicate(
            "trail",
            [(t.message_id, trail_to_wire(t)) for t in trails],
            lambda target: put_trails(target, trails),
        )

    def _update_backlog(self) -> int:
        n = self.outbox.pending()
        DUAL_BACKLOG.set(n)
        return n

    def backlog(self) -> int:
        """How many operations wait for the target."""
        return self._update_backlog()

    def _note_failure(self) -> None:
        self._failures += 1
        delay = min(0.5 * 2 ** (self._failures - 1), _MAX_BACKOFF)
        self._retry_at = time.monotonic() + delay

    def replay(self, limit: int | None = None) -> bool:
        """Apply recorded operations to the target, oldest first; True when the outbox is empty
        (or another process is replaying), False when the target is still failing."""
        with self._replay_lock, self.outbox.replaying() as mine:
            if not mine:
                return True
            applied = 0
            while limit is None or applied < limit:
                entries = self.outbox.head(500)
                if not entries:
                    break
                ok, n = self._apply_entries(entries)
                applied += n
                if not ok:
                    self._update_backlog()
                    return False
            backlog = self._update_backlog()
            if applied:
                log.info("dual: replayed %d operations to the target, backlog=%d", applied, backlog)
                if backlog == 0:
                    log.info("dual: outbox drained, the target is up to date")
            self._failures = 0
            self._retry_at = 0.0
            return backlog == 0

    def _apply_entries(self, entries: list[Entry]) -> tuple[bool, int]:
        done = 0
        i = 0
        while i < len(entries):
            j = i + 1
            if entries[i].kind == "trail":
                while j < len(entries) and entries[j].kind == "trail":
                    j += 1
            group = entries[i:j]
            try:
                with self._locked([e.key for e in group if e.kind == "trail"]):
                    self._apply(group)
                    self.outbox.done([e.seq for e in group])
            except Exception as e:
                if _is_outage(e):
                    log.warning(
                        "dual: target still unavailable (%s), backlog=%d",
                        _describe(e),
                        self.outbox.pending(),
                    )
                    self._note_failure()
                    return False, done
                if len(group) > 1:  # find the one bad entry: apply them one by one
                    for entry in group:
                        ok, n = self._apply_entries([entry])
                        done += n
                        if not ok:
                            return False, done
                else:
                    self._give_up_maybe(group[0], e)
                i = j
                continue
            done += len(group)
            DUAL_REPLAYED.inc(len(group))
            i = j
        return True, done

    def _give_up_maybe(self, entry: Entry, e: Exception) -> None:
        attempts = self.outbox.failed(entry.seq, _describe(e))
        if attempts >= _MAX_ATTEMPTS:
            self.outbox.bury(entry.seq)
            log.error(
                "dual: gave up on %s %s after %d attempts (%s); see the outbox's dead table",
                entry.kind,
                entry.key,
                attempts,
                _describe(e),
            )
        else:
            log.warning("dual: %s %s failed on the target: %s", entry.kind, entry.key, e)

    def _apply(self, group: list[Entry]) -> None:
        target = self.target
        kind = group[0].kind
        if kind == "trail":
            now = self.clock()
            trails = [parse_trail(e.payload, None, now=now, trusted=True).trail for e in group]
            put_trails(target, trails)
            return
        (entry,) = group
        p = entry.payload
        if kind == "project":
            put_project(target, _project(p))
        elif kind == "delete_project":
            with contextlib.suppress(NotFoundError):
                target.delete_project(p["id"])
        elif kind == "key":
            put_key(target, _key(p), p["keyHash"])
        else:
            raise AuditTrailError(f"unknown outbox operation {kind!r}")

    def _run(self) -> None:
        delay = 0.0
        while not self._stop.is_set():
            self._wake.wait(delay)
            self._wake.clear()
            if self._stop.is_set():
                return
            wait = self._retry_at - time.monotonic()
            if wait > 0:
                delay = wait
                continue
            try:
                drained = self.replay() if self.outbox.has_pending() else True
            except Exception:  # never let the replayer die
                log.exception("dual: replay failed")
                self._note_failure()
                drained = False
            delay = (
                self.replay_interval if drained else max(self._retry_at - time.monotonic(), 0.05)
            )

    # -- trails ------------------------------------------------------------------------------

    def _insert(self, new: NewTrail) -> StoreOutcome:
        with self._locked([new.trail.message_id]):
            outcome = self.source._insert(new)
            self._replicate_trails([outcome.trail])
        return outcome

    def _insert_many(self, items: list[NewTrail]) -> list[StoreOutcome | AuditTrailError]:
        with self._locked([n.trail.message_id for n in items]):
            results = self.source._insert_many(items)
            self._replicate_trails([r.trail for r in results if isinstance(r, StoreOutcome)])
        return results

    def _get(self, message_id: str) -> AuditTrail | None:
        if self.read_from == "target" and self.outbox.has_pending(message_id):
            return self.source._get(message_id)
        found = self._reader()._get(message_id)
        if found is None:
            with contextlib.suppress(Exception):
                found = self._other()._get(message_id)
        return found

    def _update(
        self, message_id: str, change: Callable[[AuditTrail], AuditTrail], project_id: str | None
    ) -> AuditTrail:
        with self._locked([message_id]):
            try:
                new = self.source._update(message_id, change, project_id)
            except NotFoundError:
                # Only on the target (a memory source restarted since): update it there.
                if self.outbox.has_pending(message_id):
                    raise
                return self.target._update(message_id, change, project_id)
            self._replicate_trails([new])
        return new

    def _cleanup(self, now: datetime, days: float) -> int:
        count = self._reader()._cleanup(now, days)
        try:
            self._other()._cleanup(now, days)
        except Exception as e:
            log.warning("dual: cleanup of the %s side failed (%s)", self._side("other"), e)
        return count

    def _count_expired(self, now: datetime, days: float) -> int:
        return self._reader()._count_expired(now, days)

    def _usage(self, project_id: str, window: Any) -> Any:
        return self._reader()._usage(project_id, window)

    def _list(self, filter: TrailFilter, limit: int, cursor: str | None) -> Page:
        return self._reader()._list(filter, limit, cursor)

    # -- projects and keys ---------------------------------------------------------------------

    def _create_project(self, project: Project) -> Project:
        created = self.source._create_project(project)
        self._replicate_project(created)
        return created

    def _replicate_project(self, project: Project) -> None:
        self._replicate(
            "project",
            [(project.id, project_to_wire(project))],
            lambda target: put_project(target, project),
        )
        self._synced.add(project.id)

    def _get_project(self, id: str) -> Project | None:
        found = self._reader()._get_project(id)
        if found is None:
            with contextlib.suppress(Exception):
                found = self._other()._get_project(id)
        return found

    def list_projects(self) -> list[Project]:
        return self._reader().list_projects()

    def _delete_project(self, id: str) -> bool:
        gone = self.source._delete_project(id)
        self._synced.discard(id)
        on_target = False

        def apply(target: Store) -> None:
            nonlocal on_target
            on_target = target._delete_project(id)

        self._replicate("delete_project", [(id, {"id": id})], apply)
        return gone or on_target

    def create_api_key(self, project_id: str) -> tuple[ApiKey, str]:
        if self.source.get_project(project_id) is None:
            theirs = self._other().get_project(project_id) if self.read_from == "target" else None
            if theirs is None:
                raise NotFoundError(f"no project {project_id!r}")
            put_project(self.source, theirs)
        record, secret = self.source.create_api_key(project_id)
        self._replicate_key(record, keys.hash_secret(secret))
        return record, secret

    def _replicate_key(self, record: ApiKey, digest: str) -> None:
        payload = {**key_to_wire(record), "keyHash": digest}
        self._replicate(
            "key", [(record.id, payload)], lambda target: put_key(target, record, digest)
        )

    def list_api_keys(self, project_id: str) -> list[ApiKey]:
        return self._reader().list_api_keys(project_id)

    def revoke_api_key(self, project_id: str, key_id: str) -> None:
        from llmtrail.store.replicate import key_records

        self.source.revoke_api_key(project_id, key_id)
        for record, digest in key_records(self.source):
            if record.id == key_id:
                self._replicate_key(record, digest)

    def authenticate(self, secret: str) -> ApiKey | None:
        found = self._reader().authenticate(secret)
        if found is None:
            with contextlib.suppress(Exception):
                found = self._other().authenticate(secret)
        return found

    def ping(self) -> None:
        self._reader().ping()

    def _side(self, which: str) -> str:
        reads_target = self.read_from == "target"
        return "source" if (which == "other") == reads_target else "target"

    def __getattr__(self, name: str) -> Any:
        # Backend extras (``count_trails``, ``all_trails``, …) come from the read side.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._reader(), name)

    def close(self) -> None:
        """Stop the replayer (after one last replay attempt), then close both stores."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._target is not None and self.outbox.has_pending():
            with contextlib.suppress(Exception):
                self.replay()
        backlog = self.outbox.pending()
        if backlog:
            log.warning(
                "dual: closing with %d operations still in the outbox (%s); "
                "they are replayed on the next start",
                backlog,
                self.outbox.path,
            )
        self.outbox.close()
        self.source.close()
        if self._target is not None:
            self._target.close()


def _is_outage(e: BaseException) -> bool:
    return isinstance(e, UnavailableError | OSError) or not isinstance(e, AuditTrailError)


def _describe(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text[:200]}" if text else type(e).__name__


def _when(value: Any) -> datetime | None:
    return None if value is None else timestamp(Errors(), "at", value)


def _project(p: dict[str, Any]) -> Project:
    return Project(p["id"], p["name"], p.get("retentionDays"), _when(p.get("createdAt")))


def _key(p: dict[str, Any]) -> ApiKey:
    created = _when(p["createdAt"])
    assert created is not None
    return ApiKey(p["id"], p["projectId"], p["prefix"], created, _when(p.get("revokedAt")))


def open_dual(settings: Settings, common: dict[str, Any], migrate: bool) -> DualStore:
    """The dual store of ``AUDIT_TRAIL_BACKEND=dual`` (called by ``open_store``)."""
    from llmtrail.store import open_store

    if not settings.dual_source_url:
        raise ValidationError(
            "is required when AUDIT_TRAIL_BACKEND=dual (e.g. memory:// or sqlite:///old.db)",
            field="AUDIT_TRAIL_DUAL_SOURCE_URL",
        )
    kw = {k: v for k, v in common.items() if k != "pricer"}
    pricer = common.get("pricer")

    def open_target() -> Store:
        return open_store(
            settings.database_url, settings=settings, pricer=pricer, auto_migrate=migrate, **kw
        )

    source = open_store(
        settings.dual_source_url, settings=settings, pricer=pricer, auto_migrate=migrate, **kw
    )
    target: Store | Callable[[], Store]
    try:
        target = open_target()
    except UnavailableError as e:
        log.warning("dual: target unavailable at start (%s); writes queue in the outbox", e)
        target = open_target
    from sqlalchemy.engine import make_url

    return DualStore(
        source,
        target,
        Outbox(settings.dual_outbox),
        read=settings.dual_read,
        target_database=make_url(settings.database_url).render_as_string(hide_password=True),
        replay_interval=settings.dual_replay_interval,
        **common,
    )
