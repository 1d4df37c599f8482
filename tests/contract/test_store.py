"""The store contract: every backend (memory, SQLite, PostgreSQL) must pass every test here."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

import llmtrail
from llmtrail import (
    AuditTrail,
    ConflictError,
    Cost,
    NotFoundError,
    Store,
    TokenUsage,
    TrailFilter,
    ValidationError,
)


def trail(message_id: str = "m-1", **kw: object) -> dict[str, object]:
    data: dict[str, object] = {
        "messageId": message_id,
        "model": "claude-3-7-sonnet-20250219",
        "contextLayers": 3,
        "tokens": {"prompt": 100, "completion": 50, "total": 150},
        "cost": {"prompt": 0.0003, "completion": 0.00075, "total": 0.00105},
    }
    data.update(kw)
    return data


# -- the seed's own two tests ---------------------------------------------------------------


def test_seed_store_and_retrieve(store: Store) -> None:
    store.store(
        {
            "messageId": "test-123",
            "projectId": "proj-1",
            "timestamp": datetime.now(UTC),
            "model": "claude-3-7-sonnet-20250219",
            "contextLayers": 3,
            "tokens": {"prompt": 100, "completion": 50, "total": 150},
            "cost": {"prompt": 0.0003, "completion": 0.00075, "total": 0.00105},
        }
    )
    retrieved = store.get("test-123")
    assert retrieved is not None
    assert retrieved.message_id == "test-123"
    assert retrieved.tokens.total == 150


def test_seed_cleanup_old_trails(store: Store) -> None:
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
    assert store.cleanup(7) == 1
    assert store.get("old-123") is None


# -- store / get ----------------------------------------------------------------------------


def test_store_returns_the_stored_trail_with_server_fields(store: Store) -> None:
    before = datetime.now(UTC)
    t = store.store(trail(), project_id="p1")
    assert isinstance(t, AuditTrail)
    assert t.id and t.created_at and t.updated_at and t.timestamp
    assert before - timedelta(seconds=1) <= t.timestamp <= datetime.now(UTC)
    assert t.project_id == "p1"
    assert t.status == "completed"
    assert t.cost_source == "provided"
    assert store.get("m-1") == t


def test_get_missing_is_none(store: Store) -> None:
    assert store.get("nope") is None


def test_store_accepts_dataclass_input(store: Store) -> None:
    t = AuditTrail(
        message_id="dc-1",
        model="gpt-4o",
        tokens=TokenUsage(prompt=10, completion=5),
        cost=Cost(Decimal("0.1"), Decimal("0.2")),
    )
    stored = store.store(t, project_id="p1")
    assert stored.tokens.total == 15
    assert stored.cost == Cost(Decimal("0.1"), Decimal("0.2"), Decimal("0.3"))
    got = store.get("dc-1")
    assert got is not None and got.cost is not None
    assert got.cost.total == Decimal("0.3")


def test_identical_retry_is_a_no_op(store: Store) -> None:
    first = store.store_outcome(trail(), project_id="p1")
    again = store.store_outcome(trail(), project_id="p1")
    assert first.created and not again.created
    assert again.trail == first.trail
    page = store.list_trails(TrailFilter("p1"))
    assert len(page.items) == 1


def test_retry_without_timestamp_gets_the_first_trail(store: Store) -> None:
    first = store.store(trail(), project_id="p1")
    again = store.store(trail(), project_id="p1")
    assert again.timestamp == first.timestamp
    assert again.id == first.id


def test_different_content_conflicts_and_changes_nothing(store: Store) -> None:
    first = store.store(trail(), project_id="p1")
    with pytest.raises(ConflictError):
        store.store(trail(model="gpt-4o"), project_id="p1")
    with pytest.raises(ConflictError):
        store.store(trail(cost={"prompt": "1", "completion": "0"}), project_id="p1")
    assert store.get("m-1") == first


def test_message_id_is_unique_across_projects(store: Store) -> None:
    store.store(trail(), project_id="p1")
    with pytest.raises(ConflictError):
        store.store(trail(), project_id="p2")
    got = store.get("m-1")
    assert got is not None and got.project_id == "p1"


def test_equal_decimals_in_other_notation_are_same_content(store: Store) -> None:
    store.store(trail(cost={"prompt": "0.10", "completion": "0.2"}), project_id="p1")
    again = store.store_outcome(
        trail(cost={"prompt": Decimal("0.1"), "completion": 0.2, "total": "0.3"}), project_id="p1"
    )
    assert not again.created


def test_store_creates_unknown_project_implicitly(store: Store) -> None:
    store.store(trail(), project_id="brand-new")
    project = store.get_project("brand-new")
    assert project is not None and project.name == "brand-new"


@pytest.mark.parametrize("many", [False, True, "stream"])
def test_writes_that_may_not_create_their_project_fail_once_it_is_gone(
    store: Store, many: bool | str
) -> None:
    """A project key's writes: a deleted project stays deleted (issue 11, row 4)."""
    store.create_project("kept")
    store.store(trail("warm"), project_id="gone")  # known to this store, then deleted
    store.delete_project("gone")
    n = 40 if many == "stream" else 2  # 40: PostgreSQL's COPY path
    batch = [trail(f"t{i}") for i in range(n)]
    if many:
        results = store.store_many(batch, "gone", create_project=False)
        assert all(isinstance(r, NotFoundError) for r in results), results
    else:
        with pytest.raises(NotFoundError):
            store.store(batch[0], project_id="gone", create_project=False)
    assert store.get_project("gone") is None
    assert store.get("t0") is None
    # the project that exists takes them, and the default still creates implicitly
    assert store.store(trail("k1"), project_id="kept", create_project=False).project_id == "kept"
    store.create_placeholder("ph", "m", 1, "gone2")
    assert store.get_project("gone2") is not None
    with pytest.raises(NotFoundError):
        store.create_placeholder("ph2", "m", 1, "gone3", create_project=False)


