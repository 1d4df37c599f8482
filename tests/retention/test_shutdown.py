"""Shutting a server down never waits for a long purge: the cleanup stops after its batch."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import llmtrail
from llmtrail.config import load_settings
from llmtrail.retention import start_scheduler
from tests.retention.conftest import count, seed_old


def poll(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"not true within {timeout} s")


def test_shutdown_stops_a_running_cleanup_after_its_batch(db_url: str) -> None:
    settings = load_settings(cleanup_batch_size=10, cleanup_cron="* * * * * *")
    store = llmtrail.open_store(db_url, settings=settings)
    try:
        seed_old(store, 10_000)  # 1,000 batches of 10: far longer than the test waits
        sched = start_scheduler(store, settings)
        assert sched is not None
        poll(lambda: count(store) < 9_950)  # a scheduled run is deleting
        t0 = time.monotonic()
        sched.shutdown()
        assert time.monotonic() - t0 < 5
        left = count(store)
        assert 0 < left < 9_950
        time.sleep(0.3)
        assert count(store) == left  # nothing deletes any more
        # the store is usable afterwards, and a later cleanup finishes the job
        with llmtrail.open_store(db_url) as other:  # default batch size: quick
            assert other.cleanup(7) == left
    finally:
        store.close()
