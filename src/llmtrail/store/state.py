"""Shared state: small JSON facts every process using one database agrees on.

The retention scheduler keeps the last tick it claimed and the last cleanup run here, so
replicas run each tick once and every replica's ``/metrics`` shows the newest run. A store's
``state`` implements ``SharedState``: in process memory for the memory backend (one process
by definition), in the ``store_state`` table for the SQL backends (``sql/state.py``).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any, Protocol


class SharedState(Protocol):
    """Keyed JSON values, an atomic claim, and the stop signal of this process's cleanups."""

    #: set: cleanups of this process stop after their current batch (a server shutting down)
    stop: threading.Event

    def read(self, key: str) -> Any:
        """The value under ``key``, or None."""

    def write(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key``."""

    def claim(self, key: str, decide: Callable[[Any], Any | None]) -> bool:
        """Atomically replace the value by ``decide(current)`` unless it returns None; whether
        it did. Of several processes claiming at once, exactly one sees each value."""


class LocalState:
    """``SharedState`` in this process's memory."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self._values: dict[str, Any] = {}
        self._lock = threading.Lock()

    def read(self, key: str) -> Any:
        with self._lock:
            return copy.deepcopy(self._values.get(key))

    def write(self, key: str, value: Any) -> None:
        with self._lock:
            self._values[key] = copy.deepcopy(value)

    def claim(self, key: str, decide: Callable[[Any], Any | None]) -> bool:
        with self._lock:
            new = decide(copy.deepcopy(self._values.get(key, {})))
            if new is None:
                return False
            self._values[key] = new
            return True
