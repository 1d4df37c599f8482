"""The SQL backend: SQLite and PostgreSQL through SQLAlchemy Core (psycopg 3 on PostgreSQL)."""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Iterable, Iterator, Sized
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Connection, and_, delete, exc, func, or_, select, update
from sqlalchemy.engine import Engine

from llmtrail import keys
from llmtrail.analytics import Usage, Window
from llmtrail.errors import (
    AuditTrailError,
    ConflictError,
    NotFoundError,
    UnavailableError,
    ValidationError,
)
from llmtrail.ids import uuid7
from llmtrail.ledger.entries import Checkpoint, LedgerEntry, written
from llmtrail.model import (
    AccessEntry,
    ApiKey,
    AuditTrail,
    NewTrail,
    Page,
    Project,
    StoreOutcome,
    TrailFilter,
    same_content,
)
from llmtrail.store.base import AccessQuery, LedgerView, Store, TrailInput
from llmtrail.store.cursor import decode_cursor, encode_cursor
from llmtrail.store.sql import accounts, dialects, usage
from llmtrail.store.sql import analytics as sql_analytics
from llmtrail.store.sql import cleanup as sql_cleanup
from llmtrail.store.sql import ledger as sql_ledger
from llmtrail.store.sql.pg_fast import PgFastPath
from llmtrail.store.sql.rows import (
    change_deltas,
    project_to_row,
    row_to_project,
    row_to_trail,
    same_value,
    trail_to_row,
    usage_delta,
)
from llmtrail.store.sql.schema import access_log, api_keys, audit_trails, projects
from llmtrail.store.sql.state import SQLState

log = logging.getLogger("llmtrail.store.sql")
P = ParamSpec("P")
R = TypeVar("R")
_STREAM_MIN = 32  # store_many batches from this size stream through COPY on PostgreSQL


def _db_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Map connection failures to UnavailableError, retrying once on a stale pooled connection.

    Every write here is idempotent (same-content inserts are no-ops; updates set values), so a
    single retry after a dropped connection cannot apply anything twice.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in (1, 2):
            try:
                return fn(*args, **kwargs)
            except exc.DBAPIError as e:
                if e.connection_invalidated and attempt == 1:
                    continue
                if (
                    isinstance(e, exc.OperationalError | exc.InterfaceError)
                    or e.connection_invalidated
                ):
                    raise UnavailableError(f"database unavailable: {_short(e)}") from e
                raise
            except exc.TimeoutError as e:
                raise UnavailableError("database unavailable: connection pool exhausted") from e
        raise AssertionError("unreachable")

    return wrapper


def _short(e: BaseException) -> str:
    return str(getattr(e, "orig", e)).strip().splitlines()[0][:200] if str(e) else type(e).__name__


