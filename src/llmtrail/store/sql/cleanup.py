"""Retention cleanup in the SQL backend: bounded batches, each its own short transaction.

A purge of any size (ten million rows) runs as a sequence of ``DELETE … WHERE id IN (SELECT id
… ORDER BY timestamp LIMIT batch)`` statements, each committed on its own, so concurrent inserts
and reads are never blocked for long and memory stays bounded by one batch. Each batch starts
where the previous one stopped (a keyset on ``timestamp``), so it never rescans the dead index
entries left behind. On PostgreSQL the batch selects its rows ``FOR UPDATE SKIP LOCKED``: two
cleanups running at once (the scheduler and a cron job) share the work instead of waiting on, or
deadlocking with, each other. Usage rollups are NOT decremented: aggregates outlive raw
retention; only rollup buckets older than ``rollup_retention_days`` are deleted.

Also here: the small key/value facts replicas share through the ``store_state`` table (the last
cleanup run, the last scheduler tick done).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, true, tuple_, update

from llmtrail.ledger.entries import LedgerEntry, written
from llmtrail.store.sql import dialects
from llmtrail.store.sql import ledger as sql_ledger
from llmtrail.store.sql.rows import row_to_trail
from llmtrail.store.sql.schema import audit_trails, projects, usage_rollups
from llmtrail.store.sql.state import stop_event

if TYPE_CHECKING:
    from llmtrail.store.sql.store import SQLStore

log = logging.getLogger("llmtrail.retention")
PROGRESS_EVERY = 5.0  # seconds between progress log lines


@dataclass(frozen=True, slots=True)
class Rule:
    """Trails matching ``where`` are kept for ``days``: the default or a project's override."""

    label: str
    days: float
    where: ColumnElement[bool]


def _rules(conn: Any, days: float) -> list[Rule]:
    """The retention rules at a cleanup: projects with their own retention, then the default
    for every other project; a project under legal hold is in no rule (nothing of it goes)."""
    p = projects.c
    overrides = {
        r.id: r.retention_days
        for r in conn.execute(
            select(p.id, p.retention_days).where(
                p.retention_days.is_not(None), p.legal_hold.is_(False)
            )
        )
    }
    held = bool(conn.execute(select(func.count()).where(p.legal_hold.is_(True))).scalar_one())
    # A subquery, not a list of ids: no limit on how many projects have their own retention.
    special = select(p.id).where(or_(p.retention_days.is_not(None), p.legal_hold.is_(True)))
    default: ColumnElement[bool] = (
        audit_trails.c.project_id.not_in(special) if overrides or held else true()
    )
    rules = [Rule("default", days, default)]
    rules += [
        Rule(f"project {pid}", d, audit_trails.c.project_id == pid)
        for pid, d in sorted(overrides.items())
    ]
    return rules


def count_expired(store: SQLStore, now: datetime, days: float) -> int:
    """How many trails a cleanup at ``now`` would delete (a dry run: nothing is written)."""
    total = 0
    with store.engine.connect() as conn:
        for rule in _rules(conn, days):
            cutoff = now - timedelta(days=rule.days)
            q = (
                select(func.count())
                .select_from(audit_trails)
                .where(rule.where, audit_trails.c.timestamp < cutoff)
            )
            total += int(conn.execute(q).scalar_one())
    return total


