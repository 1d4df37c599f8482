"""Retention cleanup, on every backend: the seed's test, overrides, the exact cutoff, batches,
dry runs, bad input, and cleanup racing concurrent inserts."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from llmtrail import Store, ValidationError
from llmtrail.retention import run_cleanup

NOW = datetime.now(UTC).replace(microsecond=250_000)


def trail(mid: str, age: timedelta, project: str = "proj-1", **kw: Any) -> dict[str, Any]:
    return {
        "messageId": mid,
        "projectId": project,
        "timestamp": NOW - age,
        "model": "claude-3-7-sonnet-20250219",
        "contextLayers": 1,
        "tokens": {"prompt": 10, "completion": 5},
        "cost": {"prompt": "0.001", "completion": "0.002"},
        **kw,
    }


@pytest.fixture
def fixed(open_backend: Callable[..., Store]) -> Callable[..., Store]:
    """Stores on this test's database whose clock is frozen at NOW."""

    def make(**settings: Any) -> Store:
        return open_backend(clock=lambda: NOW, **settings)

    return make


def test_seed_cleanup_deletes_a_ten_day_old_trail_at_seven_days(store: Store) -> None:
    store.store(
        {
            "messageId": "old-123",
            "projectId": "proj-1",
            "timestamp": datetime.now(UTC) - timedelta(days=10),
            "model": "claude-3-7-sonnet-20250219",
            "contextLayers": 1,
            "tokens": {},
            "cost": {},
        }
    )
    store.store(trail("new-1", timedelta(days=1)) | {"timestamp": datetime.now(UTC)})
    assert store.cleanup(7) == 1
    assert store.get("old-123") is None
    assert store.get("new-1") is not None
    assert store.cleanup(7) == 0


def test_default_days_is_the_configured_retention(fixed: Callable[..., Store]) -> None:
    s = fixed(retention_days=3)
    s.store(trail("a", timedelta(days=2)))
    s.store(trail("b", timedelta(days=4)))
    assert s.cleanup() == 1
    assert s.get("a") is not None and s.get("b") is None


def test_a_trail_exactly_at_the_cutoff_is_kept(fixed: Callable[..., Store]) -> None:
    s = fixed()
    s.store(trail("at", timedelta(days=7)))
    s.store(trail("just-older", timedelta(days=7, microseconds=1)))
    s.store(trail("just-newer", timedelta(days=7) - timedelta(microseconds=1)))
    assert s.cleanup(7, dry_run=True) == 1
    assert s.cleanup(7) == 1
    assert s.get("just-older") is None
    assert s.get("at") is not None and s.get("just-newer") is not None


def test_fractional_days(fixed: Callable[..., Store]) -> None:
    s = fixed()
    s.store(trail("h13", timedelta(hours=13)))
    s.store(trail("h11", timedelta(hours=11)))
    assert s.cleanup(0.5) == 1
    assert s.get("h13") is None and s.get("h11") is not None


def test_per_project_retention_overrides(fixed: Callable[..., Store]) -> None:
    s = fixed()
    s.create_project("long", retention_days=30)
    s.create_project("short", retention_days=1)
    s.create_project("zero", retention_days=0)
    s.create_project("plain")
    for project in ("long", "short", "zero", "plain"):
        for days in (0.5, 2, 10, 40):
            s.store(trail(f"{project}-{days}", timedelta(days=days), project=project))
    assert s.cleanup(7, dry_run=True) == 10
    assert s.cleanup(7) == 10
    left = {
        mid
        for project in ("long", "short", "zero", "plain")
        for days in (0.5, 2, 10, 40)
        if s.get(mid := f"{project}-{days}") is not None
    }
    assert left == {"long-0.5", "long-2", "long-10", "short-0.5", "plain-0.5", "plain-2"}


def test_dry_run_deletes_nothing(fixed: Callable[..., Store]) -> None:
    s = fixed()
    for i in range(5):
        s.store(trail(f"old-{i}", timedelta(days=9)))
    assert s.cleanup(7, dry_run=True) == 5
    assert s.cleanup(7, dry_run=True) == 5
    assert all(s.get(f"old-{i}") is not None for i in range(5))
    result = run_cleanup(s, 7, dry_run=True)
    assert result.to_wire() == {"deletedCount": 5, "backend": s.backend, "dryRun": True}


