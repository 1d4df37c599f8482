"""PostgreSQL hot paths of ``SQLStore``: prepared statements on the psycopg connection.

The SQL store's writes and point reads are a handful of statements run thousands of times a
second, where SQLAlchemy's per-execution work (statement construction and caching, parameter
processing, result proxies, the BEGIN/COMMIT round trips of a Core transaction) costs more
than PostgreSQL itself. On PostgreSQL those paths run here instead, on connections of the
*same* SQLAlchemy pool, with the same columns, values and semantics as the Core path (the
statements and conversions are in ``pg_statements.py``). Single statements run on a few
connections kept checked out in autocommit mode (``pg_held.py``):

- ``get``: one prepared ``SELECT`` in autocommit mode (no BEGIN/ROLLBACK round trips);
- ``insert`` of one trail: one statement inserts it (``ON CONFLICT (message_id) DO NOTHING``)
  and appends its usage increment to ``usage_deltas`` in a data-modifying CTE — atomic on its
  own, so one round trip and one commit;
- batches: text ``COPY`` straight into the table (``copy_new`` streams rows while the caller
  is still validating the next ones) plus one insert of the batch's usage increments; when a
  message id already exists, ``COPY`` into a temp table of the transaction and
  ``INSERT … ON CONFLICT``;
- ``update``: compute the new trail in Python from the current one, then one statement writes
  it *only if the row is still that version* (same ``xmin`` and ``updated_at``) and appends
  the usage increment in the same CTE; otherwise re-read and retry (optimistic locking instead
  of ``SELECT … FOR UPDATE`` in an explicit transaction). The version this process wrote last
  is remembered (``VersionCache``), so the seed's placeholder-then-completion needs no read.

psycopg errors are re-raised as SQLAlchemy ``DBAPIError`` subclasses, so the store's error
mapping (``UnavailableError``, the retry on a stale pooled connection, the ``IntegrityError``
retry when a project vanished) applies unchanged.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import pq
from sqlalchemy import exc
from sqlalchemy.engine import Engine
from sqlalchemy.pool import PoolProxiedConnection

from llmtrail.errors import NotFoundError
from llmtrail.model import AuditTrail, Cost
from llmtrail.model.rules import plain
from llmtrail.store.sql.pg_held import HeldConnections, invalidate_pool
from llmtrail.store.sql.pg_statements import (
    COPY_DIRECT,
    COPY_INCOMING,
    COPY_TYPES,
    CREATE_INCOMING,
    INSERT_PROJECTS,
    LEDGER_ARRAYS,
    ROLLUP_ARRAYS,
    SELECT_MANY,
    SELECT_ONE,
    SELECT_VERSIONED,
    changed_values,
    copy_values,
    delta_values,
    entry_values,
    hash_arrays,
    insert_one_values,
    ledger_arrays,
    rollup_arrays,
    statements,
    trail_values,
    update_sql,
    values_to_trail,
)

# -- the fast path --------------------------------------------------------------------------------


class PgFastPath:
    """Hot-path statements of one PostgreSQL ``SQLStore``, on its engine's connection pool."""

    def __init__(self, engine: Engine, *, prepare: bool = True, ledger: bool = True) -> None:
        self.engine = engine
        #: the statements, appending ledger entries (SPEC §9) unless the ledger is off
        self.sql = statements(ledger)
        self.ledger = ledger
        #: run the hot statements as prepared statements (False behind a transaction-mode
        #: pooler: a statement prepared on one server connection is unknown on the next)
        self.prepare = prepare
        self.versions = VersionCache()
        # keep as many autocommit connections as the pool holds: with more writer threads than
        # that, each call would otherwise check one out and switch its mode
        self.held = HeldConnections(engine, max_idle=_pool_size(engine))

    def close(self) -> None:
        """Give the held connections back to the pool (before the engine is disposed)."""
        self.held.close()

    def _checkout(self) -> tuple[PoolProxiedConnection, psycopg.Connection[Any]]:
        try:
            pooled: PoolProxiedConnection = self.engine.raw_connection()
        except psycopg.Error as e:
            raise exc.DBAPIError.instance(None, None, e, psycopg.Error) from e
        return pooled, pooled.driver_connection  # type: ignore[return-value]

    @contextmanager
    def _conn(self, *, autocommit: bool) -> Iterator[tuple[psycopg.Connection[Any], Any]]:
        """A pooled psycopg connection (and its pool record's ``info``), given back clean (or
        discarded); psycopg errors become SQLAlchemy ``DBAPIError``s."""
        pooled, pg = self._checkout()
        try:
            if autocommit:
                pg.autocommit = True
            yield pg, pooled.info
            if autocommit:
                pg.autocommit = False
        except BaseException as e:
            _after_error(self.engine, pooled, pg, autocommit, e)
            if isinstance(e, psycopg.Error):
                raise _wrap(e, pg) from e
            raise
        finally:
            pooled.close()

    def _one(self, sql: str, params: Sequence[Any]) -> Any:
        """Run one statement on its own (autocommit: it is its own transaction) and return its
        first row or None, on a held connection (``pg_held.py``)."""
        try:
            held = self.held.acquire()
        except psycopg.Error as e:
            raise exc.DBAPIError.instance(None, None, e, psycopg.Error) from e
        try:
            held.cur.execute(sql, params, prepare=self.prepare)
            row = held.cur.fetchone()
        except BaseException as e:
            pg = held.pg
            broken = _disconnected(e, pg)
            if broken or pg.pgconn.transaction_status != pq.TransactionStatus.IDLE:
                self.held.discard(held, e, broken=broken)
            else:
                self.held.release(held)  # e.g. a constraint violation: the connection is fine
            if isinstance(e, psycopg.Error):
                raise _wrap(e, pg) from e
            raise
        self.held.release(held)
        return row

    def get(self, message_id: str) -> AuditTrail | None:
        """The trail with this message id, or None."""
        row = self._one(SELECT_ONE, (message_id,))
        return values_to_trail(row) if row is not None else None

    def insert(
        self,
        trails: Sequence[AuditTrail],
        new_projects: Sequence[str],
        now: datetime,
        others: Callable[[set[str]], set[str]],
    ) -> tuple[set[str], dict[str, AuditTrail]]:
        """Insert trails (distinct message ids) and their rollups in one transaction.

        Returns the message ids actually inserted, and the stored trails of the ids that
        ``others(inserted)`` names (the ones to compare with for idempotent retries).
        """
        if len(trails) == 1 and not new_projects:  # the common case: one statement
            t = trails[0]
            got = self._one(self.sql.insert_one, insert_one_values(t, self.ledger))
            if got is not None:
                self.versions.put(t, got[1])
                return {t.message_id}, {}
            row = self._one(SELECT_ONE, (t.message_id,)) if others(set()) else None
            return set(), {row[1]: values_to_trail(row)} if row is not None else {}
        with self._conn(autocommit=False) as (pg, _):
            inserted = self._insert_batch(pg, trails, new_projects, now)
            wanted = others(inserted)
            existing = self._fetch(pg, wanted) if wanted else {}
            pg.commit()
        return inserted, existing

    def _insert_batch(
        self,
        pg: psycopg.Connection[Any],
        trails: Sequence[AuditTrail],
        new_projects: Sequence[str],
        now: datetime,
    ) -> set[str]:
        if new_projects:
            pg.execute(INSERT_PROJECTS, (now, sorted(new_projects)))
        if len(trails) == 1:
            values = trail_values(trails[0])
            if self.ledger:
                values = (*values, *hash_arrays(trails))
            return {r[0] for r in pg.execute(self.sql.insert_values, values)}
        # Usually none of the message ids exists yet: COPY straight into the table, and add the
        # batch to the rollups (aggregated here). A duplicate undoes only this savepoint.
        pg.execute("SAVEPOINT llmtrail_copy")
        try:
            with pg.cursor() as cur, cur.copy(COPY_DIRECT) as cp:
                cp.set_types(COPY_TYPES)
                for t in trails:
                    cp.write_row(copy_values(t))
        except psycopg.errors.UniqueViolation:
            pg.execute("ROLLBACK TO SAVEPOINT llmtrail_copy")
        else:
            self._append_created(pg, trails)
            return {t.message_id for t in trails}
        # Some exist: COPY into a temp table of this transaction (dropped at commit: no session
        # state, for poolers), then INSERT … ON CONFLICT DO NOTHING.
        pg.execute(CREATE_INCOMING)
        with pg.cursor() as cur:
            with cur.copy(COPY_INCOMING) as cp:
                cp.set_types(COPY_TYPES)
                for t in trails:
                    cp.write_row(copy_values(t))
            extra = hash_arrays(trails) if self.ledger else None
            rows = cur.execute(self.sql.insert_from_incoming, extra, prepare=self.prepare)
            return {r[0] for r in rows}

    def _append_created(self, pg: psycopg.Connection[Any], trails: Sequence[AuditTrail]) -> None:
        """After a COPY of new trails: their usage increments and ledger entries."""
        pg.execute(ROLLUP_ARRAYS, rollup_arrays(trails), prepare=self.prepare)
        if self.ledger:
            pg.execute(LEDGER_ARRAYS, ledger_arrays(trails), prepare=self.prepare)

    def copy_new(
        self, trails: Iterable[AuditTrail], known_projects: set[str], now: datetime
    ) -> list[AuditTrail]:
        """COPY trails (distinct message ids, none stored yet) into the table as ``trails``
        yields them, and add them to the rollups, in one transaction; returns them.

        A project not in ``known_projects`` is created between two COPY segments (a foreign
        key is checked at the end of each). Any error (e.g. a message id that exists) rolls
        everything back and is raised as a ``DBAPIError``.
        """
        written: list[AuditTrail] = []
        known = set(known_projects)
        it = iter(trails)
        pending: AuditTrail | None = None
        with self._conn(autocommit=False) as (pg, _), pg.cursor() as cur:
            while True:
                if pending is not None:
                    pg.execute(INSERT_PROJECTS, (now, [pending.project_id]))
                    known.add(str(pending.project_id))
                with cur.copy(COPY_DIRECT) as cp:
                    cp.set_types(COPY_TYPES)
                    if pending is not None:
                        cp.write_row(copy_values(pending))
                        written.append(pending)
                        pending = None
                    for t in it:
                        if t.project_id not in known:
                            pending = t
                            break
                        cp.write_row(copy_values(t))
                        written.append(t)
                if pending is None:
                    break
            if written:
                self._append_created(pg, written)
            pg.commit()
        return written

    def _fetch(self, pg: psycopg.Connection[Any], message_ids: set[str]) -> dict[str, AuditTrail]:
        rows = pg.execute(SELECT_MANY, (sorted(message_ids),))
        return {r[1]: values_to_trail(r) for r in rows}

    def update(
        self,
        message_id: str,
        compute: Callable[[AuditTrail | None], tuple[AuditTrail, list[dict[str, Any]]]],
    ) -> AuditTrail:
        """``compute`` the trail's new version and its combined rollup deltas from the current
        one (or raise), and write it back only if the row is still the version it was computed
        from (same ``xmin`` and ``updated_at``); otherwise re-read and retry.

        The version this process wrote last is usually known (see ``VersionCache``), which saves
        the read: the placeholder-then-completion lifecycle is one round trip per write.
        """
        cached = self.versions.get(message_id)
        if cached is not None:
            try:
                new, deltas = compute(cached[0])
            except NotFoundError:
                new = None  # maybe stale (the trail was replaced): read it
            if new is not None and new != cached[0]:  # (no change: confirm it by a read)
                sql, values = _versioned_update(cached[0], cached[1], new, deltas, self.ledger)
                if self._stored(new, self._one(sql, values)):
                    return new
        with self._conn(autocommit=True) as (pg, _):
            while True:
                row = pg.execute(SELECT_VERSIONED, (message_id,), prepare=self.prepare).fetchone()
                old = values_to_trail(row) if row is not None else None
                new, deltas = compute(old)
                assert old is not None and row is not None
                if new == old:
                    return new  # nothing to write (as the Core path)
                sql, values = _versioned_update(old, row[-1], new, deltas, self.ledger)
                if self._stored(new, pg.execute(sql, values, prepare=self.prepare).fetchone()):
                    return new

    def _stored(self, new: AuditTrail, row: Any) -> bool:
        """Whether the versioned update wrote ``new`` (then remember its version)."""
        if row is None:
            self.versions.discard(new.message_id)
            return False
        self.versions.put(new, row[0])
        return True


