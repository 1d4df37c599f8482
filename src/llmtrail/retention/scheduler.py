"""The built-in scheduler of ``llmtrail serve`` (APScheduler, a cron trigger in a time zone)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from llmtrail.config import Settings
from llmtrail.retention.runs import LAST_RUN, CleanupResult, run_tick
from llmtrail.retention.schedule import latest_fire_time, parse_schedule, tick_done, tick_record
from llmtrail.store.base import Store

log = logging.getLogger("llmtrail.retention")
JOB_ID = "llmtrail-cleanup"


class CleanupScheduler:
    """The running schedule; ``shutdown()`` stops it (a run in progress stops after its batch)."""

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
        LAST_RUN.forget(self.store)
        if not self._scheduler.running:
            return
        stop = self.store.state.stop
        stop.set()
        try:
            self._scheduler.shutdown(wait=wait)
        finally:
            stop.clear()


def start_scheduler(store: Store, settings: Settings) -> CleanupScheduler | None:
    """Start the built-in schedule (``llmtrail serve`` calls this); None when it is ``off``."""
    trigger = parse_schedule(settings.cleanup_cron, settings.cleanup_tz)
    LAST_RUN.watch(store)  # /metrics shows the last run of any replica (or of a cron job)
    if trigger is None:
        log.info("built-in cleanup schedule is off (AUDIT_TRAIL_CLEANUP_CRON=off)")
        return None
    sched = CleanupScheduler(store, trigger)
    sched.start()
    return sched
