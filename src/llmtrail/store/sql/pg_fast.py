"""PostgreSQL hot paths of ``SQLStore``: prepared statements on the psycopg connection.

The SQL store's writes and point reads are a handful of statements run thousands of times a
second, where SQLAlchemy's per-execution work (statement caching, parameter processing, result
proxies, the BEGIN/COMMIT round trips of a Core transaction) costs more than PostgreSQL itself.
On PostgreSQL those paths run here instead, on a connection checked out of the *same*
SQLAlchemy pool, with the same columns, values and semantics as the Core path:

- ``get``: one prepared ``SELECT`` in autocommit mode (no BEGIN/ROLLBACK round trips);
- ``insert``: one statement inserts the trails (``ON CONFLICT (message_id) DO NOTHING``) and
  adds the inserted trails to ``usage_rollups`` in a data-modifying CTE — atomic on its own,
  so a single trail is one round trip; batches are ``COPY``-ed into a session temp table first;
- ``update``: read the row with its ``xmin``, compute the new trail in Python, then one
  statement updates it *only if it is still that version* and applies the rollup delta in the
  same CTE; a concurrent change makes it re-read and retry (optimistic locking instead of
  ``SELECT … FOR UPDATE`` in an explicit transaction).

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
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg.types.numeric import Int8
from sqlalchemy import exc
from sqlalchemy.engine import Engine
from sqlalchemy.pool import PoolProxiedConnection

from llmtrail.errors import NotFoundError
from llmtrail.model import AuditTrail, Cost, TokenUsage
from llmtrail.model.rules import plain
from llmtrail.store.sql.rows import bucket_of
from llmtrail.store.sql.schema import audit_trails

COLUMNS: tuple[str, ...] = tuple(audit_trails.c.keys())
_COLS = ", ".join(f'"{c}"' for c in COLUMNS)
_SUMS = ("prompt_tokens", "completion_tokens", "total_tokens")
_MONEY = ("cost_prompt", "cost_completion", "cost_total")
_ROLLUP_COLS = "project_id, bucket, model, messages, " + ", ".join(_SUMS + _MONEY)
_ROLLUP_ON_CONFLICT = "ON CONFLICT (project_id, bucket, model) DO UPDATE SET " + ", ".join(
    f"{c} = usage_rollups.{c} + EXCLUDED.{c}" for c in ("messages", *_SUMS, *_MONEY)
)
# 15-minute UTC buckets, as rows.bucket_of computes them in Python.
_BUCKET = "date_bin('15 minutes', \"timestamp\", TIMESTAMPTZ '2000-01-01 00:00:00+00')"
_INCOMING = "llmtrail_incoming"
_INCOMING_FLAG = "llmtrail_incoming_table"


def _insert_sql(source: str) -> str:
    """Insert trails from ``source`` and add the ones actually inserted to the rollups."""
    return f"""
WITH ins AS (
    INSERT INTO audit_trails ({_COLS}) {source}
    ON CONFLICT (message_id) DO NOTHING
    RETURNING message_id, xmin::text AS version, project_id, "timestamp", model,
        {", ".join(_SUMS + _MONEY)}
), rollup AS (
    INSERT INTO usage_rollups ({_ROLLUP_COLS})
    SELECT project_id, {_BUCKET}, model, count(*), {", ".join(f"sum({c})" for c in _SUMS + _MONEY)}
    FROM ins GROUP BY 1, 2, 3
    {_ROLLUP_ON_CONFLICT}
)
SELECT message_id, version FROM ins"""


INSERT_VALUES = _insert_sql(f"VALUES ({', '.join(['%s'] * len(COLUMNS))})")
INSERT_FROM_INCOMING = _insert_sql(f"SELECT {_COLS} FROM {_INCOMING}")
CREATE_INCOMING = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_INCOMING} "
    "(LIKE audit_trails INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
COPY_INCOMING = f"COPY {_INCOMING} ({_COLS}) FROM STDIN (FORMAT BINARY)"
COPY_DIRECT = f"COPY audit_trails ({_COLS}) FROM STDIN (FORMAT BINARY)"
# Binary COPY (nothing for the server to parse but JSON) needs each column's exact type.
COPY_TYPES = (
    *("text", "text", "text", "timestamptz", "text", "jsonb", "int4"),
    *("int8", "int8", "int8", "int8", "int8", "int8"),
    *("numeric", "numeric", "numeric", "text", "text", "text", "jsonb"),
    *("timestamptz", "timestamptz"),
)
ROLLUP_ARRAYS = f"""
INSERT INTO usage_rollups ({_ROLLUP_COLS})
SELECT * FROM unnest(
    %s::text[], %s::timestamptz[], %s::text[], %s::int8[],
    %s::int8[], %s::int8[], %s::int8[], %s::numeric[], %s::numeric[], %s::numeric[]
)
{_ROLLUP_ON_CONFLICT}"""
SELECT_ONE = f"SELECT {_COLS} FROM audit_trails WHERE message_id = %s"
SELECT_VERSIONED = f"SELECT {_COLS}, xmin::text FROM audit_trails WHERE message_id = %s"
SELECT_MANY = f"SELECT {_COLS} FROM audit_trails WHERE message_id = ANY(%s)"
INSERT_PROJECTS = (
    "INSERT INTO projects (id, name, retention_days, created_at) "
    "SELECT p, p, NULL, %s FROM unnest(%s::text[]) AS p ON CONFLICT DO NOTHING"
)
_SET_COLS = tuple(c for c in COLUMNS if c not in ("id", "message_id"))


def _update_sql(unchanged: tuple[str, ...], deltas: int) -> str:
    cols = [c for c in _SET_COLS if c not in unchanged]
    sets = ", ".join(f'"{c}" = %s' for c in cols)
    update = (
        f"UPDATE audit_trails SET {sets} "
        "WHERE id = %s AND xmin::text = %s AND updated_at = %s RETURNING xmin::text AS version"
    )
    if not deltas:
        return update
    row = "(" + ", ".join(["%s"] * (4 + len(_SUMS) + len(_MONEY))) + ")"
    return f"""
