"""Retention: cleanup runs, the schedule, and the once-across-replicas guarantee.

- ``run_cleanup(store, days, dry_run=…)`` runs one cleanup (the CLI, the admin route and the
  scheduler all go through it): it times the run, logs it, updates the ``CLEANUP_*`` metrics
  and records the run in the database's ``store_state`` so every replica's ``/metrics`` shows it.
- ``start_scheduler(store, settings)`` starts an APScheduler ``BackgroundScheduler`` firing on
  ``AUDIT_TRAIL_CLEANUP_CRON`` in ``AUDIT_TRAIL_CLEANUP_TZ`` (``off`` disables it).
- ``run_tick(store, tick)`` is what each tick does. Several server processes sharing one
  database each fire at the same tick; exactly one cleans up: the one that claims the tick in
  ``store_state`` (one transaction with the row locked, no lock held while it runs, so it also
  works through transaction-mode poolers) — a replica whose clock or start is a little late
  sees the tick claimed and does not repeat it.

The crontab is the standard five fields (minute hour day-of-month month day-of-week, with
day-of-week 0 or 7 = Sunday as in cron), or six with seconds first.
"""

from __future__ import annotations

from llmtrail.retention.runs import CleanupResult, run_cleanup, run_tick
from llmtrail.retention.schedule import (
    latest_fire_time,
    next_fire_times,
    parse_schedule,
    tick_done,
    tick_record,
)
from llmtrail.retention.scheduler import CleanupScheduler, start_scheduler

__all__ = [
    "CleanupResult",
    "CleanupScheduler",
    "latest_fire_time",
    "next_fire_times",
    "parse_schedule",
    "run_cleanup",
    "run_tick",
    "start_scheduler",
    "tick_done",
    "tick_record",
]
