"""Usage increments and their folding (store/sql/usage.py) keep analytics exact at every instant.

On PostgreSQL every write appends its usage increment to ``usage_deltas``; folders (any
process, ``SKIP LOCKED``) move them into ``usage_rollups``. Analytics read both in one
snapshot, so whatever has been folded, a read equals a brute-force sum over the trails.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

import llmtrail
from llmtrail import Store
from llmtrail.analytics import Usage, make_window
from llmtrail.config import load_settings
from llmtrail.store.base import Store as BaseStore
from llmtrail.store.sql import usage
from llmtrail.store.sql.schema import usage_deltas, usage_rollups

T0 = datetime(2026, 11, 20, 23, 50, tzinfo=UTC)
MODELS = ("gpt-4o", "claude-sonnet-4-5", "m" * 40)


@pytest.fixture
def store(pg_url: str) -> Iterator[Store]:
    # no background folder: the tests fold when they choose to
    s = llmtrail.open_store(pg_url, settings=load_settings(usage_fold_seconds=0))
    yield s
    s.close()


def analytics_are_exact(store: Store, project: str) -> None:
    """Per (local day, model), in two zones: the aggregates equal a brute-force sum."""
    for tz in ("UTC", "Asia/Kolkata"):
        window = make_window(T0, since=T0 - timedelta(days=3), until=T0 + timedelta(days=3), tz=tz)
        got = sorted(store._usage(project, window), key=_key)  # type: ignore[attr-defined]
        want = sorted(BaseStore._usage(store, project, window), key=_key)
        assert got == want


def _key(u: Usage) -> tuple[Any, ...]:
    return (u.day, u.model)


def pending(store: Store, project: str | None = None) -> int:
    q = select(func.count()).select_from(usage_deltas)
    if project is not None:
        q = q.where(usage_deltas.c.project_id == project)
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        return int(conn.execute(q).scalar_one())


write = st.tuples(
    st.just("write"),
    st.integers(0, len(MODELS) - 1),
    st.integers(-2880, 2880),  # minutes from T0: buckets and days on both sides
    st.integers(0, 10**9),
    st.decimals(0, 10**6, places=9),
)
complete = st.tuples(st.just("complete"), st.integers(0, 50), st.integers(0, 10**6))
fold = st.tuples(st.just("fold"), st.integers(1, 4))
ops = st.lists(st.one_of(write, write, complete, fold), min_size=1, max_size=25)


@pytest.mark.postgres
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=ops)
def test_analytics_equal_a_brute_force_sum_after_every_write_and_partial_fold(
    store: Store, ops: list[tuple[Any, ...]]
) -> None:
    project = f"p-{uuid.uuid4().hex[:12]}"
    store.create_project(project)
    ids: list[str] = []
    for op in ops:
        if op[0] == "write":
            _, model, minutes, prompt, cost = op
            mid = f"{project}-{len(ids)}"
            store.store(
                {
                    "messageId": mid,
                    "model": MODELS[model],
                    "timestamp": (T0 + timedelta(minutes=minutes)).isoformat(),
                    "tokens": {"prompt": prompt, "completion": 1},
                    "cost": {"prompt": str(cost), "completion": "0"},
                    "status": "pending",
                },
                project_id=project,
            )
            ids.append(mid)
        elif op[0] == "complete" and ids:
            _, which, completion = op
            store.update(
                ids[which % len(ids)],
                tokens={"completion": completion},
                cost={"completion": "0.000000001"},
                status="completed",
            )
        elif op[0] == "fold":
            usage.fold(store.engine, batch=op[1], limit=op[1])  # type: ignore[attr-defined]
        analytics_are_exact(store, project)
    store.fold_usage()
    assert pending(store, project) == 0
    analytics_are_exact(store, project)


@pytest.mark.postgres
def test_reads_stay_exact_while_another_thread_folds_one_increment_at_a_time(
    store: Store,
) -> None:
    store.create_project("p1")
    stop = threading.Event()
    folded: list[int] = []

    def folder() -> None:
        while not stop.is_set():
            folded.append(usage.fold(store.engine, batch=1, limit=1))  # type: ignore[attr-defined]

    t = threading.Thread(target=folder)
    t.start()
    try:
        for i in range(60):
            ts = T0 + timedelta(minutes=37 * i)
            store.create_placeholder(f"m{i}", MODELS[i % 3], 1, project_id="p1", timestamp=ts)
            store.update(f"m{i}", tokens={"prompt": i, "completion": 2}, cost={"prompt": "0.001"})
            analytics_are_exact(store, "p1")
    finally:
        stop.set()
        t.join()
    assert sum(folded) > 0  # the folder did run between the reads
    analytics_are_exact(store, "p1")


@pytest.mark.postgres
def test_writer_threads_and_the_background_folder_lose_nothing(pg_url: str) -> None:
    store = llmtrail.open_store(pg_url, settings=load_settings(usage_fold_seconds=0.01))
    store.create_project("p1")

    def writer(n: int) -> None:
        for i in range(40):
            mid = f"w{n}-{i}"
            store.create_placeholder(mid, "gpt-4o", 2, project_id="p1", timestamp=T0)
            store.update(mid, tokens={"prompt": 10, "completion": 5}, cost={"prompt": "0.0001"})

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    analytics_are_exact(store, "p1")
    store.close()  # stops the folder after a last fold: nothing this process wrote is pending
    store = llmtrail.open_store(pg_url, settings=load_settings(usage_fold_seconds=0))
    try:
        assert pending(store) == 0
        with store.engine.connect() as conn:  # type: ignore[attr-defined]
            row = conn.execute(select(usage_rollups)).mappings().one()
        assert (row["messages"], row["total_tokens"]) == (320, 320 * 15)
        assert row["cost_total"] == Decimal("0.032")
        analytics_are_exact(store, "p1")
    finally:
        store.close()


@pytest.mark.postgres
def test_deleting_a_project_drops_its_pending_increments(store: Store) -> None:
    for p in ("gone", "kept"):
        store.create_project(p)
        store.create_placeholder(f"{p}-1", "gpt-4o", 1, project_id=p, timestamp=T0)
    assert pending(store, "gone") == 1
    store.delete_project("gone")
    assert pending(store, "gone") == 0
    assert pending(store, "kept") == 1
    assert store.fold_usage() == 1
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        projects = set(conn.execute(select(usage_rollups.c.project_id)).scalars())
    assert projects == {"kept"}