class SQLStore(Store):
    """Trails in SQLite (the embedded default) or PostgreSQL (production)."""

    def __init__(
        self,
        engine: Engine,
        *,
        rollup_retention_days: int = 400,
        cleanup_batch_size: int = 200,
        cleanup_pause_ratio: float = 6.0,
        transaction_pooler: bool = False,
        fold_seconds: float = 1.0,
        read_engine: Engine | None = None,
        ledger: bool = True,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        #: every write appends a ledger entry in its transaction (SPEC §9)
        self.keeps_ledger = ledger
        self.cleanup_batch_size = cleanup_batch_size
        self.cleanup_pause_ratio = cleanup_pause_ratio
        self.engine = engine
        #: a streaming replica for listing, export and analytics (None: the primary)
        self.read_engine = read_engine
        self.dialect = engine.dialect.name
        self.backend = "postgresql" if self.dialect == "postgresql" else "sqlite"
        self.database = engine.url.set(drivername=self.backend).render_as_string(hide_password=True)
        self.rollup_retention_days = rollup_retention_days
        self._writer = engine.execution_options(**dialects.write_options(self.dialect))
        self._known_projects: set[str] = set()
        # PostgreSQL: hot paths (insert, get, update) as prepared statements on psycopg.
        self.transaction_pooler = transaction_pooler
        self._state = SQLState(engine, self.clock)
        self._fast = (
            PgFastPath(engine, prepare=not transaction_pooler, ledger=ledger)
            if self.dialect == "postgresql"
            else None
        )
        # PostgreSQL writes append usage increments; this folds them into the rollups.
        self._folder = usage.Folder(self.fold_usage, fold_seconds if self._fast else 0)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._writer.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def _on_replica(self, read: Callable[[Connection], R]) -> R:
        """``read(conn)`` on the read replica, or on the primary when there is none or it fails
        (a replica that is down or restarting costs freshness, never the read)."""
        if self.read_engine is not None:
            try:
                with self.read_engine.connect() as conn:
                    return read(conn)
            except exc.OperationalError as e:
                log.warning("read replica failed, reading from the primary: %s", _short(e))
        with self._read() as conn:
            return read(conn)

    # -- trails -------------------------------------------------------------------------------

    def _ensure_projects(self, conn: Connection, ids: set[str], now: datetime) -> None:
        missing = ids - self._known_projects
        if missing:
            stmt = dialects.insert(self.dialect, projects).on_conflict_do_nothing()
            conn.execute(
                stmt,
                [
                    {"id": p, "name": p, "retention_days": None, "created_at": now}
                    for p in sorted(missing)
                ],
            )

    def _stamp(self, t: AuditTrail, now: datetime) -> AuditTrail:
        if t.id is not None and t.created_at is not None and t.updated_at is not None:
            return t  # the usual case: Store.prepare stamped it
        return dataclasses.replace(
            t, id=t.id or uuid7(), created_at=t.created_at or now, updated_at=t.updated_at or now
        )

    @_db_errors
    def _insert(self, new: NewTrail) -> StoreOutcome:
        result = self._insert_many([new])[0]
        if isinstance(result, AuditTrailError):
            raise result
        return result

    @_db_errors
    def _insert_many(self, items: list[NewTrail]) -> list[StoreOutcome | AuditTrailError]:
        results: dict[int, StoreOutcome | AuditTrailError] = {}
        pending = list(enumerate(items))
        for attempt in (1, 2, 3):
            try:
                batch = self._insert_batch([n for _, n in pending]) if pending else []
                break
            except exc.IntegrityError:
                # A project we believed existed was deleted meanwhile (its foreign key failed):
                # forget what we knew. Trails that may create their project do so on the retry;
                # the others are refused, so a deleted project stays deleted.
                self._known_projects.clear()
                if attempt == 3:
                    raise
                pending = self._refuse_orphans(pending, results)
        results.update((i, r) for (i, _), r in zip(pending, batch, strict=True))
        return [results[i] for i in range(len(items))]

    def _refuse_orphans(
        self,
        pending: list[tuple[int, NewTrail]],
        refused: dict[int, StoreOutcome | AuditTrailError],
    ) -> list[tuple[int, NewTrail]]:
        """``pending`` without the trails that may not create their missing project; those
        get a ``NotFoundError`` in ``refused``."""
        asked = {n.trail.project_id for _, n in pending if not n.create_project}
        if not asked:
            return pending
        with self._read() as conn:
            found = set(
                conn.execute(select(projects.c.id).where(projects.c.id.in_(asked))).scalars()
            )
        keep = []
        for i, n in pending:
            if n.create_project or n.trail.project_id in found:
                keep.append((i, n))
            else:
                refused[i] = NotFoundError(f"no project {n.trail.project_id!r}")
        return keep

    def _insert_batch(self, items: list[NewTrail]) -> list[StoreOutcome | AuditTrailError]:
        now = self.clock()
        stamped = [self._stamp(n.trail, now) for n in items]
        firsts: dict[str, int] = {}
        for i, t in enumerate(stamped):
            firsts.setdefault(t.message_id, i)
        fresh = [t for i, t in enumerate(stamped) if firsts[t.message_id] == i]
        creatable = {n.trail.project_id for n in items if n.create_project and n.trail.project_id}
        if self._fast is not None:
            new_projects = {t.project_id for t in fresh if t.project_id in creatable}
            inserted, existing = self._fast.insert(
                fresh,
                sorted(new_projects - self._known_projects),
                now,
                lambda ins: set(firsts) - ins,
            )
        else:
            inserted, existing = self._write_batch(fresh, set(firsts), now, creatable)
        self._known_projects.update(t.project_id for t in fresh if t.project_id)
        if inserted:
            self._folder.wake()
        return _outcomes(items, stamped, firsts, inserted, existing)

    def store_many(
        self,
        trails: Iterable[TrailInput],
        project_id: str | None = None,
        *,
        trusted: bool = False,
        create_project: bool = True,
    ) -> list[StoreOutcome | AuditTrailError]:
        """``Store.store_many``. On PostgreSQL, larger batches stream into the database (COPY)
        while they are validated, so validation and ingestion overlap."""
        small = isinstance(trails, Sized) and len(trails) < _STREAM_MIN
        # COPY creates the projects it does not know: only when that is allowed, or known.
        may_copy = create_project or (project_id is not None and project_id in self._known_projects)
        if self._fast is None or small or not may_copy:
            return super().store_many(
                trails, project_id, trusted=trusted, create_project=create_project
            )
        prepared: list[NewTrail | AuditTrailError] = []

        def valid() -> Iterator[NewTrail]:
            for t in trails:  # validated exactly as Store.store_many does
                try:
                    new = self.prepare(
                        t, project_id, trusted=trusted, create_project=create_project
                    )
                except ValidationError as e:
                    prepared.append(e)
                    continue
                prepared.append(new)
                yield new

        results = iter(self._insert_stream(valid()))
        return [p if isinstance(p, AuditTrailError) else next(results) for p in prepared]

    def _insert_stream(self, source: Iterator[NewTrail]) -> list[StoreOutcome | AuditTrailError]:
        """COPY new trails as ``source`` yields them; if that fails (a message id exists, a
        project vanished, a dropped connection), the rest is read and the general path runs."""
        assert self._fast is not None
        now = self.clock()
        items: list[NewTrail] = []
        stamped: list[AuditTrail] = []
        firsts: dict[str, int] = {}

        def fresh() -> Iterator[AuditTrail]:
            for new in source:
                t = self._stamp(new.trail, now)
                first = firsts.setdefault(t.message_id, len(items))
                items.append(new)
                stamped.append(t)
                if first == len(items) - 1:
                    yield t

        gen = fresh()
        try:
            written = self._fast.copy_new(gen, self._known_projects, now)
        except exc.DBAPIError as e:
            # A message id exists or a project vanished (IntegrityError), or a stale pooled
            # connection: validate the rest and take the general path (it handles all three).
            if not (isinstance(e, exc.IntegrityError) or e.connection_invalidated):
                if isinstance(e, exc.OperationalError | exc.InterfaceError):
                    raise UnavailableError(f"database unavailable: {_short(e)}") from e
                raise
            for _ in gen:
                pass
            return self._insert_many(items) if items else []
        except exc.TimeoutError as e:
            raise UnavailableError("database unavailable: connection pool exhausted") from e
        self._known_projects.update(t.project_id for t in written if t.project_id)
        self._folder.wake()
        return _outcomes(items, stamped, firsts, {t.message_id for t in written}, {})

    def _write_batch(
        self, fresh: list[AuditTrail], message_ids: set[str], now: datetime, creatable: set[str]
    ) -> tuple[set[str], dict[str, AuditTrail]]:
        """Insert ``fresh`` (distinct message ids) with their rollups, creating the missing
        projects among ``creatable``; the message ids inserted and the stored trails of the
        other ``message_ids`` (SQLAlchemy Core path)."""
        with self._write() as conn:
            self._ensure_projects(conn, {str(t.project_id) for t in fresh} & creatable, now)
            stmt = (
                dialects.insert(self.dialect, audit_trails)
                .on_conflict_do_nothing(index_elements=["message_id"])
                .returning(audit_trails.c.message_id)
            )
            if len(fresh) == 1:
                inserted = set(conn.execute(stmt, trail_to_row(fresh[0])).scalars())
            else:
                inserted = set(conn.execute(stmt, [trail_to_row(t) for t in fresh]).scalars())
            added = [t for t in fresh if t.message_id in inserted]
            usage.add(conn, self.dialect, [usage_delta(t) for t in added])
            if self.keeps_ledger:
                sql_ledger.append(conn, [written(t, "create") for t in added])
            others = message_ids - inserted
            existing = self._fetch(conn, others) if others else {}
        return inserted, existing

    def _fetch(self, conn: Connection, message_ids: set[str]) -> dict[str, AuditTrail]:
        rows = conn.execute(
            select(audit_trails).where(audit_trails.c.message_id.in_(sorted(message_ids)))
        ).mappings()
        return {r["message_id"]: row_to_trail(r) for r in rows}

    @_db_errors
    def _get(self, message_id: str) -> AuditTrail | None:
        if self._fast is not None:
            return self._fast.get(message_id)
        with self._read() as conn:
            row = (
                conn.execute(select(audit_trails).where(audit_trails.c.message_id == message_id))
                .mappings()
                .first()
            )
        return row_to_trail(row) if row else None

    @_db_errors
    def _update(
        self, message_id: str, change: Callable[[AuditTrail], AuditTrail], project_id: str | None
    ) -> AuditTrail:
        if self._fast is not None:

            def compute(old: AuditTrail | None) -> tuple[AuditTrail, list[dict[str, Any]]]:
                if old is None or (project_id is not None and old.project_id != project_id):
                    raise NotFoundError(f"no audit trail with messageId {message_id!r}")
                new = change(old)
                moved = _rollup_key(old) != _rollup_key(new)
                return new, change_deltas(old, new) if moved else []

            updated = self._fast.update(message_id, compute)
            self._folder.wake()
            return updated
        with self._write() as conn:
            query = select(audit_trails).where(audit_trails.c.message_id == message_id)
            if self.dialect == "postgresql":
                query = query.with_for_update()
            row = conn.execute(query).mappings().first()
            if row is None or (project_id is not None and row["project_id"] != project_id):
                raise NotFoundError(f"no audit trail with messageId {message_id!r}")
            old = row_to_trail(row)
            new = change(old)
            values = {k: v for k, v in trail_to_row(new).items() if not same_value(row[k], v)}
            if values:
                conn.execute(
                    update(audit_trails).where(audit_trails.c.id == old.id).values(**values)
                )
                if self.keeps_ledger:
                    sql_ledger.append(conn, [written(new, "update")])
            if _rollup_key(old) != _rollup_key(new):
                usage.add(conn, self.dialect, [usage_delta(new), usage_delta(old, -1)])
        return new

    @_db_errors
    def _cleanup(self, now: datetime, days: float) -> int:
        # Bounded batches, each its own transaction: see store/sql/cleanup.py. Folding first
        # lets the cron of a deployment with no resident process fold too.
        self.fold_usage()
        return sql_cleanup.delete_expired(self, now, days)

    @_db_errors
    def _count_expired(self, now: datetime, days: float) -> int:
        return sql_cleanup.count_expired(self, now, days)

    @_db_errors
    def _redact(self, now: datetime, dry_run: bool) -> int:
        return sql_cleanup.redact_expired(self, now, dry_run=dry_run)

    # -- the access log -----------------------------------------------------------------------

    @_db_errors
    def _record_reads(self, entries: list[AccessEntry]) -> None:
        rows = [
            {"at": e.at, "project_id": e.project_id, "key_id": e.key_id, "route": e.route,
             "items": e.items}
            for e in entries
        ]  # fmt: skip
        with self._write() as conn:
            conn.execute(access_log.insert(), rows)

    @_db_errors
    def _access_log(self, q: AccessQuery) -> list[AccessEntry]:
        a = access_log.c
        stmt = select(access_log).where(a.project_id == q.project_id)
        if q.since is not None:
            stmt = stmt.where(a.at >= q.since)
        if q.until is not None:
            stmt = stmt.where(a.at < q.until)
        if q.key_id is not None:
            stmt = stmt.where(a.key_id == q.key_id)
        if q.after is not None:
            at, aid = q.after
            stmt = stmt.where(or_(a.at < at, and_(a.at == at, a.id < aid)))
        stmt = stmt.order_by(a.at.desc(), a.id.desc()).limit(q.limit)
        with self._read() as conn:
            return [
                AccessEntry(r.at, r.project_id, r.key_id, r.route, r.items, r.id)
                for r in conn.execute(stmt)
            ]

    @_db_errors
    def _purge_access_log(self, cutoff: datetime) -> int:
        with self._write() as conn:
            return int(conn.execute(delete(access_log).where(access_log.c.at < cutoff)).rowcount)

    @_db_errors
    def _usage(self, project_id: str, window: Window) -> list[Usage]:
        # Rollups for whole 15-minute buckets, raw trails for partial edge buckets.
        def read(conn: Connection) -> list[Usage]:
            if self.dialect == "postgresql":  # its statements read one snapshot: exact
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            return sql_analytics.usage(conn, self.dialect, project_id, window)

        return self._on_replica(read)

    @_db_errors
    def _list(self, filter: TrailFilter, limit: int, cursor: str | None) -> Page:
        t = audit_trails.c
        q = select(audit_trails).where(t.project_id == filter.project_id)
        if filter.since is not None:
            q = q.where(t.timestamp >= filter.since)
        if filter.until is not None:
            q = q.where(t.timestamp < filter.until)
        if filter.model is not None:
            q = q.where(t.model == filter.model)
        if filter.status is not None:
            q = q.where(t.status == filter.status)
        if filter.provider is not None:
            q = q.where(t.provider == filter.provider)
        if filter.message_id_prefix is not None:  # not LIKE: SQLite's ignores case
            prefix = filter.message_id_prefix
            q = q.where(func.substr(t.message_id, 1, len(prefix)) == prefix)
        for key, value in filter.metadata:
            q = q.where(dialects.metadata_equals(self.dialect, t.metadata, key, value))
        if cursor:
            ts, tid = decode_cursor(cursor)
            q = q.where(or_(t.timestamp < ts, and_(t.timestamp == ts, t.id < tid)))
        q = q.order_by(t.timestamp.desc(), t.id.desc()).limit(limit + 1)
        items = self._on_replica(lambda conn: [row_to_trail(r) for r in conn.execute(q).mappings()])
        more = len(items) > limit
        items = items[:limit]
        last = items[-1] if items else None
        nxt = (
            encode_cursor(last.timestamp, last.id)
            if more and last is not None and last.timestamp and last.id
            else None
        )
        return Page(items, nxt)

    # -- projects and keys ---------------------------------------------------------------------

    @_db_errors
    def _create_project(self, project: Project) -> Project:
        stmt = (
            dialects.insert(self.dialect, projects)
            .on_conflict_do_nothing()
            .returning(projects.c.id)
        )
        with self._write() as conn:
            got = conn.execute(stmt, project_to_row(project)).first()
        if got is None:
            raise ConflictError(f"project {project.id!r} already exists")
        self._known_projects.add(project.id)
        return project

    @_db_errors
    def _get_project(self, id: str) -> Project | None:
        with self._read() as conn:
            row = conn.execute(select(projects).where(projects.c.id == id)).mappings().first()
        return row_to_project(row) if row else None

    @_db_errors
    def list_projects(self) -> list[Project]:
        with self._read() as conn:
            rows = conn.execute(select(projects).order_by(projects.c.id)).mappings()
            return [row_to_project(r) for r in rows]

    @_db_errors
    def _delete_project(self, id: str) -> bool:
        with self._write() as conn:
            # Increments first (no foreign key cascades to them): a fold holding some of them
            # finishes before the project row is locked, so the two cannot deadlock.
            usage.forget(conn, id)
            n = conn.execute(delete(projects).where(projects.c.id == id)).rowcount
            if n and self.keeps_ledger:
                sql_ledger.append(conn, [LedgerEntry(id, "drop", self.clock())])
        self._known_projects.discard(id)
        return bool(n)

    @_db_errors
    def create_api_key(self, project_id: str) -> tuple[ApiKey, str]:
        secret = keys.new_secret()
        record = ApiKey(uuid7(), project_id, keys.display_prefix(secret), self.clock())
        with self._write() as conn:
            exists = conn.execute(select(projects.c.id).where(projects.c.id == project_id))
            if exists.first() is None:
                raise NotFoundError(f"no project {project_id!r}")
            conn.execute(
                api_keys.insert().values(
                    key_hash=keys.hash_secret(secret), **dataclasses.asdict(record)
                )
            )
        return record, secret

    @_db_errors
    def _set_project(self, project: Project) -> None:
        with self._write() as conn:
            accounts.set_project(conn, project)

    @_db_errors
    def key_records(self) -> list[tuple[ApiKey, str]]:
        with self._read() as conn:
            return accounts.key_records(conn)

    @_db_errors
    def put_key(self, record: ApiKey, digest: str) -> bool:
        with self._write() as conn:
            accounts.put_key(conn, record, digest)
        return True

    @_db_errors
    def list_api_keys(self, project_id: str) -> list[ApiKey]:
        with self._read() as conn:
            rows = conn.execute(
                select(api_keys)
                .where(api_keys.c.project_id == project_id)
                .order_by(api_keys.c.created_at)
            ).mappings()
            return [accounts.row_to_key(r) for r in rows]

    @_db_errors
    def revoke_api_key(self, project_id: str, key_id: str) -> None:
        with self._write() as conn:
            row = conn.execute(
                select(api_keys).where(api_keys.c.id == key_id, api_keys.c.project_id == project_id)
            ).first()
            if row is None:
                raise NotFoundError(f"no key {key_id!r} in project {project_id!r}")
            conn.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=self.clock())
            )

    @_db_errors
    def authenticate(self, secret: str) -> ApiKey | None:
        with self._read() as conn:
            row = (
                conn.execute(
                    select(api_keys).where(
                        api_keys.c.key_hash == keys.hash_secret(secret),
                        api_keys.c.revoked_at.is_(None),
                    )
                )
                .mappings()
                .first()
            )
        return accounts.row_to_key(row) if row else None

    @_db_errors
    def ping(self) -> None:
        with self._read() as conn:
            conn.execute(select(func.count()).select_from(projects).where(projects.c.id == ""))

    # -- the ledger (SPEC §9; store/sql/ledger.py) -----------------------------------------------

    def ledger_entries(self, project_id: str | None = None) -> Iterator[LedgerEntry]:
        return sql_ledger.iter_entries(self.engine, project_id)

    @_db_errors
    def checkpoints(
        self, project_id: str | None = None, *, with_entries: bool = False
    ) -> list[Checkpoint]:
        return sql_ledger.checkpoints(self.engine, project_id, with_entries=with_entries)

    @contextmanager
    def ledger_snapshot(self) -> Iterator[LedgerView]:
        with sql_ledger.snapshot(self.engine) as view:
            yield view

    @_db_errors
    def latest_checkpoint(self, project_id: str) -> Checkpoint | None:
        return sql_ledger.latest(self.engine, project_id)

    @_db_errors
    def _seal_step(
        self, make: Callable[..., list[Checkpoint]], limit: int, now: datetime
    ) -> tuple[int, list[Checkpoint], bool]:
        return sql_ledger.seal_step(self.engine, make, limit, now)

    @_db_errors
    def fold_usage(self) -> int:
        """Fold pending usage increments into the rollups now (PostgreSQL; see ``usage``)."""
        return usage.fold(self.engine)

    def close(self) -> None:
        self._folder.close()
        if self._fast is not None:
            self._fast.close()
        self.engine.dispose()
        if self.read_engine is not None:
            self.read_engine.dispose()

    def count_trails(self, project_id: str | None = None) -> int:
        """How many trails are stored (in one project, or in all)."""
        q = select(func.count()).select_from(audit_trails)
        if project_id is not None:
            q = q.where(audit_trails.c.project_id == project_id)
        with self._read() as conn:
            return int(conn.execute(q).scalar_one())


def _outcomes(
    items: list[NewTrail],
    stamped: list[AuditTrail],
    firsts: dict[str, int],
    inserted: set[str],
    existing: dict[str, AuditTrail],
) -> list[StoreOutcome | AuditTrailError]:
    """Per item: created, an identical retry of a stored trail, or a conflict."""
    out: list[StoreOutcome | AuditTrailError] = []
    for i, (new, t) in enumerate(zip(items, stamped, strict=True)):
        if t.message_id in inserted and firsts[t.message_id] == i:
            out.append(StoreOutcome(t, created=True))
            continue
        old = existing.get(t.message_id) or (
            stamped[firsts[t.message_id]] if t.message_id in inserted else None
        )
        if old is not None and same_content(old, new):
            out.append(StoreOutcome(old, created=False))
        else:
            out.append(
                ConflictError(f"messageId {t.message_id!r} already exists with different content")
            )
    return out


def _rollup_key(t: AuditTrail) -> tuple[Any, ...]:
    """What a trail contributes to the usage rollups (an overwrite by copy/dual mode may move
    a trail to another bucket, model or project, not only change its usage)."""
    return (t.tokens, t.cost, t.timestamp, t.model, t.project_id)


__all__ = ["SQLStore"]