def test_run_cleanup_reports_count_and_backend(fixed: Callable[..., Store], backend: str) -> None:
    s = fixed()
    s.store(trail("old", timedelta(days=8)))
    assert run_cleanup(s, 7).to_wire() == {"deletedCount": 1, "backend": backend}
    assert run_cleanup(s).to_wire() == {"deletedCount": 0, "backend": backend}


@pytest.mark.parametrize("days", [-1, 36_501, math.nan, math.inf, True, "7", [7]])
def test_bad_days_are_rejected_naming_the_field(store: Store, days: Any) -> None:
    store.store(trail("old", timedelta(days=30)))
    with pytest.raises(ValidationError) as e:
        store.cleanup(days)
    assert e.value.fields == ["days"]
    assert store.get("old") is not None


def test_many_batches_and_equal_timestamps(fixed: Callable[..., Store], backend: str) -> None:
    # 7 per batch; 49 expired trails sharing one timestamp plus 10 spread out, so batches end
    # exactly on a multiple and the keyset must not skip rows that tie on the timestamp.
    s = fixed(cleanup_batch_size=7)
    same = [trail(f"tie-{i}", timedelta(days=9)) for i in range(49)]
    spread = [trail(f"s-{i}", timedelta(days=8, minutes=i)) for i in range(10)]
    keep = [trail(f"k-{i}", timedelta(days=6)) for i in range(5)]
    for r in s.store_many(same + spread + keep):
        assert not isinstance(r, Exception), r
    assert s.cleanup(7) == 59
    assert all(s.get(f"tie-{i}") is None for i in range(49))
    assert all(s.get(f"k-{i}") is not None for i in range(5))


def test_cleanup_keeps_usage_rollups(fixed: Callable[..., Store], backend: str) -> None:
    from sqlalchemy import func, select

    from llmtrail.store.sql.schema import usage_rollups

    s = fixed(rollup_retention_days=30)
    s.store(trail("d10", timedelta(days=10)))
    s.store(trail("d40", timedelta(days=40)))
    s.store(trail("d1", timedelta(days=1)))
    if backend == "memory":  # no aggregates kept there: only the trails go
        assert s.cleanup(7) == 2
        return
    engine = (s.source if backend == "dual" else s).engine  # type: ignore[attr-defined]

    def rollups() -> tuple[int, int]:
        with engine.connect() as c:
            row = c.execute(
                select(func.count(), func.coalesce(func.sum(usage_rollups.c.messages), 0))
            ).one()
        return int(row[0]), int(row[1])

    s.fold_usage()  # PostgreSQL: the increments go to the rollups in the background
    assert rollups() == (3, 3)
    assert s.cleanup(7) == 2
    # the 10-day bucket outlives its trail; the 40-day one is past the rollup retention
    assert rollups() == (2, 2)


def test_cleanup_while_another_thread_inserts(fixed: Callable[..., Store], backend: str) -> None:
    s = fixed(cleanup_batch_size=50)
    old = [trail(f"old-{i}", timedelta(days=20, seconds=i)) for i in range(2_000)]
    for chunk in range(0, len(old), 500):
        assert not any(isinstance(r, Exception) for r in s.store_many(old[chunk : chunk + 500]))
    errors: list[BaseException] = []
    inserted: list[str] = []
    done, first = threading.Event(), threading.Event()

    def insert() -> None:
        i = 0
        while not done.is_set() or i < 50:
            mid = f"live-{i}"
            try:
                s.store(trail(mid, timedelta(seconds=1), project=f"p{i % 3}"))
                inserted.append(mid)
            except BaseException as e:  # every failure counts
                errors.append(e)
            i += 1
            first.set()
            done.wait(0.002)  # a steady stream, not a tight loop hogging SQLite's one writer

    t = threading.Thread(target=insert)
    t.start()
    assert first.wait(30)
    try:
        before = len(inserted)
        deleted = s.cleanup(7)
        during = len(inserted) - before
    finally:
        done.set()
        t.join(timeout=60)
    assert not t.is_alive()
    assert errors == []
    assert deleted == 2_000
    assert len(inserted) >= 50
    assert all(s.get(mid) is not None for mid in inserted)
    if backend != "memory":
        assert during > 0  # the inserts really ran while cleanup was deleting
        assert s.count_trails() == len(inserted)  # type: ignore[attr-defined]
