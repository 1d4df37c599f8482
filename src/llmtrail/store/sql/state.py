"""Small facts every process on one database shares (``store_state``), and stop signals.

``read_state``/``write_state`` keep JSON values by key (when cleanup last ran, the last tick
claimed); ``claim_state`` replaces one atomically in a single transaction, which is how
replicas agree on who runs a scheduled tick without holding a lock (so it works through
transaction-mode poolers). ``stop_event`` tells the cleanups running in this process on an
engine to stop after their current batch (a server shutting down).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from llmtrail.store.sql import dialects
from llmtrail.store.sql.schema import store_state

_STOPS: weakref.WeakKeyDictionary[Engine, threading.Event] = weakref.WeakKeyDictionary()
_STOPS_LOCK = threading.Lock()


def stop_event(engine: Engine) -> threading.Event:
    """Set it to make the cleanups running on ``engine`` stop after their current batch
    (a server shutting down); clear it to allow cleanups again."""
    with _STOPS_LOCK:
        return _STOPS.setdefault(engine, threading.Event())


def read_state(engine: Engine, key: str) -> Any:
    """The JSON value stored under ``key`` in ``store_state``, or None."""
    with engine.connect() as conn:
        return conn.execute(
            select(store_state.c.value).where(store_state.c.key == key)
        ).scalar_one_or_none()


def write_state(engine: Engine, key: str, value: Any, now: datetime) -> None:
    """Store ``value`` (JSON) under ``key``, replacing what was there."""
    dialect = engine.dialect.name
    ins = dialects.insert(dialect, store_state).values(key=key, value=value, updated_at=now)
    stmt = ins.on_conflict_do_update(
        index_elements=["key"], set_={"value": ins.excluded.value, "updated_at": now}
    )
    with engine.execution_options(**dialects.write_options(dialect)).begin() as conn:
        conn.execute(stmt)


def claim_state(
    engine: Engine, key: str, decide: Callable[[Any], Any | None], now: datetime
) -> bool:
    """Atomically replace the value under ``key`` by ``decide(current)``, unless that is None;
    whether it was replaced. One transaction with the row locked (``FOR UPDATE``; SQLite's
    write lock), so of processes deciding at once exactly one sees each value. Nothing spans
    transactions: safe through a transaction-mode connection pooler."""
    dialect = engine.dialect.name
    seed = dialects.insert(dialect, store_state).values(key=key, value={}, updated_at=now)
    with engine.execution_options(**dialects.write_options(dialect)).begin() as conn:
        conn.execute(seed.on_conflict_do_nothing(index_elements=["key"]))
        current = select(store_state.c.value).where(store_state.c.key == key)
        if dialect == "postgresql":
            current = current.with_for_update()
        new = decide(conn.execute(current).scalar_one_or_none())
        if new is None:
            return False
        conn.execute(
            store_state.update().where(store_state.c.key == key).values(value=new, updated_at=now)
        )
        return True


class SQLState:
    """``SharedState`` in the ``store_state`` table of ``engine``'s database."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock
        self.stop = stop_event(engine)

    def read(self, key: str) -> Any:
        return read_state(self.engine, key)

    def write(self, key: str, value: Any) -> None:
        write_state(self.engine, key, value, self.clock())

    def claim(self, key: str, decide: Callable[[Any], Any | None]) -> bool:
        return claim_state(self.engine, key, decide, self.clock())
