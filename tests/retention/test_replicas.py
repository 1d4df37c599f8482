"""Several server processes on one database: each scheduled tick's cleanup runs exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import llmtrail
from llmtrail import Store
from llmtrail.retention import parse_schedule, run_tick
from llmtrail.retention.schedule import tick_record
from tests.retention.conftest import count, seed_old

WORKER = Path(__file__).with_name("_worker.py")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = llmtrail.open_store(db_url)
    yield s
    s.close()


def worker(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_line(p: subprocess.Popen[str]) -> str:
    assert p.stdout is not None
    line = p.stdout.readline()
    if not line:
        p.wait(timeout=30)
        raise AssertionError(f"worker exited {p.returncode}: {p.stderr.read() if p.stderr else ''}")
    return line.strip()


# -- in one process: the tick bookkeeping -------------------------------------------------------


def test_a_tick_runs_once_then_the_next_tick_runs(store: Store) -> None:
    seed_old(store, 3)
    tick = datetime(2026, 1, 10, 2, tzinfo=UTC)
    first = run_tick(store, tick)
    assert first is not None and first.deleted_count == 3
    assert run_tick(store, tick) is None  # the same tick again: already done
    assert run_tick(store, tick - timedelta(days=1)) is None  # an older tick: covered
    seed_old(store, 2, project="proj-2")
    later = run_tick(store, tick + timedelta(days=1))
    assert later is not None and later.deleted_count == 2
    record = store.state.read("cleanup.tick")
    assert record["tick"] == (tick + timedelta(days=1)).isoformat()
    last = store.state.read("cleanup.last_run")
    assert last["deletedCount"] == 2 and last["backend"] == store.backend


def test_a_tick_another_process_claimed_is_skipped(store: Store) -> None:
    """Another replica claimed this tick (it is running it): this one skips, the next runs."""
    seed_old(store, 4)
    tick = datetime(2026, 1, 10, 2, tzinfo=UTC)
    store.state.write("cleanup.tick", {**tick_record(tick), "by": "other"})
    assert run_tick(store, tick) is None
    assert count(store) == 4
    done = run_tick(store, tick + timedelta(days=1))
    assert done is not None and done.deleted_count == 4


def test_a_claimed_tick_holds_no_lock_while_it_runs(store: Store, db_url: str) -> None:
    """Nothing spans transactions (transaction-mode poolers): a claim is one write."""
    tick = datetime(2026, 1, 10, 2, tzinfo=UTC)
    claims = []

    def claim(current: object) -> object:
        claims.append(current)
        return tick_record(tick)

    assert store.state.claim("test.claim", claim)
    assert claims == [{}]
    assert not store.state.claim("test.claim", lambda current: None)
    assert store.state.read("test.claim") == tick_record(tick)


# -- in several processes ------------------------------------------------------------------------


def test_two_processes_at_the_same_tick_exactly_one_deletes(store: Store, db_url: str) -> None:
    seed_old(store, 6_000)  # 12 batches of 500: the runs overlap when both start together
    tick = datetime.now(UTC).replace(microsecond=0).isoformat()
    procs = [worker("tick", db_url, tick) for _ in range(2)]
    try:
        assert [read_line(p) for p in procs] == ["ready", "ready"]
        for p in procs:  # both go at the same moment
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        results = [json.loads(read_line(p))["result"] for p in procs]
        for p in procs:
            assert p.wait(timeout=60) == 0
    finally:
        for p in procs:
            p.kill() if p.poll() is None else None
    ran = [r for r in results if r is not None]
    assert ran == [{"deletedCount": 6_000, "backend": store.backend}], results
    assert count(store) == 0
    # a third replica arriving after both finished does not repeat the tick either
    late = worker("tick", db_url, tick)
    assert read_line(late) == "ready"
    assert late.stdin is not None
    late.stdin.write("go\n")
    late.stdin.flush()
    assert json.loads(read_line(late))["result"] is None
    assert late.wait(timeout=60) == 0


@pytest.mark.slow
def test_two_real_schedulers_run_each_tick_once(store: Store, db_url: str) -> None:
    seed_old(store, 3_000)
    cron, tz = "*/2 * * * * *", "Europe/Berlin"  # every two seconds, in both processes
    assert parse_schedule(cron, tz) is not None
    procs = [worker("schedule", db_url, cron, tz, "3") for _ in range(2)]
    outcomes: dict[str, list[Any]] = defaultdict(list)
    try:
        assert [read_line(p) for p in procs] == ["ready", "ready"]
        for p in procs:  # both schedulers start together, so they share their ticks
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in procs:
            for _ in range(3):
                line = json.loads(read_line(p))
                outcomes[line["tick"]].append(line["result"])
        for p in procs:
            assert p.wait(timeout=60) == 0, p.stderr.read() if p.stderr else ""
    finally:
        for p in procs:
            p.kill() if p.poll() is None else None
    # every tick that both processes saw was run by exactly one of them
    shared = {t: rs for t, rs in outcomes.items() if len(rs) == 2}
    assert shared, outcomes
    for tick, rs in shared.items():
        assert sum(r is not None for r in rs) == 1, (tick, rs)
    deleted = [r["deletedCount"] for rs in outcomes.values() for r in rs if r is not None]
    assert sorted(deleted, reverse=True)[0] == 3_000 and sum(deleted) == 3_000
    assert count(store) == 0