def _after_error(
    engine: Engine,
    pooled: PoolProxiedConnection,
    pg: psycopg.Connection[Any],
    autocommit: bool,
    e: BaseException,
) -> None:
    """Leave a connection clean for the pool after an error — or discard it when it is broken
    or still busy (e.g. Ctrl-C in the middle of a query). Never raises: the original error is
    what the caller must see."""
    try:
        if _disconnected(e, pg):
            invalidate_pool(engine, pooled, e)  # the server went away: so did the others
        elif pg.pgconn.transaction_status == pq.TransactionStatus.ACTIVE:
            pooled.invalidate()
        elif autocommit:
            pg.autocommit = False
        else:
            pg.rollback()
    except Exception:
        pooled.invalidate()


def _wrap(e: psycopg.Error, pg: psycopg.Connection[Any]) -> exc.StatementError:
    """The SQLAlchemy exception for a psycopg error (so the store's error mapping applies)."""
    return exc.DBAPIError.instance(
        None, None, e, psycopg.Error, connection_invalidated=_disconnected(e, pg)
    )


def _disconnected(e: BaseException, pg: psycopg.Connection[Any]) -> bool:
    """Whether the connection is gone: closed, broken, or the server said it is ending it
    (SQLSTATE class 08, or 57P01-03 such as ``pg_terminate_backend`` or a shutdown) — psycopg
    notices the socket closed only at the next use."""
    if pg.closed or pg.broken:
        return True
    state = getattr(e, "sqlstate", None) or ""
    return state.startswith(("08", "57P"))


