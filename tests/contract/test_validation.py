"""Bad input at the library level: each rule of SPEC §1 names its field and writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from llmtrail import Store, TrailFilter, ValidationError


def good(**kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "messageId": "bad-1",
        "model": "gpt-4o",
        "contextLayers": 1,
        "tokens": {"prompt": 10, "completion": 5},
        "cost": {"prompt": "0.01", "completion": "0.02"},
    }
    data.update(kw)
    return data


def without(key: str) -> dict[str, Any]:
    data = good()
    del data[key]
    return data


# (case name, input, expected offending field)
BAD_TRAILS: list[tuple[str, Any, str]] = [
    ("messageId missing", without("messageId"), "messageId"),
    ("messageId empty", good(messageId=""), "messageId"),
    ("messageId too long", good(messageId="x" * 256), "messageId"),
    ("messageId control char", good(messageId="a\nb"), "messageId"),
    ("messageId NUL", good(messageId="a\x00b"), "messageId"),
    ("messageId lone surrogate", good(messageId="a\ud800b"), "messageId"),
    ("messageId not a string", good(messageId=123), "messageId"),
    ("model missing", without("model"), "model"),
    ("model empty", good(model=""), "model"),
    ("model too long", good(model="m" * 201), "model"),
    ("model NUL", good(model="gpt\x00"), "model"),
    ("timestamp naive", good(timestamp="2026-11-30T10:00:00"), "timestamp"),
    ("timestamp naive datetime", good(timestamp=datetime(2026, 11, 30)), "timestamp"),
    ("timestamp garbage", good(timestamp="yesterday"), "timestamp"),
    ("timestamp date only", good(timestamp="2026-11-30"), "timestamp"),
    ("timestamp number", good(timestamp=1700000000), "timestamp"),
    ("reasoning not a list", good(reasoning="thinking"), "reasoning"),
    ("reasoning too many items", good(reasoning=["x"] * 1001), "reasoning"),
    ("reasoning item not a string", good(reasoning=["ok", 3]), "reasoning[1]"),
    ("reasoning NUL", good(reasoning=["a\x00"]), "reasoning[0]"),
    ("reasoning too large", good(reasoning=["x" * 600_000, "y" * 600_000]), "reasoning"),
    ("contextLayers negative", good(contextLayers=-1), "contextLayers"),
    ("contextLayers too large", good(contextLayers=10_001), "contextLayers"),
    ("contextLayers float", good(contextLayers=1.5), "contextLayers"),
    ("contextLayers bool", good(contextLayers=True), "contextLayers"),
    ("contextLayers string", good(contextLayers="3"), "contextLayers"),
    ("tokens not an object", good(tokens=[1, 2]), "tokens"),
    ("tokens negative", good(tokens={"prompt": -1, "completion": 0}), "tokens.prompt"),
    ("tokens huge", good(tokens={"prompt": 10**18, "completion": 0}), "tokens.prompt"),
    ("tokens float", good(tokens={"prompt": 1.5, "completion": 0}), "tokens.prompt"),
    (
        "tokens total disagrees",
        good(tokens={"prompt": 1, "completion": 1, "total": 3}),
        "tokens.total",
    ),
    ("tokens unknown key", good(tokens={"prompt": 1, "completion": 1, "input": 3}), "tokens.input"),
    (
        "cache exceeds prompt",
        good(tokens={"prompt": 1, "completion": 1, "cacheRead": 2}),
        "tokens.cacheRead",
    ),
    (
        "reasoning tokens exceed completion",
        good(tokens={"prompt": 1, "completion": 1, "reasoning": 2}),
        "tokens.reasoning",
    ),
    ("cost negative", good(cost={"prompt": -0.01, "completion": 0}), "cost.prompt"),
    ("cost NaN", good(cost={"prompt": float("nan"), "completion": 0}), "cost.prompt"),
    ("cost Infinity", good(cost={"prompt": float("inf"), "completion": 0}), "cost.prompt"),
    ("cost Decimal NaN", good(cost={"prompt": Decimal("NaN"), "completion": 0}), "cost.prompt"),
    ("cost huge", good(cost={"prompt": 1e300, "completion": 0}), "cost.prompt"),
    (
        "cost too precise",
        good(cost={"prompt": "0.0000000000000000001", "completion": 0}),
        "cost.prompt",
    ),
    ("cost not a number", good(cost={"prompt": "abc", "completion": 0}), "cost.prompt"),
    ("cost bool", good(cost={"prompt": True, "completion": 0}), "cost.prompt"),
    (
        "cost total disagrees",
        good(cost={"prompt": "0.1", "completion": "0.2", "total": "0.31"}),
        "cost.total",
    ),
    ("status unknown", good(status="done"), "status"),
    ("metadata not an object", good(metadata=["a"]), "metadata"),
    ("metadata nested", good(metadata={"a": {"b": 1}}), "metadata.a"),
    ("metadata too many keys", good(metadata={f"k{i}": i for i in range(65)}), "metadata"),
    ("metadata NaN", good(metadata={"a": float("nan")}), "metadata.a"),
    ("metadata NUL", good(metadata={"a": "x\x00"}), "metadata.a"),
    ("unknown field", good(foo=1), "foo"),
    ("server field id", good(id="x"), "id"),
    ("projectId mismatch", good(projectId="other"), "projectId"),
]


def _count(store: Store) -> int:
    return len(store.list_trails(TrailFilter("p1"), limit=1000).items)


def test_every_rule_names_its_field_and_writes_nothing(store: Store) -> None:
    store.store(good(messageId="existing"), project_id="p1")
    failures = []
    for name, data, field in BAD_TRAILS:
        try:
            store.store(data, project_id="p1")
        except ValidationError as e:
            if field not in e.fields:
                failures.append(f"{name}: expected {field!r} in {e.fields}")
        else:
            failures.append(f"{name}: accepted")
        if store.get("bad-1") is not None:
            failures.append(f"{name}: something was written")
    assert not failures, "\n".join(failures)
    assert _count(store) == 1


def test_store_many_rejects_bad_items_only(store: Store) -> None:
    results = store.store_many([good(messageId="ok-1"), good(messageId="", model="")], "p1")
    assert isinstance(results[1], ValidationError)
    assert set(results[1].fields) == {"messageId", "model"}
    assert _count(store) == 1


BAD_UPDATES: list[tuple[str, dict[str, Any], str]] = [
    ("immutable model", {"model": "x"}, "model"),
    ("immutable messageId", {"messageId": "x"}, "messageId"),
    ("status unknown", {"status": "archived"}, "status"),
    ("tokens null", {"tokens": None}, "tokens"),
    ("cost negative", {"cost": {"prompt": "-1", "completion": "0"}}, "cost.prompt"),
    ("reasoning bad item", {"reasoning": [None]}, "reasoning[0]"),
    ("metadata nested", {"metadata": {"a": [1]}}, "metadata.a"),
]


def test_bad_updates_name_the_field_and_change_nothing(store: Store) -> None:
    first = store.store(good(), project_id="p1")
    failures = []
    for name, fields, field in BAD_UPDATES:
        try:
            store.update("bad-1", **fields)
        except ValidationError as e:
            if field not in e.fields:
                failures.append(f"{name}: expected {field!r} in {e.fields}")
        else:
            failures.append(f"{name}: accepted")
    assert not failures, "\n".join(failures)
    assert store.get("bad-1") == first


def test_all_errors_are_reported_at_once(store: Store) -> None:
    with pytest.raises(ValidationError) as e:
        store.store(good(messageId="", model="", contextLayers=-1), project_id="p1")
    assert {"messageId", "model", "contextLayers"} <= set(e.value.fields)


def test_cleanup_rejects_bad_days(store: Store) -> None:
    store.store(good(timestamp=(datetime.now(UTC) - timedelta(days=30)).isoformat()), "p1")
    for days in (-1, "7", None.__class__, 10**9, True):
        with pytest.raises(ValidationError):
            store.cleanup(days)  # type: ignore[arg-type]
    assert store.get("bad-1") is not None
