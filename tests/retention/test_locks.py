"""PostgreSQL: cleanup never waits on rows another transaction holds, and never stops early
because of them (batches take their rows FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import time

import psycopg

import llmtrail
from llmtrail.config import load_settings
from tests.retention.conftest import count, seed_old


def test_a_locked_expired_row_neither_blocks_nor_stops_the_cleanup(pg_url: str) -> None:
    store = llmtrail.open_store(pg_url, settings=load_settings(cleanup_batch_size=7))
    try:
        seed_old(store, 30)  # old-proj-1-0 is the newest, old-proj-1-29 the oldest
        with psycopg.connect(pg_url) as holder:  # e.g. an update in progress on two trails
            holder.execute(
                "SELECT id FROM audit_trails WHERE message_id IN (%s, %s) FOR UPDATE",
                ("old-proj-1-29", "old-proj-1-12"),
            )
            t0 = time.monotonic()
            assert store.cleanup(7) == 28
            assert time.monotonic() - t0 < 10
            assert count(store) == 2
            holder.rollback()
        assert store.cleanup(7) == 2  # the next run takes them
        assert count(store) == 0
    finally:
        store.close()