WITH upd AS ({update}), rollup AS (
    INSERT INTO usage_rollups ({_ROLLUP_COLS})
    SELECT * FROM (VALUES {", ".join([row] * deltas)}) AS d ({_ROLLUP_COLS})
    WHERE EXISTS (SELECT 1 FROM upd)
    {_ROLLUP_ON_CONFLICT}
)
SELECT version FROM upd"""


# JSON columns that did not change are left out of the UPDATE (no re-encoding, no new TOAST).
_JSON_COLS = ("metadata", "reasoning")  # in reverse column order, to delete values by index
_JSON_INDEX = {c: _SET_COLS.index(c) for c in _JSON_COLS}
_UNCHANGED: tuple[tuple[str, ...], ...] = (
    (),
    ("metadata",),
    ("reasoning",),
    ("metadata", "reasoning"),
)
UPDATES: dict[tuple[tuple[str, ...], int], str] = {
    (u, d): _update_sql(u, d) for u in _UNCHANGED for d in (0, 1, 2)
}


# -- values ---------------------------------------------------------------------------------------


def _int(v: int | None) -> Int8 | None:
    return None if v is None else Int8(v)


def trail_values(t: AuditTrail) -> tuple[Any, ...]:
    """A trail's column values in ``COLUMNS`` order, typed for stable prepared statements.

    JSON columns hold JSON ``null`` for None, as SQLAlchemy's JSON type stores it.
    """
    tk = t.tokens
    cost = t.cost or Cost()
    return (
        t.id,
        t.message_id,
        t.project_id,
        t.timestamp,
        t.model,
        Jsonb(t.reasoning),
        Int8(t.context_layers),
        Int8(tk.prompt),
        Int8(tk.completion),
        _int(tk.total),
        _int(tk.cache_read),
        _int(tk.cache_write),
        _int(tk.reasoning),
        cost.prompt,
        cost.completion,
        cost.total,
        t.cost_source,
        t.price_version,
        t.status,
        Jsonb(t.metadata),
        t.created_at,
        t.updated_at,
    )


_JSON_NULL = Jsonb(None)


def copy_values(t: AuditTrail) -> tuple[Any, ...]:
    """``trail_values`` for a binary COPY (``COPY_TYPES`` fixes the types)."""
    tk = t.tokens
    cost = t.cost or Cost()
    return (
        t.id,
        t.message_id,
        t.project_id,
        t.timestamp,
        t.model,
        _JSON_NULL if t.reasoning is None else Jsonb(t.reasoning),
        t.context_layers,
        tk.prompt,
        tk.completion,
        tk.total,
        tk.cache_read,
        tk.cache_write,
        tk.reasoning,
        cost.prompt,
        cost.completion,
        cost.total,
        t.cost_source,
        t.price_version,
        t.status,
        _JSON_NULL if t.metadata is None else Jsonb(t.metadata),
        t.created_at,
        t.updated_at,
    )


def _utc(d: datetime) -> datetime:
    return d.astimezone(UTC)


def values_to_trail(r: Sequence[Any]) -> AuditTrail:
    """The trail of a row selected as ``COLUMNS`` (same conversions as the Core types)."""
    return AuditTrail(
        id=r[0],
        message_id=r[1],
        project_id=r[2],
        timestamp=_utc(r[3]),
        model=r[4],
        reasoning=r[5],
        context_layers=r[6],
        tokens=TokenUsage(r[7], r[8], r[9], r[10], r[11], r[12]),
        cost=Cost(plain(r[13]), plain(r[14]), plain(r[15])),
        cost_source=r[16],
        price_version=r[17],
        status=r[18],
        metadata=r[19],
        created_at=_utc(r[20]),
        updated_at=_utc(r[21]),
    )


def _check_layout() -> None:
    expected = [
        *("id", "message_id", "project_id", "timestamp", "model", "reasoning"),
        *("context_layers", "prompt_tokens", "completion_tokens", "total_tokens"),
        *("cache_read_tokens", "cache_write_tokens", "reasoning_tokens"),
        *("cost_prompt", "cost_completion", "cost_total", "cost_source", "price_version"),
        *("status", "metadata", "created_at", "updated_at"),
    ]
    if list(COLUMNS) != expected:  # pragma: no cover - guards trail_values/values_to_trail
        raise RuntimeError(f"audit_trails columns changed; update pg_fast.py: {COLUMNS}")


_check_layout()


def delta_values(d: dict[str, Any]) -> list[Any]:
    """A combined rollup delta (``rows.combine``) as VALUES parameters."""
    return [
        d["project_id"],
        d["bucket"],
        d["model"],
        Int8(d["messages"]),
        *(Int8(d[c]) for c in _SUMS),
        *(d[c] for c in _MONEY),
    ]


def rollup_arrays(trails: Sequence[AuditTrail]) -> list[list[Any]]:
    """The rollup increments of inserted trails, one array per column of ``ROLLUP_ARRAYS``
    (messages, tokens and exact money summed per project, 15-minute bucket and model)."""
    acc: dict[tuple[Any, ...], list[Any]] = {}
    with localcontext() as ctx:
        ctx.prec = 60  # exact: sums of NUMERIC(38,18) values need more than 28 digits
        for t in trails:
            tk, c = t.tokens, t.cost or Cost()
            assert t.timestamp is not None
            key = (t.project_id, bucket_of(t.timestamp), t.model)
            a = acc.get(key)
            if a is None:
                acc[key] = [1, tk.prompt, tk.completion, tk.total, c.prompt, c.completion, c.total]
            else:
                a[0] += 1
                a[1] += tk.prompt
                a[2] += tk.completion
                a[3] += tk.total
                a[4] += c.prompt
                a[5] += c.completion
                a[6] += c.total
    keys = list(acc)
    sums = list(acc.values())
    return [[k[i] for k in keys] for i in range(3)] + [[v[i] for v in sums] for i in range(7)]


# -- the fast path --------------------------------------------------------------------------------


class PgFastPath:
    """Hot-path statements of one PostgreSQL ``SQLStore``, on its engine's connection pool."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.versions = VersionCache()

    @contextmanager
    def _conn(self, *, autocommit: bool) -> Iterator[tuple[psycopg.Connection[Any], Any]]:
        """A pooled psycopg connection (and its pool record's ``info``); errors become
        SQLAlchemy ``DBAPIError``s, a broken connection is invalidated."""
        try:
            pooled: PoolProxiedConnection = self.engine.raw_connection()
        except psycopg.Error as e:
            raise exc.DBAPIError.instance(None, None, e, psycopg.Error) from e
        pg: psycopg.Connection[Any] = pooled.driver_connection  # type: ignore[assignment]
        try:
            if autocommit:
                pg.autocommit = True
            try:
                yield pg, pooled.info
            except BaseException:
                if not pg.closed and not pg.autocommit:
                    pg.rollback()
                raise
            finally:
                if autocommit and not pg.closed:
                    pg.autocommit = False
        except psycopg.Error as e:
            broken = bool(pg.closed or pg.broken)
            if broken:
                pooled.invalidate(e)
            raise exc.DBAPIError.instance(
                None, None, e, psycopg.Error, connection_invalidated=broken
            ) from e
        finally:
            pooled.close()

    def _one(self, sql: str, params: Sequence[Any]) -> Any:
        """Run one statement on its own (autocommit: it is its own transaction) and return its
        first row or None. ``_conn`` without the context-manager overhead, for the hot paths."""
        try:
            pooled: PoolProxiedConnection = self.engine.raw_connection()
        except psycopg.Error as e:
            raise exc.DBAPIError.instance(None, None, e, psycopg.Error) from e
        pg: psycopg.Connection[Any] = pooled.driver_connection  # type: ignore[assignment]
        try:
            pg.autocommit = True
            try:
                return pg.execute(sql, params, prepare=True).fetchone()
            finally:
                if not pg.closed:
                    pg.autocommit = False
        except psycopg.Error as e:
            broken = bool(pg.closed or pg.broken)
            if broken:
                pooled.invalidate(e)
            raise exc.DBAPIError.instance(
                None, None, e, psycopg.Error, connection_invalidated=broken
            ) from e
        finally:
            pooled.close()

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
            got = self._one(INSERT_VALUES, trail_values(t))
            if got is not None:
                self.versions.put(t, got[1])
                return {t.message_id}, {}
            row = self._one(SELECT_ONE, (t.message_id,)) if others(set()) else None
            return set(), {row[1]: values_to_trail(row)} if row is not None else {}
        with self._conn(autocommit=False) as (pg, info):
            try:
                inserted = self._insert_batch(pg, info, trails, new_projects, now)
                wanted = others(inserted)
                existing = self._fetch(pg, wanted) if wanted else {}
                pg.commit()
            except BaseException:
                info.pop(_INCOMING_FLAG, None)  # its creation may have been rolled back
                raise
        return inserted, existing

    def _insert_batch(
        self,
        pg: psycopg.Connection[Any],
        info: dict[str, Any],
        trails: Sequence[AuditTrail],
        new_projects: Sequence[str],
        now: datetime,
    ) -> set[str]:
        if new_projects:
            pg.execute(INSERT_PROJECTS, (now, sorted(new_projects)))
        if len(trails) == 1:
            return {r[0] for r in pg.execute(INSERT_VALUES, trail_values(trails[0]))}
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
            pg.execute(ROLLUP_ARRAYS, rollup_arrays(trails), prepare=True)
            return {t.message_id for t in trails}
        # Some exist: COPY into a session temp table, then INSERT … ON CONFLICT DO NOTHING.
        if not info.get(_INCOMING_FLAG):
            pg.execute(CREATE_INCOMING)
            info[_INCOMING_FLAG] = True
        with pg.cursor() as cur:
            with cur.copy(COPY_INCOMING) as cp:
                cp.set_types(COPY_TYPES)
                for t in trails:
                    cp.write_row(copy_values(t))
            return {r[0] for r in cur.execute(INSERT_FROM_INCOMING, prepare=True)}

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
                pg.execute(ROLLUP_ARRAYS, rollup_arrays(written), prepare=True)
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
            if new is not None:
                sql, values = _versioned_update(cached[0], cached[1], new, deltas)
                if self._stored(new, self._one(sql, values)):
                    return new
        with self._conn(autocommit=True) as (pg, _):
            while True:
                row = pg.execute(SELECT_VERSIONED, (message_id,), prepare=True).fetchone()
                old = values_to_trail(row) if row is not None else None
                new, deltas = compute(old)
                assert old is not None and row is not None
                sql, values = _versioned_update(old, row[-1], new, deltas)
                if self._stored(new, pg.execute(sql, values, prepare=True).fetchone()):
                    return new

    def _stored(self, new: AuditTrail, row: Any) -> bool:
        """Whether the versioned update wrote ``new`` (then remember its version)."""
        if row is None:
            self.versions.discard(new.message_id)
            return False
        self.versions.put(new, row[0])
        return True