def _versioned_update(
    old: AuditTrail, version: str, new: AuditTrail, deltas: list[dict[str, Any]], ledger: bool
) -> tuple[str, list[Any]]:
    """The compare-and-set UPDATE of ``old`` (at ``version``) to ``new``, with rollup deltas
    and the ledger entry: only the columns that changed are written (no re-encoded JSON, no
    new TOAST)."""
    changed, values = changed_values(old, new)
    values += [old.id, version, old.updated_at]
    for d in deltas:
        values += delta_values(d)
    if ledger:
        values += entry_values(_as_stored(new), "update")
    return update_sql(changed, len(deltas), ledger), values


class VersionCache:
    """The last version of recently written trails (trail, ``xmin``), bounded, thread-safe.

    Only a hint: an update built on a cached version is written with a compare-and-set on
    ``xmin`` and ``updated_at``, so a stale entry costs a re-read, never a lost update.
    Bounded by entries and by bytes (an estimate over every variable-size field: reasoning,
    metadata, ids, model); a trail over ``max_entry_bytes`` is not kept at all.
    """

    def __init__(
        self,
        max_entries: int = 4_096,
        max_bytes: int = 8 * 1024 * 1024,
        max_entry_bytes: int = 16_384,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_entry_bytes
        self.bytes = 0
        self._items: OrderedDict[str, tuple[AuditTrail, str, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, message_id: str) -> tuple[AuditTrail, str] | None:
        with self._lock:
            hit = self._items.get(message_id)
        return None if hit is None else (hit[0], hit[1])

    def put(self, trail: AuditTrail, version: str) -> None:
        size = trail_size(trail)
        if size > self.max_entry_bytes:
            self.discard(trail.message_id)
            return
        with self._lock:
            old = self._items.pop(trail.message_id, None)
            if old is not None:
                self.bytes -= old[2]
            self._items[trail.message_id] = (_as_stored(trail), version, size)
            self.bytes += size
            while len(self._items) > self.max_entries or self.bytes > self.max_bytes:
                self.bytes -= self._items.popitem(last=False)[1][2]

    def discard(self, message_id: str) -> None:
        with self._lock:
            old = self._items.pop(message_id, None)
            if old is not None:
                self.bytes -= old[2]


_TRAIL_OVERHEAD = 1_024  # the fixed fields: datetimes, Decimals, ints, the objects themselves


def trail_size(t: AuditTrail) -> int:
    """Roughly how many bytes of memory a trail holds (for bounding caches of them)."""
    size = _TRAIL_OVERHEAD + len(t.message_id) + len(t.model) + len(t.project_id or "")
    if t.reasoning:
        size += sum(len(r) + 56 for r in t.reasoning)
    if t.metadata:
        for k, v in t.metadata.items():
            size += len(k) + (len(v) if isinstance(v, str) else 8) + 120
    return size


def _is_plain(d: Decimal) -> bool:
    s = str(d)  # plain: no exponent, no trailing fractional zeros ("0.10", "1E+2", "0E-18" are not)
    return "E" not in s and not ("." in s and s[-1] == "0")


def _as_stored(t: AuditTrail) -> AuditTrail:
    """The trail as reading it back would return it (money without trailing zeros)."""
    cost = t.cost or Cost()
    assert cost.total is not None
    if t.cost is not None and all(map(_is_plain, (cost.prompt, cost.completion, cost.total))):
        return t  # the usual case: validation already made them plain
    return dataclasses.replace(
        t, cost=Cost(plain(cost.prompt), plain(cost.completion), plain(cost.total))
    )


def _pool_size(engine: Engine) -> int:
    """The engine pool's steady size (4 for a pool without one)."""
    size = getattr(engine.pool, "size", None)
    return max(1, int(size())) if callable(size) else 4
