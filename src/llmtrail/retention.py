"""Retention: cleanup runs, the schedule, and the once-across-replicas guarantee.

- ``run_cleanup(store, days, dry_run=…)`` runs one cleanup (the CLI, the admin route and the
  scheduler all go through it): it times the run, logs it, updates the ``CLEANUP_*`` metrics
  and records the run in the database's ``store_state`` so every replica's ``/metrics`` shows it.
- ``start_scheduler(store, settings)`` starts an APScheduler ``BackgroundScheduler`` firing on
  ``AUDIT_TRAIL_CLEANUP_CRON`` in ``AUDIT_TRAIL_CLEANUP_TZ`` (``off`` disables it).
- ``run_tick(store, tick)`` is what each tick does. Several server processes sharing one
  database each fire at the same tick; exactly one cleans up: it must take the ``cleanup``
  lock without waiting (a PostgreSQL advisory lock; a lock file beside a SQLite database) and
  find the tick not yet recorded as done in ``store_state`` — so a replica whose clock or
  start is a little late does not repeat a tick another replica already finished.

The crontab is the standard five fields (minute hour day-of-month month day-of-week, with
day-of-week 0 or 7 = Sunday as in cron), or six with seconds first.
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from llmtrail import metrics
from llmtrail.config import Settings
from llmtrail.errors import ValidationError
from llmtrail.store.base import Store

log = logging.getLogger("llmtrail.retention")
TICK_KEY = "cleanup.tick"
LAST_RUN_KEY = "cleanup.last_run"
LOCK_NAME = "cleanup"
JOB_ID = "llmtrail-cleanup"


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

    def to_wire(self) -> dict[str, Any]:
        """``{"deletedCount": n, "backend": …}`` (plus ``"dryRun": true`` for a dry run)."""
        out: dict[str, Any] = {"deletedCount": self.deleted_count, "backend": self.backend}
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
    except ValidationError:
        raise
    except Exception:
        if not dry_run:
            metrics.CLEANUP_RUNS.labels("error").inc()
        log.exception("cleanup failed (%s, %s days, %s)", store.backend, effective, trigger)
        raise
    duration = time.monotonic() - t0
    result = CleanupResult(n, store.backend, effective, dry_run, started, duration, trigger)
    if dry_run:
        log.info(
            "cleanup dry run: %d trails older than %s days would be deleted (%s)",
            n,
            effective,
            store.backend,
        )
        return result
    metrics.CLEANUP_RUNS.labels("success").inc()
    metrics.CLEANUP_DELETED.inc(n)
    _LAST.record_local(result)
    log.info(
        "cleanup finished: %d trails older than %s days deleted in %.2f s (%s, %s)",
        n,
        effective,
        duration,
        store.backend,
        trigger,
    )
    sql = _sql_store(store)
    if sql is not None:
        try:
            from llmtrail.store.sql.cleanup import write_state

            write_state(sql.engine, LAST_RUN_KEY, _run_record(result), datetime.now(UTC))
        except Exception as e:  # the run itself succeeded; only its record is missing
            log.warning("could not record the cleanup run in store_state: %s", e)
    return result


def _run_record(r: CleanupResult) -> dict[str, Any]:
    return {
        "startedAt": r.started_at.isoformat(),
        "finishedAt": (r.started_at + timedelta(seconds=r.duration_seconds)).isoformat(),
        "durationSeconds": r.duration_seconds,
        "deletedCount": r.deleted_count,
        "backend": r.backend,
        "days": r.days,
        "trigger": r.trigger,
        "by": _me(),
    }


def _me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _sql_store(store: Store) -> Any:
    """The SQL store holding the shared state: the store itself, or a dual store's side."""
    from llmtrail.store.sql.store import SQLStore

    if isinstance(store, SQLStore):
        return store
    for side in ("target", "source"):
        try:
            candidate = getattr(store, side, None)  # a dual store may open its target here
        except Exception as e:
            log.debug("cleanup: the %s side is not available (%s)", side, e)
            continue
        if isinstance(candidate, SQLStore):
            return candidate
    return None


# -- once per tick --------------------------------------------------------------------------------


@contextmanager
def _tick_lock(store: Store) -> Iterator[bool]:
    sql = _sql_store(store)
    if sql is None:  # memory: one process by definition
        yield True
        return
    from llmtrail.store.sql.dialects import exclusive_lock

    with exclusive_lock(sql.engine, LOCK_NAME, wait=False) as got:
        yield got


