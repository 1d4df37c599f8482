"""Cleanup runs: one run (logged, counted, recorded for every replica), and one tick of the
schedule, run by exactly one of the processes sharing a database."""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from llmtrail import metrics
from llmtrail.errors import ValidationError
from llmtrail.retention.schedule import parse_instant, tick_done, tick_record, whoami
from llmtrail.store.base import Store

log = logging.getLogger("llmtrail.retention")
TICK_KEY = "cleanup.tick"
LAST_RUN_KEY = "cleanup.last_run"


@dataclass(frozen=True, slots=True)
class CleanupResult:
    """One cleanup run: how many trails it deleted (or would delete, for a dry run)."""

    deleted_count: int
    backend: str
    days: float
    dry_run: bool
    started_at: datetime
    duration_seconds: float
    trigger: str = "manual"
    #: trails whose content the content retention cleared (the records stay)
    redacted_count: int = 0

    def to_wire(self) -> dict[str, Any]:
        """``{"deletedCount": n, "backend": …}``, plus ``"redactedCount"`` when the content
        retention cleared any trail and ``"dryRun": true`` for a dry run."""
        out: dict[str, Any] = {"deletedCount": self.deleted_count, "backend": self.backend}
        if self.redacted_count:
            out["redactedCount"] = self.redacted_count
        if self.dry_run:
            out["dryRun"] = True
        return out


def run_cleanup(
    store: Store, days: float | None = None, *, dry_run: bool = False, trigger: str = "manual"
) -> CleanupResult:
    """Run one cleanup now (no lock: concurrent runs share the work safely), log it, and
    record it in the metrics and, on a database, in ``store_state`` for every replica."""
    effective = store.retention_days if days is None else days
    started = datetime.now(UTC)
    t0 = time.monotonic()
    try:
        n = store.cleanup(days, dry_run=dry_run)
        redacted = store.redact_content(dry_run=dry_run)
        if not dry_run:
            store.purge_access_log(store.access_log_days)
            seal_quietly(store)
    except ValidationError:
        raise
    except Exception:
        if not dry_run:
            metrics.CLEANUP_RUNS.labels("error").inc()
        log.exception("cleanup failed (%s, %s days, %s)", store.backend, effective, trigger)
        raise
    duration = time.monotonic() - t0
    result = CleanupResult(
        n, store.backend, effective, dry_run, started, duration, trigger, redacted
    )
    if dry_run:
        log.info(
            "cleanup dry run: %d trails older than %s days would be deleted, %d redacted (%s)",
            n,
            effective,
            redacted,
            store.backend,
        )
        return result
    metrics.CLEANUP_RUNS.labels("success").inc()
    metrics.CLEANUP_DELETED.inc(n)
    metrics.CLEANUP_REDACTED.inc(redacted)
    LAST_RUN.record_local(result)
    log.info(
        "cleanup finished: %d trails older than %s days deleted, %d redacted, in %.2f s (%s, %s)",
        n,
        effective,
        redacted,
        duration,
        store.backend,
        trigger,
    )
    try:
        store.state.write(LAST_RUN_KEY, _run_record(result))
    except Exception as e:  # the run itself succeeded; only its record is missing
        log.warning("could not record the cleanup run in store_state: %s", e)
    return result


def seal_quietly(store: Store) -> int:
    """Seal the ledger (the cron's cleanup seals too, for deployments without a resident
    server); a failure is logged, not raised: nothing is lost, the next seal covers it."""
    try:
        report = store.seal()
    except Exception as e:
        log.warning("sealing the ledger failed (the next seal covers it): %s", e)
        return 0
    if report.checkpoints:
        log.info(
            "ledger sealed: %d entries, %d checkpoints", report.entries, len(report.checkpoints)
        )
    return report.entries


def _run_record(r: CleanupResult) -> dict[str, Any]:
    return {
        "startedAt": r.started_at.isoformat(),
        "finishedAt": (r.started_at + timedelta(seconds=r.duration_seconds)).isoformat(),
        "durationSeconds": r.duration_seconds,
        "deletedCount": r.deleted_count,
        "redactedCount": r.redacted_count,
        "backend": r.backend,
        "days": r.days,
        "trigger": r.trigger,
        "by": whoami(),
    }


# -- once per tick --------------------------------------------------------------------------------


def run_tick(store: Store, tick: datetime, days: float | None = None) -> CleanupResult | None:
    """Run the cleanup of the scheduled tick ``tick`` unless another process has claimed it
    (running or done); returns the result, or None when this process skipped the tick.

    The claim is one transaction on the ``store_state`` row of the last tick (no lock held
    while the cleanup runs, so it works through transaction-mode poolers): of the replicas
    reaching a tick together exactly one claims it. ``tick`` is an aware datetime in the
    schedule's zone. Ticks are compared by their local wall time there, so a daily 02:00 that
    the autumn clock change repeats runs once, as in cron; ticks recorded in another zone are
    compared as instants.
    """
    seen: list[Any] = []

    def claim(current: Any) -> Any:
        seen.append(current)
        covered = isinstance(current, dict) and bool(current) and tick_done(current, tick)
        return None if covered else tick_record(tick)

    if not store.state.claim(TICK_KEY, claim):
        metrics.CLEANUP_RUNS.labels("skipped").inc()
        by = seen[-1].get("by") if seen and isinstance(seen[-1], dict) else None
        log.info("cleanup tick %s: claimed by %s; skipped", tick.isoformat(), by)
        return None
    return run_cleanup(store, days, trigger=f"schedule {tick.isoformat()}")


# -- /metrics: the last run, shared by replicas ---------------------------------------------------


class _LastRun:
    """The newest known cleanup run: this process's, or another replica's from ``store_state``.

    The ``CLEANUP_LAST_*`` gauges read it at scrape time (cached for ``ttl`` seconds).
    """

    def __init__(self, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._local: dict[str, Any] | None = None
        self._store: weakref.ref[Store] | None = None
        self._shared: dict[str, Any] | None = None
        self._read_at = -math.inf

    def record_local(self, r: CleanupResult) -> None:
        with self._lock:
            self._local = _run_record(r)

    def watch(self, store: Store) -> None:
        with self._lock:
            self._store, self._read_at = weakref.ref(store), -math.inf

    def forget(self, store: Store) -> None:
        with self._lock:
            if self._store is not None and self._store() is store:
                self._store, self._shared = None, None

    def newest(self) -> dict[str, Any] | None:
        with self._lock:
            store = self._store() if self._store is not None else None
            if store is not None and time.monotonic() - self._read_at > self.ttl:
                self._read_at = time.monotonic()
                try:
                    value = store.state.read(LAST_RUN_KEY)
                    self._shared = value if isinstance(value, dict) else None
                except Exception as e:
                    log.debug("could not read the last cleanup run: %s", e)
            runs = [r for r in (self._local, self._shared) if r]
            return max(runs, key=lambda r: parse_instant(r.get("finishedAt"))) if runs else None

    def value(self, key: str) -> Callable[[], float]:
        def get() -> float:
            run = self.newest()
            if run is None:
                return 0.0
            if key == "finishedAt":
                return parse_instant(run.get(key)).timestamp()
            return float(run.get(key) or 0)

        return get


LAST_RUN = _LastRun()
metrics.CLEANUP_LAST_RUN.set_function(LAST_RUN.value("finishedAt"))
metrics.CLEANUP_LAST_DURATION.set_function(LAST_RUN.value("durationSeconds"))
metrics.CLEANUP_LAST_DELETED.set_function(LAST_RUN.value("deletedCount"))
