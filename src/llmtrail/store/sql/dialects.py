"""Everything that differs between PostgreSQL and SQLite, as named functions in one place."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from decimal import Decimal, localcontext
from typing import Any

from sqlalchemy import String, Table, case, cast, create_engine, event, func, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.elements import ColumnElement

from llmtrail.errors import ValidationError
from llmtrail.store.file_lock import file_lock


def normalize_url(url: str) -> URL:
    """A SQLAlchemy URL for a plain ``postgresql://`` or ``sqlite:///`` URL (driver picked here)."""
    try:
        u = make_url(url)
    except Exception:
        raise ValidationError("is not a database URL", field="DATABASE_URL") from None
    backend = u.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return u.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return u.set(drivername="sqlite+pysqlite")
    raise ValidationError(
        f"unsupported database {backend!r}: use sqlite:///path or postgresql://…",
        field="DATABASE_URL",
    )


#: ports poolers listen on by default: PgBouncer's, Supabase's transaction pooler
POOLER_PORTS = (6432, 6543)


def behind_transaction_pooler(url: URL, setting: str = "auto") -> bool:
    """Whether connections to ``url`` go through a transaction-mode pooler (see
    ``AUDIT_TRAIL_POOLER``): then no session state may be assumed across transactions."""
    if url.get_backend_name() != "postgresql" or setting == "none":
        return False
    if setting == "transaction":
        return True
    return url.port in POOLER_PORTS or "pooler" in (url.host or "")


def make_engine(url: URL, *, transaction_pooler: bool = False, pool_size: int = 10) -> Engine:
    """An engine with llmtrail's durability and time-out settings for its dialect.

    ``transaction_pooler``: psycopg never prepares statements (a statement prepared on one
    server connection does not exist on the next one the pooler hands out)."""
    if url.get_backend_name() == "sqlite":
        args: dict[str, Any] = {"check_same_thread": False, "timeout": 30}
        if url.database in (None, "", ":memory:"):
            # One shared connection, or every pooled connection would see its own empty DB.
            engine = create_engine(url, connect_args=args, poolclass=StaticPool)
        else:
            os.makedirs(os.path.dirname(os.path.abspath(url.database)), exist_ok=True)
            engine = create_engine(url, connect_args=args, pool_size=8, max_overflow=8)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=10,
        pool_recycle=1800,
        connect_args={
            "connect_timeout": 5,
            "application_name": "llmtrail",
            **({"prepare_threshold": None} if transaction_pooler else {}),
        },
    )


def _sqlite_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    # We issue BEGIN ourselves (see _sqlite_begin) so write transactions take the lock up front.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=30000")
    _ensure_wal(cur)
    cur.execute("PRAGMA synchronous=FULL")  # an acknowledged write survives power loss
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
    dbapi_conn.create_aggregate("decimal_sum", 1, _DecimalSum)  # type: ignore[arg-type]
    dbapi_conn.create_function("decimal_add", 2, _decimal_add, deterministic=True)


