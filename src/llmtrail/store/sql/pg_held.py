"""Autocommit connections kept checked out of the SQLAlchemy pool for single-statement hot paths.

A single-statement write or read (``PgFastPath._one``) is its own transaction, so it runs in
autocommit mode. Checking a connection out of SQLAlchemy's pool, switching it to autocommit,
switching it back and returning it (reset-on-return included) cost about as much client CPU as
the statement itself, so a few connections are kept checked out here, already in autocommit
mode, each with a reusable cursor. They still come from, and go back to, the engine's pool:
its size limit, time-out, connect events and ``dispose`` apply.

- ``acquire`` takes the most recently used idle connection (LIFO) or checks a new one out;
  ``release`` keeps it for the next call, unless enough are idle or it is older than
  ``max_age`` (then it goes back to the pool, which recycles it on its own schedule).
- ``discard`` invalidates a connection that failed in a way that may have broken it, and every
  idle one with it: a dropped connection usually means the server restarted, and then they are
  all dead.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy.engine import Engine
from sqlalchemy.pool import PoolProxiedConnection


@dataclass(slots=True)
class Held:
    """One pooled connection in autocommit mode, with its cursor."""

    pooled: PoolProxiedConnection
    pg: psycopg.Connection[Any]
    cur: psycopg.Cursor[Any]
    since: float


class HeldConnections:
    """A small LIFO stack of autocommit connections checked out of ``engine``'s pool."""

    def __init__(self, engine: Engine, *, max_idle: int = 4, max_age: float = 600.0) -> None:
        self.engine = engine
        self.max_idle = max_idle
        self.max_age = max_age
        self._idle: deque[Held] = deque()
        self._lock = threading.Lock()
        self._closed = False

    def acquire(self) -> Held:
        """An idle held connection, or a new one checked out of the pool (may raise psycopg or
        SQLAlchemy errors, as ``engine.raw_connection()`` does)."""
        try:
            return self._idle.pop()
        except IndexError:
            pass
        pooled = self.engine.raw_connection()
        pg: psycopg.Connection[Any] = pooled.driver_connection  # type: ignore[assignment]
        try:
            pg.autocommit = True
            cur = pg.cursor()
        except BaseException:
            pooled.invalidate()
            raise
        return Held(pooled, pg, cur, time.monotonic())

    def release(self, held: Held) -> None:
        """Keep a healthy connection for the next call (or give it back to the pool)."""
        if (
            not self._closed
            and len(self._idle) < self.max_idle
            and time.monotonic() - held.since < self.max_age
        ):
            self._idle.append(held)
            if not self._closed:
                return
            try:
                self._idle.remove(held)  # close() ran meanwhile
            except ValueError:
                return  # close() gave it back already
        _give_back(held)

    def discard(self, held: Held, error: BaseException, *, broken: bool) -> None:
        """Invalidate a connection that cannot be reused. When it is ``broken`` (the server
        went away), so is every idle one, and the pool recycles every connection it handed out
        before now at their next checkout (as SQLAlchemy does on a disconnect)."""
        if not broken:
            _invalidate(held, error)
            return
        invalidate_pool(self.engine, held.pooled, error)
        for other in self._drain():
            _invalidate(other, error)

    def close(self) -> None:
        """Give every idle connection back to the pool (before ``engine.dispose()``)."""
        self._closed = True
        for held in self._drain():
            _give_back(held)

    def _drain(self) -> list[Held]:
        with self._lock:
            out = []
            while True:
                try:
                    out.append(self._idle.pop())
                except IndexError:
                    return out


def _give_back(held: Held) -> None:
    try:
        held.cur.close()
        held.pg.autocommit = False
        held.pooled.close()
    except Exception:
        _invalidate(held)


def invalidate_pool(engine: Engine, pooled: PoolProxiedConnection, error: BaseException) -> None:
    """Invalidate ``pooled`` and mark every older connection of the pool for recycling."""
    with contextlib.suppress(Exception):  # invalidation closes quietly
        engine.pool._invalidate(pooled, error)


def _invalidate(held: Held, error: BaseException | None = None) -> None:
    with contextlib.suppress(Exception):  # invalidation closes quietly
        held.pooled.invalidate(error)