# -- update ---------------------------------------------------------------------------------


def test_update_partial(store: Store) -> None:
    store.create_placeholder("m-1", "claude-3-7-sonnet-20250219", 3, project_id="p1")
    placeholder = store.get("m-1")
    assert placeholder is not None
    assert placeholder.status == "pending"
    assert placeholder.tokens == TokenUsage(0, 0, 0)
    assert placeholder.cost is not None and placeholder.cost.total == 0
    updated = store.update(
        "m-1",
        tokens={"prompt": 1200, "completion": 350, "cacheRead": 200, "reasoning": 100},
        cost={"prompt": "0.0036", "completion": "0.00525"},
        reasoning=["step 1", "step 2"],
        status="completed",
        metadata={"user": "u1", "n": 3, "ok": True},
    )
    assert updated.status == "completed"
    assert updated.tokens == TokenUsage(1200, 350, 1550, cache_read=200, reasoning=100)
    assert updated.cost == Cost(Decimal("0.0036"), Decimal("0.00525"), Decimal("0.00885"))
    assert updated.cost_source == "provided"
    assert updated.context_layers == 3 and updated.model == "claude-3-7-sonnet-20250219"
    assert updated.updated_at is not None and placeholder.updated_at is not None
    assert updated.updated_at >= placeholder.updated_at
    assert store.get("m-1") == updated


def test_update_only_status_keeps_the_rest(store: Store) -> None:
    first = store.store(trail(reasoning=["r"]), project_id="p1")
    updated = store.update("m-1", status="failed")
    assert updated.status == "failed"
    assert updated.reasoning == ["r"] and updated.cost == first.cost


def test_update_of_equal_looking_values_of_another_type_is_written(store: Store) -> None:
    store.store(trail(metadata={"flag": 1, "n": 2}), project_id="p1")
    updated = store.update("m-1", metadata={"flag": True, "n": 2.5})
    got = store.get("m-1")
    assert got is not None and got.metadata == updated.metadata
    assert got.metadata is not None and got.metadata["flag"] is True and got.metadata["n"] == 2.5
    again = store.update("m-1", metadata={"flag": 1, "n": 2.5}, status="failed")
    got = store.get("m-1")
    assert got == again and got is not None and type(got.metadata["flag"]) is int  # type: ignore[index]


def test_update_missing_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.update("nope", status="completed")


def test_update_invalid_changes_nothing(store: Store) -> None:
    first = store.store(trail(), project_id="p1")
    with pytest.raises(ValidationError) as e:
        store.update("m-1", tokens={"prompt": 1, "completion": 1, "total": 5}, status="completed")
    assert "tokens.total" in e.value.fields
    with pytest.raises(ValidationError) as e:
        store.update("m-1", model="other")
    assert "model" in e.value.fields
    assert store.get("m-1") == first


def test_update_in_project_hides_other_projects(store: Store) -> None:
    store.store(trail(), project_id="p1")
    with pytest.raises(NotFoundError):
        store.update_in_project("p2", "m-1", {"status": "failed"})
    got = store.get("m-1")
    assert got is not None and got.status == "completed"


