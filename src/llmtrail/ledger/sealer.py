"""The periodic sealer of ``llmtrail serve`` (every ``AUDIT_TRAIL_SEAL_SECONDS``).

A daemon thread that seals, waits, seals again; on a clean shutdown it seals once more, so a
stopped server leaves nothing of its own unsealed. Replicas may all run one: a seal that finds
another in progress returns at once (see ``store/sql/ledger.py``)."""

from __future__ import annotations

import logging
import threading

from llmtrail.errors import AuditTrailError
from llmtrail.store.base import Store

log = logging.getLogger("llmtrail.ledger")


class PeriodicSealer:
    def __init__(self, store: Store, seconds: float) -> None:
        self.store = store
        self.seconds = seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.seconds <= 0 or not self.store.keeps_ledger:
            return
        try:
            key = self.store.signer  # load (or generate) it now: a new key file is logged
        except (OSError, AuditTrailError) as e:
            # e.g. a read-only file system and no AUDIT_TRAIL_SIGNING_KEY: serve anyway (every
            # write still appends its entry; the first seal that has a key covers them)
            log.error("ledger sealing is off: no signing key (%s); set AUDIT_TRAIL_SIGNING_KEY", e)
            return
        self._thread = threading.Thread(target=self._run, name="llmtrail-sealer", daemon=True)
        self._thread.start()
        log.info("ledger sealing every %s s (key %s)", self.seconds, key.key_id)

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            self.seal_once()

    def seal_once(self) -> int:
        """Seal now; errors are logged (the next seal covers what this one missed)."""
        try:
            return self.store.seal().entries
        except Exception as e:
            log.warning("sealing the ledger failed (will retry): %s", e)
            return 0

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=30)
        self._thread = None
        self.seal_once()
