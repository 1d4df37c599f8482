"""A change counter shared by the worker processes of one ``llmtrail serve --workers N``.

Each worker caches looked-up project keys. When one worker revokes a key or deletes a project,
it bumps the counter; every worker compares the counter with the value it last saw before it
trusts its cache, so the change applies at once in all of them. The counter is 8 bytes of a
small file mapped into every worker's memory (``mmap``): reading it costs a memory load, no
system call, and an aligned 8-byte store is atomic on every platform CPython runs on.
"""

from __future__ import annotations

import mmap
import os
import tempfile
import time
from pathlib import Path

_SIZE = 8


def create_epoch_file() -> Path:
    """A new counter file (for ``serve`` to hand to its workers); the caller removes it."""
    fd, name = tempfile.mkstemp(prefix="llmtrail-auth-epoch-")
    try:
        os.write(fd, bytes(_SIZE))
    finally:
        os.close(fd)
    return Path(name)


class SharedEpoch:
    """The counter in ``path``; ``changed()`` tells whether anyone bumped it since last asked."""

    def __init__(self, path: Path) -> None:
        with open(path, "r+b") as f:
            self._map = mmap.mmap(f.fileno(), _SIZE)
        self._seen = self.value()

    def value(self) -> int:
        return int.from_bytes(self._map[:_SIZE], "little")

    def bump(self) -> None:
        """Record a change (the new value differs from every earlier one)."""
        new = max(time.time_ns(), self.value() + 1)
        self._map[:_SIZE] = new.to_bytes(_SIZE, "little")

    def changed(self) -> bool:
        now = self.value()
        if now == self._seen:
            return False
        self._seen = now
        return True

    def close(self) -> None:
        self._map.close()