# -- money and time -------------------------------------------------------------------------


def test_decimal_costs_are_exact(store: Store) -> None:
    t = store.store(trail(cost={"prompt": 0.1, "completion": 0.2}), project_id="p1")
    assert t.cost is not None and t.cost.total == Decimal("0.3")
    got = store.get("m-1")
    assert got is not None and got.cost is not None
    assert got.cost.total == Decimal("0.3")
    assert llmtrail.model.dumps(llmtrail.model.trail_to_wire(got)).count("0.3") >= 1
    assert "0.30000000000000004" not in llmtrail.model.dumps(llmtrail.model.trail_to_wire(got))


def test_tiny_and_large_costs_round_trip(store: Store) -> None:
    tiny = "0.000000000000000001"
    big = "999999999.123456789012345678"
    store.store(trail("a", cost={"prompt": tiny, "completion": "0"}), project_id="p1")
    store.store(trail("b", cost={"prompt": big, "completion": "0"}), project_id="p1")
    a, b = store.get("a"), store.get("b")
    assert a is not None and a.cost is not None and a.cost.total == Decimal(tiny)
    assert b is not None and b.cost is not None and b.cost.total == Decimal(big)


def test_timestamps_round_trip_in_utc(store: Store) -> None:
    store.store(trail(timestamp="2026-03-29T01:30:00.123456+02:00"), project_id="p1")
    got = store.get("m-1")
    assert got is not None and got.timestamp is not None
    assert got.timestamp == datetime(2026, 3, 28, 23, 30, 0, 123456, tzinfo=UTC)
    assert got.timestamp.utcoffset() == timedelta(0)
    assert llmtrail.model.trail_to_wire(got)["timestamp"] == "2026-03-28T23:30:00.123456Z"


def test_reasoning_and_metadata_round_trip(store: Store) -> None:
    reasoning = ["first ✓", 'second with\nnewline and "quotes"', ""]
    metadata = {"user": "u-1", "score": 0.5, "count": 2, "flag": False}
    store.store(trail(reasoning=reasoning, metadata=metadata), project_id="p1")
    got = store.get("m-1")
    assert got is not None
    assert got.reasoning == reasoning and got.metadata == metadata


# -- projects -------------------------------------------------------------------------------


def test_create_project_conflict_and_list(store: Store) -> None:
    p = store.create_project("alpha", name="Alpha", retention_days=30)
    assert p.retention_days == 30
    with pytest.raises(ConflictError):
        store.create_project("alpha")
    assert "alpha" in [x.id for x in store.list_projects()]
    got = store.get_project("alpha")
    assert got is not None and got.name == "Alpha"


def test_delete_project_cascades(store: Store) -> None:
    store.store(trail("a"), project_id="p1")
    store.store(trail("b"), project_id="p2")
    key, secret = store.create_api_key("p1")
    assert store.authenticate(secret) == key
    store.delete_project("p1")
    assert store.get("a") is None
    assert store.get("b") is not None
    assert store.get_project("p1") is None
    assert store.authenticate(secret) is None
    with pytest.raises(NotFoundError):
        store.delete_project("p1")
    # the id is free again, and empty
    store.store(trail("a"), project_id="p1")
    assert len(store.list_trails(TrailFilter("p1")).items) == 1


def test_invalid_project_id_is_rejected(store: Store) -> None:
    with pytest.raises(ValidationError) as e:
        store.store(trail(), project_id="bad id!")
    assert e.value.fields == ["projectId"]
    with pytest.raises(ValidationError):
        store.create_project("x" * 65)


# -- keys -----------------------------------------------------------------------------------


def test_api_keys_are_hashed_and_revocable(store: Store) -> None:
    store.create_project("p1")
    key, secret = store.create_api_key("p1")
    assert secret.startswith("ltk_") and len(secret) > 40
    assert store.authenticate(secret) == key
    assert store.authenticate(secret + "x") is None
    store.revoke_api_key("p1", key.id)
    assert store.authenticate(secret) is None
    assert store.list_api_keys("p1")[0].revoked_at is not None
    with pytest.raises(NotFoundError):
        store.revoke_api_key("p2", key.id)
    with pytest.raises(NotFoundError):
        store.create_api_key("missing-project")


# -- listing --------------------------------------------------------------------------------