def _versioned_update(
    old: AuditTrail, version: str, new: AuditTrail, deltas: list[dict[str, Any]]
) -> tuple[str, list[Any]]:
    """The compare-and-set UPDATE of ``old`` (at ``version``) to ``new``, with rollup deltas."""
    values = list(trail_values(new)[2:])
    unchanged = tuple(c for c in _JSON_COLS if getattr(new, c) == getattr(old, c))
    for c in unchanged:
        del values[_JSON_INDEX[c]]
    values += [old.id, version, old.updated_at]
    for d in deltas:
        values += delta_values(d)
    return UPDATES[(unchanged, len(deltas))], values


class VersionCache:
    """The last version of recently written trails (trail, ``xmin``), bounded, thread-safe.

    Only a hint: an update built on a cached version is written with a compare-and-set on
    ``xmin`` and ``updated_at``, so a stale entry costs a re-read, never a lost update.
    Trails with large reasoning are not kept, so memory stays small.
    """

    def __init__(self, max_entries: int = 4_096, max_reasoning: int = 16_384) -> None:
        self.max_entries = max_entries
        self.max_reasoning = max_reasoning
        self._items: OrderedDict[str, tuple[AuditTrail, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, message_id: str) -> tuple[AuditTrail, str] | None:
        with self._lock:
            return self._items.get(message_id)

    def put(self, trail: AuditTrail, version: str) -> None:
        if trail.reasoning is not None and sum(map(len, trail.reasoning)) > self.max_reasoning:
            self.discard(trail.message_id)
            return
        with self._lock:
            self._items[trail.message_id] = (_as_stored(trail), version)
            self._items.move_to_end(trail.message_id)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def discard(self, message_id: str) -> None:
        with self._lock:
            self._items.pop(message_id, None)


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
