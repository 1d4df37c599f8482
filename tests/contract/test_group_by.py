"""Analytics ``groupBy`` (SPEC §12) on every backend: exact cost per model, provider or
metadata value, over every trail of the window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from llmtrail import Store, ValidationError

NOW = datetime.now(UTC)


def seed(store: Store) -> None:
    rows = [
        ("a", "gpt-4o", "openai", {"team": "search"}, "0.1", "0.2"),
        ("b", "gpt-4o", "azure", {"team": "search"}, "0.3", "0"),
        ("c", "claude-sonnet-4-5", "anthropic", {"team": "chat"}, "0.05", "0.05"),
        ("d", "claude-sonnet-4-5", None, {"team": 7}, "0.01", "0"),
        ("e", "gpt-4o", "openai", None, "0.000000000000000001", "0"),
    ]
    for mid, model, provider, meta, p, c in rows:
        data: dict[str, object] = {
            "messageId": mid,
            "model": model,
            "timestamp": NOW - timedelta(hours=1),
            "tokens": {"prompt": 10, "completion": 5},
            "cost": {"prompt": p, "completion": c},
            "metadata": meta,
        }
        if provider:
            data["provider"] = provider
        store.store(data, "p")


def groups(store: Store, by: str) -> list[tuple[object, Decimal, int]]:
    result = store.analytics("p", days=1, group_by=by)
    assert result.cost_by_group is not None
    wire = result.to_wire()["analytics"]["costByGroup"]
    assert len(wire) == len(result.cost_by_group)
    return [(g.group, g.cost, g.messages) for g in result.cost_by_group]


def test_group_by_provider_metadata_and_model(store: Store) -> None:
    seed(store)
    assert groups(store, "provider") == [
        ("openai", Decimal("0.300000000000000001"), 2),
        ("azure", Decimal("0.3"), 1),
        ("anthropic", Decimal("0.1"), 1),
        (None, Decimal("0.01"), 1),
    ]
    assert groups(store, "metadata.team") == [
        ("search", Decimal("0.6"), 2),
        ("chat", Decimal("0.1"), 1),
        (7, Decimal("0.01"), 1),
        (None, Decimal("0.000000000000000001"), 1),
    ]
    assert groups(store, "model") == [
        ("gpt-4o", Decimal("0.600000000000000001"), 3),
        ("claude-sonnet-4-5", Decimal("0.11"), 2),
    ]
    plain = store.analytics("p", days=1)
    assert plain.cost_by_group is None and "costByGroup" not in plain.to_wire()["analytics"]


@pytest.mark.parametrize("bad", ["team", "metadata.", "metadata." + "k" * 200, "", 3])
def test_bad_group_by_is_a_validation_error(store: Store, bad: object) -> None:
    seed(store)
    with pytest.raises(ValidationError) as e:
        store.analytics("p", days=1, group_by=bad)  # type: ignore[arg-type]
    assert e.value.fields == ["groupBy"]