def delete_expired(
    store: SQLStore,
    now: datetime,
    days: float,
    *,
    batch: int | None = None,
    pause: Callable[[float], None] | None = None,
) -> int:
    """Delete trails older than their retention at ``now`` (strictly older than the cutoff),
    batch by batch; then rollup buckets past ``rollup_retention_days``. Returns trails deleted.
    """
    size = batch or store.cleanup_batch_size
    # Gaps between batches keep ingest fast: SQLite has one writer, so waiting inserts get
    # their turn; on PostgreSQL the pauses spread the purge's WAL and CPU so inserts' commits
    # are not stuck behind it (bench/bench_cleanup.py measures this).
    yield_between = pause or (
        _sqlite_pause if store.dialect == "sqlite" else _pg_pause(store.cleanup_pause_ratio)
    )
    with store.engine.connect() as conn:
        rules = _rules(conn, days)
    deleted = 0
    started = last_log = time.monotonic()
    stop = stop_event(store.engine)
    for rule in rules:
        cutoff = now - timedelta(days=rule.days)
        for n, elapsed in _delete_rule(store, rule.where, cutoff, size, now):
            deleted += n
            if stop.is_set():
                log.warning(
                    "cleanup stopped after %d trails (shutting down); the next run goes on",
                    deleted,
                )
                return deleted
            if yield_between is not None:
                yield_between(elapsed)
            if time.monotonic() - last_log >= PROGRESS_EVERY:
                last_log = time.monotonic()
                log.info(
                    "cleanup progress: %d trails deleted so far (%s, cutoff %s), %.1f s",
                    deleted,
                    rule.label,
                    cutoff.isoformat(),
                    last_log - started,
                )
    rollups = delete_old_rollups(store, now, size)
    if rollups:
        log.info("cleanup: %d usage rollup buckets past the rollup retention deleted", rollups)
    return deleted


def redact_expired(store: SQLStore, now: datetime, *, dry_run: bool = False) -> int:
    """Clear reasoning and metadata of trails past their project's content retention, batch by
    batch (tokens and cost stay, so the rollups do too); projects under legal hold are skipped.
    Returns how many trails were (with ``dry_run``: would be) redacted."""
    p, t = projects.c, audit_trails.c
    with store.engine.connect() as conn:
        policies = conn.execute(
            select(p.id, p.content_retention_days).where(
                p.content_retention_days.is_not(None), p.legal_hold.is_(False)
            )
        ).all()
    total = 0
    size = store.cleanup_batch_size
    # Paced twice as long as deletion: rewriting a row (its new version, its old TOASTed
    # reasoning freed) costs concurrent ingest more than deleting it (bench_cleanup.py
    # --content-days measures it).
    pause = _sqlite_pause if store.dialect == "sqlite" else _pg_pause(2 * store.cleanup_pause_ratio)
    stop = stop_event(store.engine)
    for pid, days in policies:
        due = and_(
            t.project_id == pid,
            t.timestamp < now - timedelta(days=days),
            t.content_redacted_at.is_(None),
        )
        if dry_run:
            with store.engine.connect() as conn:
                total += int(conn.execute(select(func.count()).where(due)).scalar_one())
            continue
        low: datetime | None = None  # a keyset, as for deletion: never rescan the done rows
        while not stop.is_set():
            began = time.monotonic()
            cond = due if low is None else and_(due, t.timestamp >= low)
            pick = (
                select(t.id)
                .where(cond)
                .order_by(t.timestamp)
                .limit(size)
                .with_for_update(skip_locked=True)
            )
            stmt = (
                update(audit_trails)
                .where(t.id.in_(pick.scalar_subquery()))
                # None is JSON null in these columns, as every other write stores it
                .values(reasoning=None, metadata=None, content_redacted_at=now, updated_at=now)
            )
            with store.engine.execution_options(
                **dialects.write_options(store.dialect)
            ).begin() as c:
                n, newest = _redact_batch(c, stmt, store.keeps_ledger)
            total += n
            if newest is not None and (low is None or newest > low):
                low = newest
            if n < size:
                break
            if pause is not None:
                pause(time.monotonic() - began)
    return total


def _redact_batch(conn: Any, stmt: Any, ledger: bool) -> tuple[int, datetime | None]:
    """Run one batch's redacting UPDATE: (rows redacted, newest timestamp). With the ledger,
    the redacted rows come back whole and each gets its ``redact`` entry (the hash of what is
    left), in the same transaction."""
    t = audit_trails.c
    if not ledger:
        n, newest, _ = _run_batch(
            conn, conn.dialect.name, stmt.returning(t.timestamp, t.project_id)
        )
        return n, newest
    trails = [row_to_trail(r) for r in conn.execute(stmt.returning(audit_trails)).mappings()]
    sql_ledger.append(conn, [written(tr, "redact") for tr in trails])
    stamps = [tr.timestamp for tr in trails if tr.timestamp is not None]
    return len(trails), max(stamps) if stamps else None


