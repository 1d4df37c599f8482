"""Retention policies (SPEC §10) on every backend: content retention (exactly at the cutoff),
legal hold, and the retention floor on the library door."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from llmtrail import NotFoundError, Store, ValidationError
from llmtrail.retention import run_cleanup

NOW = datetime.now(UTC).replace(microsecond=500_000)


def trail(mid: str, age: timedelta, project: str = "p", **kw: Any) -> dict[str, Any]:
    return {
        "messageId": mid,
        "timestamp": NOW - age,
        "model": "gpt-4o",
        "reasoning": ["step one"],
        "metadata": {"user": "u-1"},
        "tokens": {"prompt": 1000, "completion": 100},
        **kw,
    }


@pytest.fixture
def fixed(open_backend: Callable[..., Store]) -> Callable[..., Store]:
    def make(**settings: Any) -> Store:
        return open_backend(clock=lambda: NOW, **settings)

    return make


def test_content_retention_clears_content_and_keeps_the_record(
    fixed: Callable[..., Store],
) -> None:
    s = fixed(retention_days=30)
    s.create_project("p", content_retention_days=3)
    day = timedelta(days=1)
    for mid, age in (("old", 5 * day), ("edge", 3 * day), ("young", 2 * day)):
        s.store(trail(mid, age), "p")
    before = s.analytics("p", days=30)
    result = run_cleanup(s)
    assert result.deleted_count == 0 and result.redacted_count == 1
    assert result.to_wire()["redactedCount"] == 1
    old = s.get("old")
    assert old is not None and old.reasoning is None and old.metadata is None
    assert old.content_redacted_at == NOW
    assert old.tokens.prompt == 1000 and old.cost is not None and old.cost.total > 0
    for mid in ("edge", "young"):  # exactly at the cutoff is kept, as for deletion
        t = s.get(mid)
        assert t is not None and t.reasoning == ["step one"] and t.content_redacted_at is None
    after = s.analytics("p", days=30)
    assert (after.total_cost, after.message_count) == (before.total_cost, before.message_count)
    assert run_cleanup(s).redacted_count == 0  # once


def test_legal_hold_stops_deletion_and_redaction_until_lifted(
    fixed: Callable[..., Store],
) -> None:
    s = fixed(retention_days=7)
    s.create_project("p", content_retention_days=1, legal_hold=True)
    s.create_project("q")
    s.store(trail("held", timedelta(days=30)), "p")
    s.store(trail("free", timedelta(days=30), project="q"), "q")
    assert s.cleanup(dry_run=True) == 1
    result = run_cleanup(s)
    assert (result.deleted_count, result.redacted_count) == (1, 0)
    held = s.get("held")
    assert held is not None and held.reasoning == ["step one"] and s.get("free") is None
    lifted = s.update_project("p", legalHold=False)
    assert lifted.legal_hold is False and lifted.content_retention_days == 1
    assert run_cleanup(s).deleted_count == 1
    assert s.get("held") is None


def test_update_project_changes_only_what_it_is_given(fixed: Callable[..., Store]) -> None:
    s = fixed()
    p = s.create_project("p", "Shop", 30, content_retention_days=10)
    assert s.update_project("p", name="Shop 2").retention_days == 30
    cleared = s.update_project("p", retentionDays=None, content_retention_days=None)
    assert (cleared.retention_days, cleared.content_retention_days) == (None, None)
    assert s.require_project("p") == cleared and cleared.created_at == p.created_at
    with pytest.raises(ValidationError) as e:
        s.update_project("p", legalHold="yes", retentionDays=-1, colour="red")
    assert set(e.value.fields) == {"legalHold", "retentionDays", "colour"}
    assert s.require_project("p") == cleared  # nothing changed
    with pytest.raises(NotFoundError):
        s.update_project("nope", name="x")


def test_the_retention_floor_refuses_shorter_retentions(fixed: Callable[..., Store]) -> None:
    s = fixed(min_retention_days=183, retention_days=200)
    with pytest.raises(ValidationError) as e:
        s.create_project("p", retention_days=30)
    assert e.value.fields == ["retentionDays"]
    s.create_project("p", retention_days=183)
    with pytest.raises(ValidationError) as e:
        s.update_project("p", retentionDays=182)
    assert e.value.fields == ["retentionDays"]
    with pytest.raises(ValidationError) as e:
        s.cleanup(7)
    assert e.value.fields == ["days"]
    s.store(trail("t", timedelta(days=190)), "p")
    assert s.cleanup(183) == 1  # at the floor is allowed
    assert s.cleanup() == 0


def test_a_global_retention_below_the_floor_is_refused(
    open_backend: Callable[..., Store],
) -> None:
    with pytest.raises(ValidationError) as e:
        open_backend(min_retention_days=183, retention_days=7)
    assert e.value.fields == ["AUDIT_TRAIL_RETENTION_DAYS"]


def test_redaction_keeps_the_exact_cost(fixed: Callable[..., Store]) -> None:
    s = fixed(retention_days=30)
    s.create_project("p", content_retention_days=0)
    s.store(trail("t", timedelta(hours=1), cost={"prompt": "0.1", "completion": "0.2"}), "p")
    run_cleanup(s)
    t = s.get("t")
    assert t is not None and t.cost is not None and t.cost.total == Decimal("0.3")
    assert t.cost_source == "provided" and t.content_redacted_at == NOW


def test_redaction_in_many_small_batches_gets_every_trail(fixed: Callable[..., Store]) -> None:
    s = fixed(retention_days=30, cleanup_batch_size=2)
    s.create_project("p", content_retention_days=1)
    for i in range(7):
        s.store(trail(f"t{i}", timedelta(days=2, minutes=i % 3)), "p")  # equal timestamps too
    s.store(trail("young", timedelta(hours=1)), "p")
    assert run_cleanup(s).redacted_count == 7
    assert all(s.get(f"t{i}").reasoning is None for i in range(7))  # type: ignore[union-attr]
    assert s.get("young").reasoning == ["step one"]  # type: ignore[union-attr]
