"""Usage aggregates without a hot row: increments, folding, and the background folder.

``usage_rollups`` holds usage per (project, 15-minute UTC bucket, model). Updating that row in
each write's transaction serialises every concurrent write of one project and model on its
row lock, held until commit (measured: throughput fell from 8 to 32 threads). So on
PostgreSQL a write only **appends** its increment to ``usage_deltas`` (no lock on anything
shared), and ``fold`` moves increments into ``usage_rollups`` later, in one transaction per
batch: it deletes a batch of deltas picked with ``FOR UPDATE SKIP LOCKED`` (several folders,
in any processes, take disjoint batches) and adds their sums to the rollups. Analytics reads
rollups + deltas in one statement, so it is exact at every instant: a batch is either still in
the deltas or already in the rollups, never both or neither.

Folding runs in a background thread of each store that wrote (``Folder``, every
``fold_seconds``), in every ``cleanup`` (so a serverless deployment's cron folds too), and
from ``Store.fold_usage``. SQLite has one writer at a time anyway: it updates the rollups in
the write's transaction and has nothing to fold.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Connection, Engine

from llmtrail.store.sql import dialects
from llmtrail.store.sql.rows import combine
from llmtrail.store.sql.schema import usage_deltas, usage_rollups

log = logging.getLogger("llmtrail.store.sql.usage")

KEY = ("project_id", "bucket", "model")
COUNTS = ("messages", "prompt_tokens", "completion_tokens", "total_tokens")
MONEY = ("cost_prompt", "cost_completion", "cost_total")
COLUMNS = ", ".join(KEY + COUNTS + MONEY)
#: an upsert's SET clause adding the EXCLUDED row's counts to the rollup row
ADD_TO_ROLLUP = "ON CONFLICT (project_id, bucket, model) DO UPDATE SET " + ", ".join(
    f"{c} = usage_rollups.{c} + EXCLUDED.{c}" for c in COUNTS + MONEY
)
FOLD_BATCH = 5_000

# The ORDER BY makes every folder lock rollup rows in the same order (no deadlock between
# folders whose batches touch the same rows).
FOLD = f"""
WITH moved AS (
    DELETE FROM usage_deltas WHERE id IN (
        SELECT id FROM usage_deltas ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED
    )
    RETURNING {COLUMNS}
), folded AS (
    INSERT INTO usage_rollups ({COLUMNS})
    SELECT {", ".join(KEY)}, {", ".join(f"sum({c})" for c in COUNTS + MONEY)}
    FROM moved GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    {ADD_TO_ROLLUP}
)
SELECT count(*) FROM moved"""


_DROP_ORPHANS = (
    "DELETE FROM usage_deltas d "
    "WHERE NOT EXISTS (SELECT 1 FROM projects p WHERE p.id = d.project_id)"
)


def forget(conn: Connection, project_id: str) -> None:
    """Delete a project's pending increments (in the transaction that deletes the project)."""
    conn.execute(usage_deltas.delete().where(usage_deltas.c.project_id == project_id))


def add(conn: Connection, dialect: str, deltas: list[dict[str, Any]]) -> None:
    """Add usage increments (``rows.usage_delta``) in the caller's transaction: appended to
    ``usage_deltas`` on PostgreSQL, added to ``usage_rollups`` directly on SQLite."""
    rows = combine(deltas)
    if rows:
        conn.execute(_add_statement(dialect), rows)


@functools.cache
def _add_statement(dialect: str) -> Any:
    # Built once per dialect: constructing the upsert costs more than running it.
    if dialect == "postgresql":
        return usage_deltas.insert()
    ins = dialects.insert(dialect, usage_rollups)
    sets: dict[str, Any] = {c: usage_rollups.c[c] + ins.excluded[c] for c in COUNTS}
    for c in MONEY:
        sets[c] = dialects.money_add(dialect, usage_rollups.c[c], ins.excluded[c])
    return ins.on_conflict_do_update(index_elements=list(KEY), set_=sets)


def fold(engine: Engine, *, batch: int = FOLD_BATCH, limit: int | None = None) -> int:
    """Fold pending increments into ``usage_rollups``, ``batch`` per transaction, until none
    is left that no other folder holds (or ``limit`` were folded); how many were folded."""
    if engine.dialect.name != "postgresql":
        return 0
    total = 0
    orphans = 0
    while limit is None or total < limit:
        size = batch if limit is None else min(batch, limit - total)
        try:
            with engine.begin() as conn:
                n = int(conn.exec_driver_sql(FOLD, (size,)).scalar_one())
        except exc.IntegrityError:
            # Increments of a project deleted meanwhile (a write racing the deletion): they
            # count for nothing any more; drop them and go on.
            orphans += 1
            if orphans > 3:
                raise
            with engine.begin() as conn:
                conn.exec_driver_sql(_DROP_ORPHANS)
            continue
        total += n
        if n < size:
            break
    return total


class Folder:
    """Folds in a background thread, at most every ``seconds``, after writes ``wake`` it.

    The thread starts with the first ``wake`` (a store that only reads never starts one) and is
    a daemon; ``close`` stops it and folds what is left, so a clean shutdown leaves nothing
    pending that this process wrote."""

    def __init__(self, fold: Callable[[], int], seconds: float) -> None:
        self._fold = fold
        self.seconds = seconds
        self._pending = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def wake(self) -> None:
        """Note that something was written (cheap: called after every write)."""
        if self._thread is None and self.seconds > 0:
            self._start()
        self._pending.set()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._stopping.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="llmtrail-usage-folder", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._pending.wait()
            if self._stopping.wait(self.seconds):  # gather a second's writes into one fold
                return
            self._pending.clear()
            self.run_once()

    def run_once(self) -> int:
        """Fold now (errors are logged: the next wake tries again; nothing is lost)."""
        try:
            return self._fold()
        except Exception as e:  # a database outage must not kill the thread
            log.warning("folding usage increments failed (will retry): %s", e)
            return 0

    def close(self) -> None:
        """Stop the thread and fold what is pending."""
        self._stopping.set()
        self._pending.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self.run_once()