def _sqlite_pause(elapsed: float) -> None:
    time.sleep(min(0.05, max(0.002, elapsed)))


def _pg_pause(ratio: float) -> Callable[[float], None] | None:
    if ratio <= 0:
        return None

    def pause(elapsed: float) -> None:
        time.sleep(min(1.0, elapsed * ratio))

    return pause


def _delete_rule(
    store: SQLStore, where: ColumnElement[bool], cutoff: datetime, size: int, now: datetime
) -> Iterator[tuple[int, float]]:
    """Yield (rows deleted, seconds taken) per batch until the rule has nothing left. Each
    batch records an ``expire`` ledger entry per project it deleted from, in its transaction
    (so the deletions verify clean)."""
    t = audit_trails.c
    low: datetime | None = None
    while True:
        began = time.monotonic()
        cond = and_(where, t.timestamp < cutoff)
        if low is not None:
            cond = and_(cond, t.timestamp >= low)
        pick = (
            select(t.id)
            .where(cond)
            .order_by(t.timestamp)
            .limit(size)
            .with_for_update(skip_locked=True)  # PostgreSQL only; SQLite ignores it
        )
        stmt = (
            delete(audit_trails)
            .where(t.id.in_(pick.scalar_subquery()))
            .returning(t.timestamp, t.project_id)
        )
        with store.engine.execution_options(**dialects.write_options(store.dialect)).begin() as c:
            n, newest, touched = _run_batch(c, store.dialect, stmt)
            if store.keeps_ledger and touched:
                entries = [LedgerEntry(p, "expire", now, cutoff=cutoff) for p in sorted(touched)]
                sql_ledger.append(c, entries)
        if newest is not None and (low is None or newest > low):
            low = newest
        yield n, time.monotonic() - began
        if n < size:  # with SKIP LOCKED too: fewer than ``size`` rows were left to take
            return


def _run_batch(conn: Any, dialect: str, stmt: Any) -> tuple[int, datetime | None, set[str]]:
    """Run one batch's DELETE … RETURNING timestamp, project_id: (rows deleted, newest
    timestamp, the projects deleted from).

    PostgreSQL aggregates in the database (one row back, no per-row work in Python, which
    would hold the GIL against the threads serving requests); SQLite has no DELETE in a CTE,
    so its rows come back to be aggregated here.
    """
    if dialect == "postgresql":
        deleted = stmt.cte("deleted")
        row = conn.execute(
            select(
                func.count(),
                func.max(deleted.c.timestamp),
                func.array_agg(deleted.c.project_id.distinct()),
            )
        ).one()
        return int(row[0]), row[1], set(row[2] or ())
    n, top, touched = 0, None, set()
    for ts, pid in conn.execute(stmt):
        n += 1
        touched.add(pid)
        if top is None or ts > top:
            top = ts
    return n, top, touched


def delete_old_rollups(store: SQLStore, now: datetime, size: int) -> int:
    """Delete usage rollup buckets older than the rollup retention, in batches."""
    cutoff = now - timedelta(days=store.rollup_retention_days)
    r = usage_rollups.c
    total = 0
    while True:
        oldest = (
            select(r.project_id, r.bucket, r.model)
            .where(r.bucket < cutoff)
            .order_by(r.bucket)
            .limit(size)
        )
        stmt = delete(usage_rollups).where(tuple_(r.project_id, r.bucket, r.model).in_(oldest))
        with store.engine.execution_options(**dialects.write_options(store.dialect)).begin() as c:
            n = c.execute(stmt).rowcount
        total += n
        if n < size:
            return total