def run_tick(store: Store, tick: datetime, days: float | None = None) -> CleanupResult | None:
    """Run the cleanup of the scheduled tick ``tick`` unless another process holds it or has
    already done it; returns the result, or None when this process skipped the tick.

    ``tick`` is an aware datetime in the schedule's zone. Ticks are compared by their local
    wall time there, so a daily 02:00 that the autumn clock change repeats runs once, as in
    cron; ticks recorded in another zone are compared as instants.
    """
    sql = _sql_store(store)
    with _tick_lock(store) as got:
        if not got:
            metrics.CLEANUP_RUNS.labels("skipped").inc()
            log.info("cleanup tick %s: another process is running it; skipped", tick.isoformat())
            return None
        if sql is not None:
            from llmtrail.store.sql.cleanup import read_state, write_state

            done = read_state(sql.engine, TICK_KEY)
            if isinstance(done, dict) and tick_done(done, tick):
                metrics.CLEANUP_RUNS.labels("skipped").inc()
                log.info(
                    "cleanup tick %s: already done by %s; skipped",
                    tick.isoformat(),
                    done.get("by"),
                )
                return None
        result = run_cleanup(store, days, trigger=f"schedule {tick.isoformat()}")
        if sql is not None:
            write_state(sql.engine, TICK_KEY, tick_record(tick), datetime.now(UTC))
        return result


def _zone_name(tick: datetime) -> str:
    return str(getattr(tick.tzinfo, "key", tick.tzinfo))


def tick_record(tick: datetime) -> dict[str, Any]:
    """What ``store_state`` keeps about a finished tick."""
    return {
        "tick": tick.isoformat(),
        "local": tick.replace(tzinfo=None).isoformat(),
        "tz": _zone_name(tick),
        "by": _me(),
    }


def tick_done(record: dict[str, Any], tick: datetime) -> bool:
    """Whether a recorded tick covers ``tick`` (the same tick or a later one)."""
    if record.get("tz") == _zone_name(tick) and isinstance(record.get("local"), str):
        try:
            return datetime.fromisoformat(record["local"]) >= tick.replace(tzinfo=None)
        except ValueError:
            pass
    return _parse(record.get("tick")) >= tick


def _parse(value: Any) -> datetime:
    try:
        d = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return d if d.tzinfo else d.replace(tzinfo=UTC)


# -- the schedule ---------------------------------------------------------------------------------

_DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DOW_ITEM = re.compile(r"^(\*|[a-z0-9]+)(?:-([a-z0-9]+))?(?:/(\d+))?$")


def _dow_value(token: str) -> int:
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token) % 7
    if token[:3] in _DOW_NAMES:
        return _DOW_NAMES.index(token[:3])
    raise ValueError(f"bad day of week {token!r}")


def _cron_dow(field: str) -> str:
    """A cron day-of-week field (0 or 7 = Sunday) as APScheduler names (where 0 is Monday)."""
    days: set[int] = set()
    for item in field.lower().split(","):
        m = _DOW_ITEM.match(item)
        if m is None:
            raise ValueError(f"bad day-of-week item {item!r}")
        first, last, step = m.group(1), m.group(2), int(m.group(3) or 1)
        if step < 1:
            raise ValueError("a step must be at least 1")
        if first == "*":
            lo, hi = 0, 6
        else:
            lo = _dow_value(first)
            hi = (7 if last == "7" else _dow_value(last)) if last else (lo if not m.group(3) else 6)
        if hi < lo:
            raise ValueError(f"bad day-of-week range {item!r}")
        days.update(d % 7 for d in range(lo, hi + 1, step))
    if len(days) == 7:
        return "*"
    return ",".join(_DOW_NAMES[d] for d in sorted(days))


def parse_schedule(cron: str, tz: str) -> CronTrigger | None:
    """The trigger of a crontab in a time zone; None for ``off``. Raises ValidationError."""
    if cron.strip().lower() in ("off", "none", "disabled", "false", ""):
        return None
    try:
        zone: tzinfo = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValidationError(
            f"unknown time zone {tz!r} (use an IANA name such as Europe/Berlin)",
            field="AUDIT_TRAIL_CLEANUP_TZ",
        ) from e
    fields = cron.split()
    try:
        if len(fields) == 5:
            fields = ["0", *fields]
        if len(fields) != 6:
            raise ValueError(f"expected 5 fields (or 6 with seconds first), got {len(fields)}")
        second, minute, hour, day, month, dow = fields
        return CronTrigger(
            second=second,
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_cron_dow(dow),
            timezone=zone,
        )
    except ValueError as e:
        raise ValidationError(
            f"is not a valid crontab ({e}); e.g. '0 2 * * *', or 'off'",
            field="AUDIT_TRAIL_CLEANUP_CRON",
        ) from e


def next_fire_times(trigger: CronTrigger, after: datetime, count: int = 1) -> list[datetime]:
    """The next ``count`` fire times strictly after ``after`` (in the schedule's zone)."""
    out: list[datetime] = []
    t = after.astimezone(UTC)  # step in UTC: wall-clock arithmetic breaks across DST
    while len(out) < count:
        nxt = trigger.get_next_fire_time(None, t + _EPSILON)
        if nxt is None:
            break
        out.append(nxt)
        t = nxt.astimezone(UTC)
    return out


