"""Stores price trails with the bundled table: computed/unpriced/provided, version, re-pricing."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

import llmtrail
from llmtrail import Store
from llmtrail.pricing import make_pricer


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "memory":
        url = "memory://"
    elif request.param == "sqlite":
        url = request.getfixturevalue("sqlite_url")
    else:
        url = request.getfixturevalue("pg_url")
    s = llmtrail.open_store(url)
    yield s
    s.close()


def test_tokens_without_cost_are_computed_with_the_table_version(store: Store) -> None:
    t = store.store(
        {
            "messageId": "m1",
            "model": "claude-3-7-sonnet-20250219",
            "tokens": {
                "prompt": 24_000,
                "completion": 500,
                "cacheRead": 20_000,
                "cacheWrite": 3_000,
            },
        },
        "p",
    )
    assert t.cost_source == "computed"
    assert t.price_version == make_pricer().version
    assert t.cost is not None and t.cost.total == Decimal("0.02775")
    again = store.get("m1")
    assert again is not None
    assert again.cost == t.cost and again.cost_source == "computed"
    assert again.price_version == make_pricer().version


def test_unknown_model_is_unpriced(store: Store) -> None:
    t = store.store(
        {"messageId": "m2", "model": "mystery-9000", "tokens": {"prompt": 5, "completion": 5}}, "p"
    )
    assert t.cost_source == "unpriced" and t.price_version is None
    assert t.cost is not None and t.cost.total == 0


def test_provided_cost_wins(store: Store) -> None:
    t = store.store(
        {
            "messageId": "m3",
            "model": "gpt-4o",
            "tokens": {"prompt": 5, "completion": 5},
            "cost": {"prompt": "0.1", "completion": "0.2"},
        },
        "p",
    )
    assert t.cost_source == "provided" and t.cost is not None and t.cost.total == Decimal("0.3")


def test_placeholder_is_repriced_when_tokens_arrive(store: Store) -> None:
    p = store.create_placeholder("m4", "o4-mini", 2, "p")
    assert p.cost_source == "unpriced" and p.status == "pending"
    t = store.update(
        "m4", tokens={"prompt": 1_200, "completion": 5_000, "reasoning": 4_000}, status="completed"
    )
    assert t.cost_source == "computed" and t.cost is not None
    assert t.cost.total == Decimal("0.02332")


def test_open_store_reads_the_price_file_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"version": "v9", "models": {"house-model": {"input": "1", "output": "3"}}}')
    monkeypatch.setenv("AUDIT_TRAIL_PRICE_FILE", str(path))
    with llmtrail.open_store("memory://") as s:
        t = s.store(
            {
                "messageId": "x",
                "model": "house-model",
                "tokens": {"prompt": 10**6, "completion": 10**6},
            },
            "p",
        )
    assert t.cost is not None and t.cost.total == 4
    assert t.price_version == "price-file-v9"
