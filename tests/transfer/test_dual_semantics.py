"""A dual store keeps the store contract: retries, conflicts, not-found, paging, cleanup and
analytics behave as on any backend, and a rejected write reaches neither side."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import llmtrail
from llmtrail.model import TrailFilter
from llmtrail.store.dual import DualStore
from tests.transfer.conftest import open_dual, trail


@pytest.fixture
def dual(sqlite_url: str, tmp_path: Path) -> Iterator[DualStore]:
    store = open_dual(f"sqlite:///{tmp_path}/target.db", sqlite_url, tmp_path / "outbox.db")
    assert isinstance(store, DualStore)
    yield store
    store.close()


def test_retry_conflict_and_not_found(dual: DualStore) -> None:
    first = dual.store_outcome(trail(1))
    again = dual.store_outcome(trail(1))
    assert first.created and not again.created and again.trail == first.trail
    with pytest.raises(llmtrail.ConflictError):
        dual.store(trail(1, model="another-model"))
    with pytest.raises(llmtrail.ValidationError):
        dual.store({"messageId": "no-project", "model": "m"})  # database targets need one
    with pytest.raises(llmtrail.ValidationError):
        dual.store(trail(2, contextLayers=-1))
    with pytest.raises(llmtrail.NotFoundError):
        dual.update("missing", status="failed")
    for side in (dual.source, dual.target):
        got = side.get("msg-0000001")
        assert got is not None and got.model == first.trail.model
        assert side.get("msg-0000002") is None and side.get("no-project") is None
    results = dual.store_many([trail(3), trail(1, model="x"), {"model": "m"}])
    assert [type(r).__name__ for r in results] == [
        "StoreOutcome",
        "ConflictError",
        "ValidationError",
    ]
    assert dual.target.get("msg-0000003") is not None


def test_listing_cleanup_and_analytics_follow_the_read_side(dual: DualStore) -> None:
    now = datetime.now(UTC)
    dual.store_many(
        [trail(i, "p", timestamp=now - timedelta(days=i % 12, minutes=i)) for i in range(60)]
    )
    listed = list(dual.iter_trails(TrailFilter("p"), batch=7))
    assert len(listed) == 60
    assert [t.message_id for t in listed] == [
        t.message_id for t in dual.source.iter_trails(TrailFilter("p"))
    ]
    a = dual.analytics("p", days=30)
    assert a.message_count == 60
    assert dual.cleanup(7, dry_run=True) == dual.source.cleanup(7, dry_run=True) > 0
    deleted = dual.cleanup(7)
    assert deleted > 0
    assert len(list(dual.target.iter_trails(TrailFilter("p")))) == 60 - deleted
    assert dual.backlog() == 0