def _ensure_wal(cur: sqlite3.Cursor, deadline_s: float = 30.0) -> None:
    """Switch the file to WAL (persistent, so only the first connection ever does it).

    Switching needs the file to itself and SQLite answers "database is locked" at once, without
    its busy handler, when another connection is mid-transaction (e.g. a concurrent first
    start migrating the schema), so retry until the deadline.
    """
    deadline = time.monotonic() + deadline_s
    while True:
        if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
            return
        try:
            cur.execute("PRAGMA journal_mode=WAL")  # ":memory:" answers "memory": fine too
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get("llmtrail_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _fmt(d: Decimal) -> str:
    s = format(d, "f")
    return s.rstrip("0").rstrip(".") if "." in s else s


def _decimal_add(a: str | None, b: str | None) -> str | None:
    if a is None and b is None:
        return None
    with localcontext() as ctx:
        ctx.prec = 60
        return _fmt(Decimal(a or 0) + Decimal(b or 0))


class _DecimalSum:
    """SUM over decimal text, exact (SQLite's own SUM would go through floats)."""

    def __init__(self) -> None:
        self.total = Decimal(0)
        self.seen = False

    def step(self, value: str | None) -> None:
        if value is not None:
            with localcontext() as ctx:
                ctx.prec = 60
                self.total += Decimal(value)
            self.seen = True

    def finalize(self) -> str | None:
        return _fmt(self.total) if self.seen else None


def money_sum(dialect: str, col: Any) -> ColumnElement[Any]:
    """SUM of a money column, exact on both dialects."""
    return func.decimal_sum(col) if dialect == "sqlite" else func.sum(col)


def money_add(dialect: str, a: Any, b: Any) -> ColumnElement[Any]:
    """``a + b`` for money columns, exact on both dialects."""
    return func.decimal_add(a, b) if dialect == "sqlite" else a + b


def insert(dialect: str, table: Table) -> Any:
    """The dialect's INSERT construct, which has ``on_conflict_do_nothing/update``."""
    return sqlite.insert(table) if dialect == "sqlite" else postgresql.insert(table)


def write_options(dialect: str) -> dict[str, Any]:
    """Execution options of a write transaction (SQLite: BEGIN IMMEDIATE)."""
    return {"llmtrail_write": True} if dialect == "sqlite" else {}


@contextlib.contextmanager
def exclusive_lock(engine: Engine, name: str, *, wait: bool = True) -> Iterator[bool]:
    """SQLite: a lock file beside the database, held across processes. Yields whether the
    lock was obtained (always True when ``wait``). PostgreSQL takes its locks inside the
    transaction that needs them (``lock_in_transaction``): nothing to do here.
    """
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        yield True
        return
    path = (engine.url.database or "llmtrail.db") + f".{name}.lock"
    with file_lock(path, wait=wait) as got:
        yield got


def lock_in_transaction(conn: Connection, name: str) -> None:
    """PostgreSQL: wait for the advisory lock ``name``, held until this transaction ends (no
    session state, so it works through transaction-mode poolers). SQLite: nothing (its write
    transactions are exclusive already)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(name)})


def _lock_key(name: str) -> int:
    import hashlib

    digest = hashlib.sha256(f"llmtrail:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


# -- the ledger's order (see ``store/sql/ledger.py``) ----------------------------------------

#: PostgreSQL: the writing transaction's id, as a bigint (``xid8`` has no direct cast)
PG_TXID = "pg_current_xact_id()::text::int8"


def ledger_txid(dialect: str) -> Any:
    """The value of ``ledger_entries.txid`` in a write: the transaction's id on PostgreSQL,
    NULL on SQLite (whose single writer makes ``id`` the order)."""
    return text(PG_TXID) if dialect == "postgresql" else None


def ledger_settled(conn: Connection) -> int:
    """The ledger order below which every entry is settled: committed or rolled back, none
    still to come.

    PostgreSQL: the oldest transaction of *this database* still running at a snapshot, or the
    snapshot's ``xmax`` when none is. (``pg_snapshot_xmin`` alone is cluster-wide: one long
    transaction in another database would hold every seal back.) A transaction of the
    snapshot's in-progress list is ours when it holds its transaction-id lock from a backend
    connected to this database; read after the snapshot, so one that ended in between is
    settled, and its entries are visible to the next statement. Prepared (two-phase)
    transactions are not considered: llmtrail never prepares one.
    SQLite (called inside a write transaction, which excludes every other writer): one past
    the last id."""
    if conn.dialect.name != "postgresql":
        sql = "SELECT coalesce(max(id), 0) + 1 FROM ledger_entries"
        return int(conn.execute(text(sql)).scalar_one())
    snap = conn.execute(text("SELECT pg_current_snapshot()::text")).scalar_one()
    return int(conn.execute(text(_OURS_RUNNING), {"snap": snap}).scalar_one())


_OURS_RUNNING = """
SELECT coalesce(min(x::text::int8), pg_snapshot_xmax(CAST(:snap AS pg_snapshot))::text::int8)
FROM pg_snapshot_xip(CAST(:snap AS pg_snapshot)) AS x
WHERE (x::text::int8 % 4294967296) IN (
    SELECT l.transactionid::text::int8
    FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock'
      AND a.datname = current_database()
)"""


def metadata_equals(dialect: str, column: Any, key: str, value: str) -> ColumnElement[bool]:
    """``column`` (trail metadata) has ``key`` with a value whose text is ``value``: a string
    equal to it, or a number/boolean JSON writes so (``rules.metadata_text``)."""
    if dialect == "postgresql":
        return column.op("->>")(key) == value  # type: ignore[no-any-return]
    path = '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
    kind = func.json_type(column, path)
    as_text = case(
        (kind == "true", "true"),
        (kind == "false", "false"),
        else_=cast(func.json_extract(column, path), String),
    )
    return as_text == value
