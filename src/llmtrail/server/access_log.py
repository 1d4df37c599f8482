"""The access log's writer (SPEC §10): reads are noted in memory and written in batches.

A read answers without waiting for its log entry: ``note`` appends to a buffer, and a thread
writes the buffer with one ``store.record_reads`` every ``interval`` seconds (or as soon as
``batch`` entries are waiting). ``stop`` — the server's shutdown — writes what is left, so a
clean shutdown loses nothing; a crash loses at most the last ``interval`` of entries.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from llmtrail.model import AccessEntry
from llmtrail.store import Store

log = logging.getLogger("llmtrail.server.access_log")
_CONVERTOR = re.compile(r"\{(\w+):\w+\}")
MAX_BUFFERED = 100_000  # beyond it (the database down for long) the oldest entries are dropped


class AccessLogWriter:
    """Batches access-log entries into the store, off the requests' critical path."""

    def __init__(self, store: Store, *, interval: float = 0.5, batch: int = 500) -> None:
        self.store = store
        self.interval = interval
        self.batch = batch
        self._buffer: list[AccessEntry] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def note(self, entry: AccessEntry) -> None:
        with self._lock:
            self._buffer.append(entry)
            if len(self._buffer) > MAX_BUFFERED:
                del self._buffer[: len(self._buffer) - MAX_BUFFERED]
                self.dropped += 1
            full = len(self._buffer) >= self.batch
        if full:
            self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="llmtrail-access-log", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write every entry noted so far (the server is shutting down)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.flush()

    def flush(self) -> int:
        with self._lock:
            pending, self._buffer = self._buffer, []
        if not pending:
            return 0
        try:
            self.store.record_reads(pending)
        except Exception as e:  # kept for the next try; reads go on meanwhile
            log.warning("could not write %d access-log entries (will retry): %s", len(pending), e)
            with self._lock:
                self._buffer[:0] = pending
            return 0
        return len(pending)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            self.flush()


def note_read(request: Request, project_id: str, items: int) -> None:
    """Log that this request read ``items`` of ``project_id``'s records (if a writer runs)."""
    later_note(request)(project_id, items)


def later_note(request: Request) -> Callable[[str, int], None]:
    """A function that logs a read of this request once its count is known (a streamed
    export knows it at its end); safe to call from any thread."""
    writer: AccessLogWriter | None = getattr(request.app.state, "access_log", None)
    route: Any = request.scope.get("route")
    name = route_name(getattr(route, "path", None) or request.url.path)
    key_id = getattr(request.state, "key_id", None) or "unknown"
    at = datetime.now(UTC)

    def note(project_id: str, items: int) -> None:
        if writer is not None:
            writer.note(AccessEntry(at, project_id, key_id, name, items))

    return note


def route_name(path: str) -> str:
    """``GET`` and the route's template as the API documents it (no path convertors)."""
    return "GET " + _CONVERTOR.sub(r"{\1}", path)
