"""The dual-mode replayer: applies the outbox to the target, oldest first, with backoff.

One replayer runs per outbox file (a lock file keeps a second process out). It applies runs
of trail snapshots as one batch and other operations one by one, each under the same
per-trail locks the writers use, and deletes an entry only after the target has it. An
outage (the target unreachable) stops the pass and backs off exponentially from 0.5 s to
30 s; an entry that fails for another reason is retried with the same backoff and moved to
the outbox's ``dead`` table after a few attempts, so one bad entry cannot stall the rest.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from llmtrail.errors import AuditTrailError, NotFoundError, UnavailableError
from llmtrail.metrics import DUAL_BACKLOG, DUAL_REPLAYED
from llmtrail.model import ApiKey, Project, parse_trail
from llmtrail.model.rules import Errors, budget, timestamp
from llmtrail.store.base import Clock, Store
from llmtrail.store.outbox import Entry, Outbox
from llmtrail.store.replicate import put_trails

log = logging.getLogger("llmtrail.store.dual")
MAX_ATTEMPTS = 8  # failures (not outages) before an entry goes to the dead table
MAX_BACKOFF = 30.0


class Replayer:
    """Replays an outbox into a target store, on a daemon thread or on demand."""

    def __init__(
        self,
        outbox: Outbox,
        target: Callable[[], Store],
        lock_for: Callable[[Sequence[str]], AbstractContextManager[None]],
        *,
        clock: Clock,
        interval: float = 2.0,
    ) -> None:
        self.outbox = outbox
        self.interval = interval
        self._target = target
        self._lock_for = lock_for
        self.clock = clock
        self._replay_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._failures = 0
        self._retry_at = 0.0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Run the replayer on a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="llmtrail-dual", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (waits for a pass in progress)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def wake(self) -> None:
        """Ask for a pass soon (unless backing off after a failure)."""
        if self.healthy():
            self._wake.set()

    def healthy(self) -> bool:
        """False while backing off after a target failure."""
        return time.monotonic() >= self._retry_at

    def update_backlog(self) -> int:
        """The backlog, also published as ``llmtrail_dual_outbox_backlog``."""
        n = self.outbox.pending()
        DUAL_BACKLOG.set(n)
        return n

    def note_failure(self) -> None:
        """Back off: the next pass waits 0.5 s, doubling per failure, up to 30 s."""
        self._failures += 1
        delay = min(0.5 * 2 ** (self._failures - 1), MAX_BACKOFF)
        self._retry_at = time.monotonic() + delay

    def replay(self, limit: int | None = None) -> bool:
        """Apply recorded operations to the target, oldest first; True when the outbox is empty
        (or another process is replaying), False when the target is still failing."""
        with self._replay_lock, self.outbox.replaying() as mine:
            if not mine:
                return True
            try:
                self._target()  # opening it may fail too: that is an outage, not the entries'
            except Exception as e:
                log.warning(
                    "dual: target unavailable (%s), backlog=%d", describe(e), self.outbox.pending()
                )
                self.note_failure()
                return False
            applied = 0
            while limit is None or applied < limit:
                entries = self.outbox.head(500)
                if not entries:
                    break
                ok, n = self._apply_entries(entries)
                applied += n
                if not ok or n == 0:  # an outage, or only entries that keep failing: back off
                    if ok:
                        self.note_failure()
                    self.update_backlog()
                    return False
            backlog = self.update_backlog()
            if applied:
                log.info("dual: replayed %d operations to the target, backlog=%d", applied, backlog)
                if backlog == 0:
                    log.info("dual: outbox drained, the target is up to date")
            self._failures = 0
            self._retry_at = 0.0
            return backlog == 0

    def _apply_entries(self, entries: list[Entry]) -> tuple[bool, int]:
        done = 0
        i = 0
        while i < len(entries):
            j = i + 1
            if entries[i].kind == "trail":
                while j < len(entries) and entries[j].kind == "trail":
                    j += 1
            group = entries[i:j]
            try:
                with self._lock_for([e.key for e in group if e.kind == "trail"]):
                    self._apply(group)
                    self.outbox.done([e.seq for e in group])
            except Exception as e:
                if _is_outage(e):
                    log.warning(
                        "dual: target still unavailable (%s), backlog=%d",
                        describe(e),
                        self.outbox.pending(),
                    )
                    self.note_failure()
                    return False, done
                if len(group) > 1:  # find the one bad entry: apply them one by one
                    for entry in group:
                        ok, n = self._apply_entries([entry])
                        done += n
                        if not ok:
                            return False, done
                else:
                    self._give_up_maybe(group[0], e)
                i = j
                continue
            done += len(group)
            DUAL_REPLAYED.inc(len(group))
            i = j
        return True, done

    def _give_up_maybe(self, entry: Entry, e: Exception) -> None:
        attempts = self.outbox.failed(entry.seq, describe(e))
        if attempts >= MAX_ATTEMPTS:
            self.outbox.bury(entry.seq)
            log.error(
                "dual: gave up on %s %s after %d attempts (%s); see the outbox's dead table",
                entry.kind,
                entry.key,
                attempts,
                describe(e),
            )
        else:
            log.warning("dual: %s %s failed on the target: %s", entry.kind, entry.key, e)

    def _apply(self, group: list[Entry]) -> None:
        target = self._target()
        kind = group[0].kind
        if kind == "trail":
            now = self.clock()
            trails = [parse_trail(e.payload, None, now=now, trusted=True).trail for e in group]
            put_trails(target, trails)
            return
        (entry,) = group
        p = entry.payload
        if kind == "project":
            target.put_project(_project(p))
        elif kind == "delete_project":
            with contextlib.suppress(NotFoundError):
                target.delete_project(p["id"])
        elif kind == "key":
            target.put_key(_key(p), p["keyHash"])
        else:
            raise AuditTrailError(f"unknown outbox operation {kind!r}")

    def _run(self) -> None:
        delay = 0.0
        while not self._stop.is_set():
            self._wake.wait(delay)
            self._wake.clear()
            if self._stop.is_set():
                return
            wait = self._retry_at - time.monotonic()
            if wait > 0:
                delay = wait
                continue
            try:
                drained = self.replay() if self.outbox.has_pending() else True
            except Exception:  # never let the replayer die
                log.exception("dual: replay failed")
                self.note_failure()
                drained = False
            delay = self.interval if drained else max(self._retry_at - time.monotonic(), 0.05)


def _is_outage(e: BaseException) -> bool:
    """A failure to wait out (the target is unreachable), as opposed to one an entry causes."""
    from sqlalchemy import exc

    return isinstance(
        e,
        UnavailableError
        | OSError
        | exc.OperationalError
        | exc.InterfaceError
        | exc.TimeoutError
        | exc.DisconnectionError,
    )


def describe(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text[:200]}" if text else type(e).__name__


def _when(value: Any) -> datetime | None:
    return None if value is None else timestamp(Errors(), "at", value)


def _project(p: dict[str, Any]) -> Project:
    return Project(
        p["id"],
        p["name"],
        p.get("retentionDays"),
        _when(p.get("createdAt")),
        p.get("contentRetentionDays"),
        bool(p.get("legalHold", False)),
        budget(Errors(), "budget", p.get("budget")),
    )


def _key(p: dict[str, Any]) -> ApiKey:
    created = _when(p["createdAt"])
    assert created is not None
    return ApiKey(p["id"], p["projectId"], p["prefix"], created, _when(p.get("revokedAt")))
