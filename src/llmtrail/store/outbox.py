"""The dual-mode outbox: writes the target has not acknowledged yet, kept in a local SQLite file.

Each entry is one operation (a full trail snapshot, a project, a key, a deletion) in the order
the source applied it; the replayer applies entries oldest first and deletes each only after
the target has it, so a crash at any point replays at most a few idempotent writes again. The
file survives restarts (``AUDIT_TRAIL_DUAL_OUTBOX``), which is what makes a memory source safe
to run in dual mode: a write the target missed is on disk, not in the lost process memory.

Entries that fail permanently (not an outage: e.g. a validation error on the target) are
moved to a ``dead`` table after a few attempts, logged, and counted, so one bad entry cannot
stall the rest; ``llmtrail verify`` then reports the trail.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmtrail.model.wire import dumps, loads
from llmtrail.store.file_lock import file_lock

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_outbox_key ON outbox (key);
CREATE TABLE IF NOT EXISTS dead (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    created_at REAL NOT NULL,
    died_at REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Entry:
    """One recorded operation for the target."""

    seq: int
    kind: str
    key: str
    payload: dict[str, Any]
    attempts: int


class Outbox:
    """A durable FIFO of target operations in a SQLite file (WAL, synchronous=FULL)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(self.path), check_same_thread=False, isolation_level=None, timeout=30
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(_SCHEMA)

    def append(self, kind: str, items: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Record operations of one kind (``(key, payload)`` each), durably, in order."""
        now = time.time()
        rows = [(kind, key, dumps(payload), now) for key, payload in items]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO outbox (kind, key, payload, created_at) VALUES (?, ?, ?, ?)", rows
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def pending(self) -> int:
        """How many operations wait for the target."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def has_pending(self, key: str | None = None) -> bool:
        """Whether anything (or anything for ``key``) waits for the target."""
        with self._lock:
            if key is None:
                row = self._db.execute("SELECT 1 FROM outbox LIMIT 1").fetchone()
            else:
                row = self._db.execute("SELECT 1 FROM outbox WHERE key = ? LIMIT 1", (key,))
                row = row.fetchone()
            return row is not None

    def head(self, limit: int = 500) -> list[Entry]:
        """The oldest ``limit`` operations, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, kind, key, payload, attempts FROM outbox ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [Entry(r[0], r[1], r[2], loads(r[3]), r[4]) for r in rows]

    def done(self, seqs: Sequence[int]) -> None:
        """Forget operations the target has acknowledged."""
        if not seqs:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])
            self._db.execute("COMMIT")

    def failed(self, seq: int, error: str) -> int:
        """Count a failed attempt of an operation; returns its attempts so far."""
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?",
                (error[:500], seq),
            )
            row = self._db.execute("SELECT attempts FROM outbox WHERE seq = ?", (seq,)).fetchone()
        return int(row[0]) if row else 0

    def bury(self, seq: int) -> None:
        """Move an operation that keeps failing to the ``dead`` table."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT OR REPLACE INTO dead SELECT seq, kind, key, payload, attempts, last_error,"
                " created_at, ? FROM outbox WHERE seq = ?",
                (time.time(), seq),
            )
            self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
            self._db.execute("COMMIT")

    def dead(self) -> int:
        """How many operations were given up on."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM dead").fetchone()[0])

    @contextlib.contextmanager
    def replaying(self) -> Iterator[bool]:
        """Hold the replay lock (one replayer per outbox file across processes); yields
        False when another process is replaying."""
        with file_lock(str(self.path) + ".lock", wait=False) as got:
            yield got

    def close(self) -> None:
        with self._lock:
            self._db.close()