def test_list_newest_first_with_cursor_and_filters(store: Store) -> None:
    base = datetime(2026, 11, 1, tzinfo=UTC)
    for i in range(25):
        store.store(
            trail(
                f"m-{i:02d}",
                timestamp=(base + timedelta(hours=i)).isoformat(),
                model="a" if i % 2 else "b",
                status="failed" if i % 5 == 0 else "completed",
            ),
            project_id="p1",
        )
    store.store(trail("other"), project_id="p2")
    seen: list[str] = []
    cursor = None
    while True:
        page = store.list_trails(TrailFilter("p1"), limit=10, cursor=cursor)
        seen += [t.message_id for t in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [f"m-{i:02d}" for i in reversed(range(25))]
    only_a = store.list_trails(TrailFilter("p1", model="a"), limit=100).items
    assert {t.model for t in only_a} == {"a"} and len(only_a) == 12
    failed = store.list_trails(TrailFilter("p1", status="failed"), limit=100).items
    assert len(failed) == 5
    window = store.list_trails(
        TrailFilter("p1", since=base + timedelta(hours=5), until=base + timedelta(hours=10))
    ).items
    assert [t.message_id for t in window] == [f"m-{i:02d}" for i in (9, 8, 7, 6, 5)]


def test_list_rejects_bad_cursor_and_limit(store: Store) -> None:
    with pytest.raises(ValidationError) as e:
        store.list_trails(TrailFilter("p1"), cursor="not-a-cursor")
    assert e.value.fields == ["cursor"]
    with pytest.raises(ValidationError):
        store.list_trails(TrailFilter("p1"), limit=1001)
    with pytest.raises(ValidationError):
        store.list_trails(TrailFilter("p1"), limit=0)


def test_store_many_reports_per_item(store: Store) -> None:
    store.store(trail("dup"), project_id="p1")
    results = store.store_many(
        [trail("n1"), trail("dup"), trail("dup", model="x"), {"messageId": ""}, trail("n2")],
        project_id="p1",
    )
    assert [type(r).__name__ for r in results] == [
        "StoreOutcome",
        "StoreOutcome",
        "ConflictError",
        "ValidationError",
        "StoreOutcome",
    ]
    assert results[0].created and not results[1].created  # type: ignore[union-attr]
    assert store.get("n1") is not None and store.get("n2") is not None


# -- durability and concurrency -------------------------------------------------------------


def test_data_persists_across_a_new_store(backend: str, url_for: Callable[[], str]) -> None:
    first = llmtrail.open_store(url_for())
    stored = first.store(trail(), project_id="p1")
    first.close()
    second = llmtrail.open_store(url_for())
    try:
        # The memory backend is documented (and warns) to lose everything on restart.
        assert second.get("m-1") == (None if backend == "memory" else stored)
    finally:
        second.close()


def test_concurrent_identical_stores_create_one_trail(store: Store) -> None:
    errors: list[BaseException] = []
    created: list[bool] = []

    def worker() -> None:
        try:
            created.append(store.store_outcome(trail(), project_id="p1").created)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert created.count(True) == 1
    assert len(store.list_trails(TrailFilter("p1")).items) == 1


def test_database_backends_require_a_project(backend: str, store: Store) -> None:
    if backend == "memory":
        assert store.store(trail()).project_id is None
        return
    with pytest.raises(ValidationError) as e:
        store.store(trail())
    assert e.value.fields == ["projectId"]
    assert store.get("m-1") is None


def test_data_persists_across_processes(backend: str, url_for: Callable[[], str]) -> None:
    import subprocess
    import sys

    url = url_for()
    write = (
        f"import llmtrail; s = llmtrail.open_store({url!r}); "
        "s.store({'messageId': 'proc-1', 'model': 'x', 'cost': {'prompt': '0.1', "
        "'completion': '0.2'}}, project_id='p1'); print('ok')"
    )
    read = (
        f"import llmtrail; t = llmtrail.open_store({url!r}).get('proc-1'); "
        "print(t.cost.total if t else 'missing')"
    )
    first = subprocess.run(
        [sys.executable, "-c", write], capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0, first.stderr
    second = subprocess.run(
        [sys.executable, "-c", read], capture_output=True, text=True, timeout=120
    )
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == ("missing" if backend == "memory" else "0.3")


@pytest.mark.parametrize("bad", ["a\x00b", "a\ud800", "", "x" * 300, "tab\there"])
def test_lookups_of_impossible_ids_find_nothing(store: Store, bad: str) -> None:
    assert store.get(bad) is None
    with pytest.raises(NotFoundError):
        store.update(bad, status="failed")
    with pytest.raises(NotFoundError):
        store.update_in_project("p1", bad, {"status": "failed"})
