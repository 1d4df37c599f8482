"""``AUDIT_TRAIL_BACKEND=dual``: every write to a source store and a target store, reads from
one of them, and a durable outbox for whatever the target missed (SPEC §7).

The **source** (``AUDIT_TRAIL_DUAL_SOURCE_URL``: ``memory://``, the old SQLite file, …) stays
the authority for the whole of dual mode: writes go to it first and fail the caller if it
fails. Each write is then applied to the **target** (``DATABASE_URL``) as an idempotent upsert
of the full record (see ``replicate``). If the target fails — an outage, a timeout — the caller
still succeeds: the operation goes to the outbox (a SQLite file, ``AUDIT_TRAIL_DUAL_OUTBOX``)
and a replayer thread (``replay.py``) applies it later, oldest first, with exponential
backoff. While the outbox holds anything, new writes queue behind it instead of going
straight to the target, and writes of one trail are serialised (striped locks), so the target
sees every trail's versions in the source's order: an update is never applied before the
insert it depends on.

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
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from llmtrail import keys
from llmtrail.config import Settings
from llmtrail.errors import AuditTrailError, NotFoundError, UnavailableError, ValidationError
from llmtrail.model import (
    AccessEntry,
    ApiKey,
    AuditTrail,
    NewTrail,
    Page,
    Project,
    StoreOutcome,
    TrailFilter,
)
from llmtrail.model.wire import key_to_wire, project_to_wire, trail_to_wire
from llmtrail.store.base import AccessQuery, LedgerView, Store
from llmtrail.store.outbox import Outbox
from llmtrail.store.replay import Replayer, describe
from llmtrail.store.replicate import (
    put_changed,
    put_trails,
)
from llmtrail.store.state import SharedState

if TYPE_CHECKING:
    from llmtrail.ledger.entries import Checkpoint, LedgerEntry
    from llmtrail.ledger.seal import SealReport
    from llmtrail.ledger.signing import Signer

log = logging.getLogger("llmtrail.store.dual")
_STRIPES = 64


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
        tdb = self._target.database if self._target else target_database
        self.database = f"{source.database} -> {tdb}"
        self._stripes = [threading.Lock() for _ in range(_STRIPES)]
        self._target_lock = threading.Lock()
        self._synced: set[str] = set()  # projects already replicated by this process
        self.replayer = Replayer(
            outbox, lambda: self.target, self._locked, clock=self.clock, interval=replay_interval
        )
        self.replayer.update_backlog()
        if replayer:
            self.replayer.start()

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
                backlog = self.replayer.update_backlog()
                log.warning(
                    "dual: target write failed (%s); recorded in the outbox, backlog=%d",
                    describe(e),
                    backlog,
                )
                self.replayer.note_failure()
                return
        self.outbox.append(kind, items)
        self.replayer.update_backlog()
        self.replayer.wake()

    def _replicate_trails(self, trails: list[AuditTrail], *, updated: bool = False) -> None:
        # Projects the source created implicitly go first, with their name and createdAt.
        for pid in sorted({t.project_id for t in trails if t.project_id} - self._synced):
            project = self.source.get_project(pid)
            if project is not None:
                self._replicate_project(project)
        self._replicate(
            "trail",
            [(t.message_id, trail_to_wire(t)) for t in trails],
            lambda target: (
                put_changed(target, trails[0]) if updated else put_trails(target, trails)
            ),
        )

    def backlog(self) -> int:
        """How many operations wait for the target."""
        return self.replayer.update_backlog()

    def replay(self, limit: int | None = None) -> bool:
        """Replay the outbox now; True when the target has everything."""
        return self.replayer.replay(limit)

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

    def _healthy(self) -> bool:
        """Whether the target looks reachable (nothing queued, not backing off)."""
        return self.replayer.healthy() and not self.outbox.has_pending()

    def _fallback(self) -> Store | None:
        """The other side for a read that missed, unless it is a target that looks down."""
        if self.read_from == "source" and not self._healthy():
            return None
        try:
            return self._other()
        except Exception:  # a target that cannot even be opened
            return None

    def _get(self, message_id: str) -> AuditTrail | None:
        if self.read_from == "target" and self.outbox.has_pending(message_id):
            return self.source._get(message_id)
        found = self._reader()._get(message_id)
        other = self._fallback() if found is None else None
        if other is not None:
            with contextlib.suppress(Exception):
                found = other._get(message_id)
        return found

    def _update(
        self, message_id: str, change: Callable[[AuditTrail], AuditTrail], project_id: str | None
    ) -> AuditTrail:
        with self._locked([message_id]):
            try:
                new = self.source._update(message_id, change, project_id)
            except NotFoundError:
                # Only on the target (a memory source restarted since): update it there.
                if not self._healthy():
                    raise
                return self.target._update(message_id, change, project_id)
            self._replicate_trails([new], updated=True)
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

    def _record_reads(self, entries: list[AccessEntry]) -> None:
        self.source._record_reads(entries)  # the log of the store this server reads from

    def _access_log(self, q: AccessQuery) -> list[AccessEntry]:
        return self.source._access_log(q)

    def _purge_access_log(self, cutoff: datetime) -> int:
        return self.source._purge_access_log(cutoff)

    def _redact(self, now: datetime, dry_run: bool) -> int:
        count = self._reader()._redact(now, dry_run)
        if not dry_run:
            try:
                self._other()._redact(now, dry_run)
            except Exception as e:
                log.warning("dual: redaction on the %s side failed (%s)", self._side("other"), e)
        return count

    def _usage(self, project_id: str, window: Any) -> Any:
        return self._reader()._usage(project_id, window)

    def _list(self, filter: TrailFilter, limit: int, cursor: str | None) -> Page:
        return self._reader()._list(filter, limit, cursor)

    # -- projects and keys ---------------------------------------------------------------------

    def _create_project(self, project: Project) -> Project:
        created = self.source._create_project(project)
        self._replicate_project(created)
        return created

    def _set_project(self, project: Project) -> None:
        self.source._set_project(project)
        self._replicate_project(project)

    def _replicate_project(self, project: Project) -> None:
        self._replicate(
            "project",
            [(project.id, project_to_wire(project))],
            lambda target: target.put_project(project),
        )
        self._synced.add(project.id)

    def _get_project(self, id: str) -> Project | None:
        found = self._reader()._get_project(id)
        other = self._fallback() if found is None else None
        if other is not None:
            with contextlib.suppress(Exception):
                found = other._get_project(id)
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
            # Only on the target (a memory source restarted since): give the source a copy.
            theirs = self.get_project(project_id)
            if theirs is None:
                raise NotFoundError(f"no project {project_id!r}")
            self.source.put_project(theirs)
        record, secret = self.source.create_api_key(project_id)
        self._replicate_key(record, keys.hash_secret(secret))
        return record, secret

    def _replicate_key(self, record: ApiKey, digest: str) -> None:
        payload = {**key_to_wire(record), "keyHash": digest}
        self._replicate(
            "key", [(record.id, payload)], lambda target: target.put_key(record, digest)
        )

    def list_api_keys(self, project_id: str) -> list[ApiKey]:
        return self._reader().list_api_keys(project_id)

    def revoke_api_key(self, project_id: str, key_id: str) -> None:
        try:
            self.source.revoke_api_key(project_id, key_id)
        except NotFoundError:
            # Only on the target (a memory source restarted since): revoke it there.
            if not self._healthy():
                raise
            self.target.revoke_api_key(project_id, key_id)
            return
        for record, digest in self.source.key_records():
            if record.id == key_id:
                self._replicate_key(record, digest)

    def authenticate(self, secret: str) -> ApiKey | None:
        found = self._reader().authenticate(secret)
        other = self._fallback() if found is None else None
        if other is not None:
            with contextlib.suppress(Exception):
                found = other.authenticate(secret)
        return found

    def ping(self) -> None:
        self._reader().ping()

    def _side(self, which: str) -> str:
        reads_target = self.read_from == "target"
        return "source" if (which == "other") == reads_target else "target"

    def count_trails(self, project_id: str | None = None) -> int:
        return self._reader().count_trails(project_id)

    # -- the ledger: each side keeps its own, of its own writes ---------------------------------

    keeps_ledger = True

    def seal(self, signer: Signer | None = None, *, batch: int = 50_000) -> SealReport:
        """Seal the source's ledger, and the target's when it is open, with one key."""
        key = signer or self.signer
        report = self.source.seal(key, batch=batch)
        if self._target is not None:
            other = self._target.seal(key, batch=batch)
            report.entries += other.entries
            report.checkpoints += other.checkpoints
        return report

    def _ledger_side(self) -> Store:
        reader = self._reader()
        return reader if reader.keeps_ledger else self._other()

    def ledger_entries(self, project_id: str | None = None) -> Iterator[LedgerEntry]:
        return self._ledger_side().ledger_entries(project_id)

    def checkpoints(
        self, project_id: str | None = None, *, with_entries: bool = False
    ) -> list[Checkpoint]:
        return self._ledger_side().checkpoints(project_id, with_entries=with_entries)

    def latest_checkpoint(self, project_id: str) -> Checkpoint | None:
        return self._ledger_side().latest_checkpoint(project_id)

    def ledger_snapshot(self) -> AbstractContextManager[LedgerView]:
        """The ledger of the side read from (or of the other, when that one keeps none)."""
        return self._ledger_side().ledger_snapshot()

    def fold_usage(self) -> int:
        """Fold in the source, and in the target when it is open."""
        return self.source.fold_usage() + (self._target.fold_usage() if self._target else 0)

    @property
    def state(self) -> SharedState:
        """The target's shared state (the database being migrated to), or the source's while
        the target cannot be opened."""
        try:
            return self.target.state
        except Exception as e:
            log.debug("dual: shared state from the source (target unavailable: %s)", e)
            return self.source.state

    def close(self) -> None:
        """Stop the replayer (after one last replay attempt), then close both stores."""
        self.replayer.stop()
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
