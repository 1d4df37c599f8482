"""Library-level bounds from issue 11: huge numbers, the memory backend's reach."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest

import llmtrail
from llmtrail.config import load_settings
from llmtrail.model.wire import loads


def _finishes(fn: Any, seconds: float = 2.0) -> Any:
    """``fn()``'s result, asserting it took less than ``seconds`` (it used to take ~37 s)."""
    out: list[Any] = []
    worker = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds} s"
    return out[0]


@pytest.mark.parametrize(
    "field",
    ["contextLayers", "tokens.prompt", "tokens.completion", "tokens.cacheRead", "tokens.total"],
)
@pytest.mark.parametrize("number", ["1e1000000", "-1e1000000", "1E+999999999"])
def test_huge_exponents_are_rejected_without_being_expanded(field: str, number: str) -> None:
    store = llmtrail.open_store("memory://")
    data: dict[str, Any] = {
        "messageId": "x",
        "model": "m",
        "tokens": {"prompt": 1, "completion": 1},
    }
    head, _, tail = field.partition(".")
    if tail:
        data["tokens"] = {**data["tokens"], tail: loads(number)}
    else:
        data[head] = loads(number)

    def attempt() -> list[str]:
        with pytest.raises(llmtrail.ValidationError) as e:
            store.store(data, project_id="p")
        return e.value.fields

    assert field in _finishes(attempt)
    assert store.get("x") is None


def test_large_but_valid_integers_still_pass() -> None:
    store = llmtrail.open_store("memory://")
    t = store.store(
        {
            "messageId": "ok",
            "model": "m",
            "contextLayers": Decimal("1E+4"),
            "tokens": {"prompt": Decimal("1e9"), "completion": 0},
        },
        project_id="p",
    )
    assert t.context_layers == 10_000 and t.tokens.prompt == 1_000_000_000


def test_memory_bound_covers_projects_and_keys() -> None:
    store = llmtrail.open_store("memory://", settings=load_settings(memory_max_entries=100))
    for i in range(5_000):
        store.store({"messageId": f"m{i}", "model": "m"}, project_id=f"p{i}")
    assert len(store.list_projects()) <= 100
    assert len(store.all_trails()) <= 100  # type: ignore[attr-defined]
    # projects that still hold trails are the ones kept
    assert {t.project_id for t in store.all_trails()} <= {p.id for p in store.list_projects()}  # type: ignore[attr-defined]
    store.create_project("keyed")
    for _ in range(150):
        store.create_api_key("keyed")
    assert len(store.list_api_keys("keyed")) <= 100