def latest_fire_time(trigger: CronTrigger, now: datetime) -> datetime:
    """The latest fire time at or before ``now``: the tick a job running at ``now`` belongs to."""
    now_utc = now.astimezone(UTC)
    span = timedelta(seconds=1)
    while span < timedelta(days=800):
        first = trigger.get_next_fire_time(None, now_utc - span)
        if first is not None and first <= now_utc:
            latest: datetime = first
            while True:
                nxt = trigger.get_next_fire_time(None, latest.astimezone(UTC) + _EPSILON)
                if nxt is None or nxt > now_utc:
                    return latest
                latest = nxt
        span *= 2
    return now.astimezone(trigger.timezone)


_EPSILON = timedelta(microseconds=1)


class CleanupScheduler:
    """The running schedule; ``shutdown()`` stops it (waiting for a run in progress)."""

    def __init__(self, store: Store, trigger: CronTrigger, days: float | None = None) -> None:
        self.store = store
        self.trigger = trigger
        self.days = days
        #: the last few ticks and their outcomes (None: skipped, or failed)
        self.results: list[tuple[datetime, CleanupResult | None]] = []
        self._last: dict[str, Any] | None = None  # the last tick handled in this process
        self._scheduler = BackgroundScheduler(
            timezone=trigger.timezone,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        )
        self._scheduler.add_job(self.fire, trigger, id=JOB_ID, name="llmtrail retention cleanup")

    def start(self) -> None:
        self._scheduler.start()
        log.info("cleanup scheduled: next run at %s", self.next_run_time)

    @property
    def next_run_time(self) -> datetime | None:
        job = self._scheduler.get_job(JOB_ID)
        return job.next_run_time if job is not None else None

    def fire(self) -> CleanupResult | None:
        """The job: run the tick that is due now (on at most one replica)."""
        tick = latest_fire_time(self.trigger, datetime.now(UTC))
        result: CleanupResult | None = None
        if self._last is not None and tick_done(self._last, tick):
            log.info("cleanup tick %s: already done here; skipped", tick.isoformat())
        else:
            try:
                result = run_tick(self.store, tick, self.days)
                self._last = tick_record(tick)
            except Exception:
                log.exception("scheduled cleanup of tick %s failed", tick.isoformat())
        self.results = [*self.results[-19:], (tick, result)]
        return result

    def shutdown(self, wait: bool = True) -> None:
        """Stop the schedule; a cleanup in progress stops after its current batch (the next
        run deletes the rest), so shutting down never waits for a long purge."""
        _LAST.forget(self.store)
        if not self._scheduler.running:
            return
        sql = _sql_store(self.store)
        stop = None
        if sql is not None:
            from llmtrail.store.sql.cleanup import stop_event

            stop = stop_event(sql.engine)
            stop.set()
        try:
            self._scheduler.shutdown(wait=wait)
        finally:
            if stop is not None:
                stop.clear()


def start_scheduler(store: Store, settings: Settings) -> CleanupScheduler | None:
    """Start the built-in schedule (``llmtrail serve`` calls this); None when it is ``off``."""
    trigger = parse_schedule(settings.cleanup_cron, settings.cleanup_tz)
    _LAST.watch(store)  # /metrics shows the last run of any replica (or of a cron job)
    if trigger is None:
        log.info("built-in cleanup schedule is off (AUDIT_TRAIL_CLEANUP_CRON=off)")
        return None
    sched = CleanupScheduler(store, trigger)
    sched.start()
    return sched


# -- /metrics: the last run, shared by replicas ---------------------------------------------------


class _LastRun:
    """The newest known cleanup run: this process's, or another replica's from ``store_state``.

    The ``CLEANUP_LAST_*`` gauges read it at scrape time (cached for ``ttl`` seconds).
    """

    def __init__(self, ttl: float = 10.0) -> None:
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
                sql = _sql_store(store)
                if sql is not None:
                    try:
                        from llmtrail.store.sql.cleanup import read_state

                        value = read_state(sql.engine, LAST_RUN_KEY)
                        self._shared = value if isinstance(value, dict) else None
                    except Exception as e:
                        log.debug("could not read the last cleanup run: %s", e)
            runs = [r for r in (self._local, self._shared) if r]
            return max(runs, key=lambda r: _parse(r.get("finishedAt"))) if runs else None

    def value(self, key: str) -> Callable[[], float]:
        def get() -> float:
            run = self.newest()
            if run is None:
                return 0.0
            if key == "finishedAt":
                return _parse(run.get(key)).timestamp()
            return float(run.get(key) or 0)

        return get


_LAST = _LastRun()
metrics.CLEANUP_LAST_RUN.set_function(_LAST.value("finishedAt"))
metrics.CLEANUP_LAST_DURATION.set_function(_LAST.value("durationSeconds"))
metrics.CLEANUP_LAST_DELETED.set_function(_LAST.value("deletedCount"))


__all__ = [
    "CleanupResult",
    "CleanupScheduler",
    "latest_fire_time",
    "next_fire_times",
    "parse_schedule",
    "run_cleanup",
    "run_tick",
    "start_scheduler",
]
