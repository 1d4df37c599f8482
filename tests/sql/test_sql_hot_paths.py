"""The SQL store's hot paths (PostgreSQL: store/sql/pg_fast.py) keep the store's semantics.

Idempotent retries, conflicts, rollups kept equal to the trails, updates from several
processes (stale cached versions), batches through COPY, and buckets equal to Python's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any

import psycopg
import pytest

import llmtrail
from llmtrail import ConflictError, NotFoundError, Store
from llmtrail.model import AuditTrail
from llmtrail.store.sql.pg_fast import VersionCache
from llmtrail.store.sql.rows import bucket_of


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest) -> str:
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    s = llmtrail.open_store(url)
    yield s
    s.close()


def rollups_match_trails(store: Store) -> None:
    """The rollups plus the pending increments hold exactly the sums of the trails, per
    (project, bucket, model); after a fold, the rollups alone do and nothing is pending."""
    assert usage_sums(store, pending=True) == trail_sums(store)
    store.fold_usage()
    assert usage_sums(store, pending=False) == trail_sums(store)
    assert usage_sums(store, pending=True) == trail_sums(store)


_USAGE = ("prompt_tokens", "completion_tokens", "total_tokens")
_USAGE += ("cost_prompt", "cost_completion", "cost_total")


def trail_sums(store: Store) -> dict[tuple[Any, ...], list[Any]]:
    from sqlalchemy import select

    from llmtrail.store.sql.schema import audit_trails

    expected: dict[tuple[Any, ...], list[Any]] = {}
    with store.engine.connect() as conn, localcontext() as ctx:  # type: ignore[attr-defined]
        ctx.prec = 60  # exact sums
        for r in conn.execute(select(audit_trails)).mappings():
            key = (r["project_id"], bucket_of(r["timestamp"]), r["model"])
            acc = expected.setdefault(key, [0, 0, 0, 0, Decimal(0), Decimal(0), Decimal(0)])
            acc[0] += 1
            for i, col in enumerate(_USAGE, 1):
                acc[i] += r[col]
    return expected


def usage_sums(store: Store, *, pending: bool) -> dict[tuple[Any, ...], list[Any]]:
    """Sums per rollup key of usage_rollups (and, with ``pending``, of usage_deltas)."""
    from sqlalchemy import select

    from llmtrail.store.sql.schema import usage_deltas, usage_rollups

    got: dict[tuple[Any, ...], list[Any]] = {}
    with store.engine.connect() as conn, localcontext() as ctx:  # type: ignore[attr-defined]
        ctx.prec = 60
        for table in (usage_rollups, usage_deltas) if pending else (usage_rollups,):
            for r in conn.execute(select(table)).mappings():
                key = (r["project_id"], r["bucket"], r["model"])
                acc = got.setdefault(key, [0, 0, 0, 0, Decimal(0), Decimal(0), Decimal(0)])
                for i, col in enumerate(("messages", *_USAGE)):
                    acc[i] += r[col]
    zero = [0, 0, 0, 0, 0, 0, 0]
    return {k: v for k, v in got.items() if v != zero}


def trail(mid: str, **kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "messageId": mid,
        "model": "gpt-4o",
        "timestamp": "2026-11-30T10:07:00Z",
        "tokens": {"prompt": 100, "completion": 20},
        "cost": {"prompt": "0.00025", "completion": "0.0002"},
        "reasoning": ["step one", "step two"],
        "metadata": {"user": "u1", "turn": 3},
    }
    data.update(kw)
    return data


def test_lifecycle_keeps_rollups_and_returns_what_get_reads(store: Store) -> None:
    for i in range(5):
        placeholder = store.create_placeholder(f"m{i}", "gpt-4o", 2, project_id="p1")
        assert placeholder.status == "pending"
        done = store.update(
            f"m{i}",
            reasoning=["thought"],
            tokens={"prompt": 10 * i, "completion": 5},
            cost={"prompt": "0.0010", "completion": "0.00020"},
            status="completed",
        )
        assert done == store.get(f"m{i}")
        again = store.update(f"m{i}", metadata={"k": "v"})
        assert again == store.get(f"m{i}")
        assert again.reasoning == ["thought"] and again.cost == done.cost
    rollups_match_trails(store)


def test_batches_retry_idempotently_and_report_conflicts(store: Store) -> None:
    first = store.store_many([trail(f"b{i}") for i in range(50)], project_id="p1")
    assert all(not isinstance(o, Exception) and o.created for o in first)
    batch = [trail(f"b{i}") for i in range(45, 55)]  # 5 retries, 5 new
    batch.append(trail("b0", tokens={"prompt": 1, "completion": 1}))  # different content
    batch.append(trail("b60"))
    batch.append(trail("b60"))  # twice in one batch: the second is a retry
    out = store.store_many(batch, project_id="p1")
    created = [not isinstance(o, Exception) and o.created for o in out]
    assert created == [False] * 5 + [True] * 5 + [False, True, False]
    assert isinstance(out[10], ConflictError)
    assert store.get("b0") is not None and store.get("b0").tokens.prompt == 100  # type: ignore[union-attr]
    assert store.count_trails() == 56  # type: ignore[attr-defined]
    # new projects are created implicitly inside a batch, and a second batch reuses the path
    out = store.store_many([trail(f"c{i}", projectId=f"q{i % 3}") for i in range(9)])
    assert all(not isinstance(o, Exception) for o in out)
    assert {p.id for p in store.list_projects()} >= {"p1", "q0", "q1", "q2"}
    rollups_match_trails(store)


def test_a_project_deleted_elsewhere_is_recreated_by_the_next_write(url: str) -> None:
    a, b = llmtrail.open_store(url), llmtrail.open_store(url)
    try:
        a.store(trail("x1"), project_id="p1")
        b.delete_project("p1")  # a still believes p1 exists
        a.store(trail("x2"), project_id="p1")
        out = a.store_many([trail("x3"), trail("x4")], project_id="p1")
        assert all(not isinstance(o, Exception) for o in out)
        assert a.get("x1") is None and a.get("x2") is not None
        rollups_match_trails(a)
    finally:
        a.close()
        b.close()


def test_updates_from_another_process_are_never_lost(url: str) -> None:
    a, b = llmtrail.open_store(url), llmtrail.open_store(url)
    try:
        a.create_placeholder("m", "gpt-4o", project_id="p1")
        b.update("m", metadata={"by": "b"}, tokens={"prompt": 7, "completion": 1})
        # a's last known version of "m" is stale now: its update must build on b's
        got = a.update("m", status="completed")
        assert got.metadata == {"by": "b"} and got.tokens.prompt == 7
        assert a.get("m") == got
        b.update("m", status="failed")
        assert a.update("m", reasoning=["r"]).status == "failed"
        rollups_match_trails(a)
    finally:
        a.close()
        b.close()


def test_a_replaced_trail_is_updated_in_its_new_project(url: str) -> None:
    a, b = llmtrail.open_store(url), llmtrail.open_store(url)
    try:
        a.store(trail("m"), project_id="p1")
        b.delete_project("p1")
        b.store(trail("m", tokens={"prompt": 1, "completion": 2}), project_id="p2")
        got = a.update_in_project("p2", "m", {"status": "failed"})
        assert got.project_id == "p2" and got.tokens.prompt == 1
        with pytest.raises(NotFoundError):
            a.update_in_project("p1", "m", {"status": "failed"})
        rollups_match_trails(a)
    finally:
        a.close()
        b.close()


def test_concurrent_updates_of_one_trail_keep_rollups_exact(url: str) -> None:
    stores = [llmtrail.open_store(url) for _ in range(3)]
    try:
        stores[0].create_placeholder("hot", "gpt-4o", project_id="p1")
        errors: list[BaseException] = []

        def work(s: Store, k: int) -> None:
            try:
                for i in range(15):
                    s.update(
                        "hot",
                        tokens={"prompt": k * 100 + i, "completion": i},
                        cost={"prompt": f"0.{k}{i:02d}", "completion": "0.001"},
                    )
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(s, k)) for k, s in enumerate(stores)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors
        rollups_match_trails(stores[0])
    finally:
        for s in stores:
            s.close()


def test_rollup_buckets_equal_pythons_at_the_edges(store: Store) -> None:
    stamps = [
        datetime(1970, 1, 1, 0, 14, 59, 999_999, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 45, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 44, 59, 999_999, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
    ]
    out = store.store_many(
        [trail(f"e{i}", timestamp=ts) for i, ts in enumerate(stamps)], project_id="p1"
    )
    assert all(not isinstance(o, Exception) for o in out)
    store.store(trail("single", timestamp=stamps[0] + timedelta(minutes=15)), project_id="p1")
    rollups_match_trails(store)


def test_the_version_cache_is_bounded_and_skips_large_reasoning() -> None:
    cache = VersionCache(max_entries=3, max_entry_bytes=1_100)
    small = AuditTrail(message_id="a", model="m", reasoning=["short"])
    for i in range(5):
        cache.put(AuditTrail(message_id=f"m{i}", model="m"), str(i))
    assert [cache.get(f"m{i}") is not None for i in range(5)] == [False, False, True, True, True]
    cache.put(small, "1")
    assert cache.get("a") is not None
    cache.put(AuditTrail(message_id="a", model="m", reasoning=["x" * 200]), "2")
    assert cache.get("a") is None


def test_the_version_cache_is_bounded_by_bytes_whatever_the_field() -> None:
    """Metadata counts as much as reasoning (64 entries of 4 KiB kept 4,096 trails = 1 GB)."""
    cache = VersionCache(max_entries=4_096, max_bytes=100_000, max_entry_bytes=50_000)
    meta = {f"k{i}": "v" * 600 for i in range(64)}  # ~46 KB: under the entry limit
    for i in range(100):
        cache.put(AuditTrail(message_id=f"m{i}", model="m", metadata=meta), str(i))
    assert cache.bytes <= 100_000
    assert sum(cache.get(f"m{i}") is not None for i in range(100)) == 2
    huge = {f"k{i}": "v" * 4_096 for i in range(64)}
    cache.put(AuditTrail(message_id="big", model="m", metadata=huge), "1")
    assert cache.get("big") is None
    for i in range(100):
        cache.discard(f"m{i}")
    assert cache.bytes == 0


def test_pg_reads_equal_the_core_path(pg_url: str) -> None:
    store = llmtrail.open_store(pg_url)
    try:
        store.store(trail("m", cost={"prompt": "1.50", "completion": "0"}), project_id="p1")
        fast = store.get("m")
        store._fast = None  # type: ignore[attr-defined]
        assert store.get("m") == fast
        assert fast is not None and str(fast.cost.prompt) == "1.5"  # type: ignore[union-attr]
        assert fast.timestamp is not None and fast.timestamp.tzinfo is UTC
        with psycopg.connect(pg_url) as conn:
            row = conn.execute(
                "SELECT reasoning::text, metadata::text FROM audit_trails WHERE message_id = 'm'"
            ).fetchone()
        assert row == ('["step one", "step two"]', '{"turn": 3, "user": "u1"}')
    finally:
        store.close()


def test_large_batches_stream_with_invalid_items_new_projects_and_retries(store: Store) -> None:
    def items() -> Any:  # a generator: its length is unknown up front
        for i in range(80):
            if i % 10 == 3:
                yield trail(f"s{i}", tokens={"prompt": -1})  # invalid: reported, not stored
            else:
                yield trail(f"s{i}", projectId=f"proj{i // 20}")
        yield trail("s0", projectId="proj0")  # a retry of the first, in the same batch

    out = store.store_many(items())
    assert len(out) == 81
    bad = [i for i, o in enumerate(out) if isinstance(o, llmtrail.ValidationError)]
    assert bad == [i for i in range(80) if i % 10 == 3]
    assert sum(1 for o in out if not isinstance(o, Exception) and o.created) == 72
    assert not isinstance(out[80], Exception) and not out[80].created
    assert {f"proj{k}" for k in range(4)} <= {p.id for p in store.list_projects()}
    # the same batch again: everything exists, so it takes the general path
    again = store.store_many(items())
    assert [type(o) for o in again] == [type(o) for o in out]
    assert all(isinstance(o, Exception) or not o.created for o in again)
    assert store.count_trails() == 72  # type: ignore[attr-defined]
    rollups_match_trails(store)


def test_batched_values_round_trip_exactly(store: Store) -> None:
    batch = []
    for i in range(40):
        batch.append(
            trail(
                f"v{i}",
                timestamp=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=7 * i + 1),
                reasoning=None if i % 3 == 0 else ["é ✓ \U0001f600", "x" * (i * 50)],
                metadata=None if i % 4 == 0 else {"n": i, "f": 1.5, "b": True, "s": "ü"},
                tokens={"prompt": 999_999_000 + i, "completion": i, "cacheRead": i or None},
                cost={
                    "prompt": "999999999.123456789012345678",
                    "completion": "0.000000000000000001",
                },
                status="failed" if i % 5 == 0 else "completed",
            )
        )
    out = store.store_many(batch, project_id="p1")
    for o in out:
        assert not isinstance(o, Exception)
        assert store.get(o.trail.message_id) == o.trail
    rollups_match_trails(store)


def test_streamed_batches_survive_dropped_connections_and_report_outages(
    pg_admin: psycopg.Connection, pg_url: str
) -> None:
    import time

    from llmtrail import UnavailableError

    name = pg_url.rsplit("/", 1)[1]
    kill = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
    store = llmtrail.open_store(pg_url)
    try:
        store.store_many([trail(f"k{i}") for i in range(40)], project_id="p1")
        pg_admin.execute(kill, (name,))  # every pooled connection is now dead
        out = store.store_many([trail(f"k{i}") for i in range(40, 80)], project_id="p1")
        assert all(not isinstance(o, Exception) and o.created for o in out)
        pg_admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        try:
            pg_admin.execute(kill, (name,))
            started = time.monotonic()
            with pytest.raises(UnavailableError):
                store.store_many([trail(f"k{i}") for i in range(80, 120)], project_id="p1")
            assert time.monotonic() - started < 10
        finally:
            pg_admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        assert store.count_trails() == 80  # type: ignore[attr-defined]
        rollups_match_trails(store)
    finally:
        store.close()


def test_an_overwrite_replaces_every_column_and_moves_the_rollups(store: Store) -> None:
    import dataclasses

    first = store.store(trail("ow"), project_id="p1")
    other = dataclasses.replace(
        first,
        id="0190aaaa-0000-7000-8000-000000000001",
        project_id="p2",
        model="other-model",
        timestamp=datetime(2025, 6, 1, 12, 0, tzinfo=UTC),
        context_layers=9,
        updated_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    store.create_project("p2")
    got = store._update("ow", lambda old: other, None)  # type: ignore[attr-defined]
    assert got == other and store.get("ow") == other
    same = store._update("ow", lambda old: old, None)  # type: ignore[attr-defined]
    assert same == other and store.get("ow") == other
    rollups_match_trails(store)


def test_held_connections_survive_a_server_restart_stay_bounded_and_go_back_on_close(
    pg_admin: psycopg.Connection, pg_url: str
) -> None:
    name = pg_url.rsplit("/", 1)[1]
    backends = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
    )
    store = llmtrail.open_store(pg_url)
    try:
        errors: list[BaseException] = []

        def worker(k: int) -> None:
            try:
                for i in range(30):
                    mid = f"h{k}-{i}"
                    store.create_placeholder(mid, "gpt-4o", project_id="p1")
                    store.update(mid, status="completed", tokens={"prompt": 1, "completion": 1})
                    assert store.get(mid) is not None
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        held = store._fast.held  # type: ignore[attr-defined]
        assert len(held._idle) <= held.max_idle
        # Every connection dies (a restart): the next single-statement calls reconnect.
        pg_admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        store.create_placeholder("after", "gpt-4o", project_id="p1")
        assert store.update("after", status="failed").status == "failed"
        assert store.get("h3-7") is not None
        rollups_match_trails(store)
    finally:
        store.close()
    # nothing left checked out after close(); a backend killed above may take a moment to
    # leave pg_stat_activity on a loaded machine, so wait for that (bounded)
    deadline = time.monotonic() + 10
    while (
        (row := pg_admin.execute(backends, (name,)).fetchone())
        and row[0]
        and (time.monotonic() < deadline)
    ):
        time.sleep(0.05)
    assert row is not None and row[0] == 0
