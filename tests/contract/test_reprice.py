"""``reprice`` on every backend: computed and unpriced costs follow new prices, provided ones
never move, the window and model filters hold, ``dry_run`` writes nothing, and the analytics
aggregates equal a brute-force sum over the trails afterwards."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from llmtrail import NotFoundError, Store, TrailFilter
from llmtrail.pricing import make_pricer
from llmtrail.reprice import reprice

NOW = datetime.now(UTC).replace(microsecond=0)
SINCE = NOW - timedelta(days=3)
M = 1_000_000


def seed(store: Store) -> None:
    at = NOW - timedelta(hours=1)
    trails = [
        ("house-1", "house-model", {"prompt": M, "completion": M}, None, at),
        ("house-2", "house-model", {"prompt": 2 * M, "completion": 0}, None, at),
        ("gpt-1", "gpt-4o", {"prompt": 100_000, "completion": 10_000}, None, at),
        ("gpt-paid", "gpt-4o", {"prompt": 100_000, "completion": 0}, {"prompt": "7"}, at),
        ("gpt-old", "gpt-4o", {"prompt": 100_000, "completion": 0}, None, NOW - timedelta(10)),
        ("pending", "house-model", None, None, at),
    ]
    for mid, model, tokens, cost, ts in trails:
        data: dict[str, object] = {"messageId": mid, "model": model, "timestamp": ts}
        if tokens is not None:
            data["tokens"] = tokens
        if cost is not None:
            data["cost"] = cost
        store.store(data, "shop")
    store.store(
        {"messageId": "other", "model": "house-model", "tokens": {"prompt": 5, "completion": 5}},
        "elsewhere",
    )


@pytest.fixture
def price_file(tmp_path: Path) -> Path:
    path = tmp_path / "prices.json"
    path.write_text(
        '{"version": "contract-7", "models": {'
        '"house-model": {"input": "1", "output": "2"},'
        '"gpt-4o": {"input": "5", "output": "20"}}}'
    )
    return path


def _costs(store: Store) -> dict[str, tuple[str, str, str | None]]:
    out = {}
    for project in ("shop", "elsewhere"):
        for t in store.iter_trails(TrailFilter(project)):
            assert t.cost is not None and t.cost_source is not None
            out[t.message_id] = (format(t.cost.total, "f"), t.cost_source, t.price_version)
    return out


def _assert_analytics_exact(store: Store) -> None:
    since = NOW - timedelta(days=30)
    got = store.analytics("shop", since=since, until=NOW + timedelta(minutes=1))
    trails = list(store.iter_trails(TrailFilter("shop", since=since)))
    assert got.message_count == len(trails)
    assert got.total_cost == sum((t.cost.total for t in trails if t.cost), Decimal(0))
    by_model = {m.model: m.cost for m in got.cost_by_model}
    for name in {t.model for t in trails}:
        expected = sum((t.cost.total for t in trails if t.model == name and t.cost), Decimal(0))
        assert by_model.get(name, Decimal(0)) == expected


def test_reprice_follows_a_new_price_file_and_keeps_analytics_exact(
    open_backend: Callable[..., Store], price_file: Path
) -> None:
    store = open_backend()
    seed(store)
    store.pricer = make_pricer(price_file)  # new price data: an override file, a new dataset
    before = _costs(store)
    assert before["house-1"] == ("0", "unpriced", None)
    assert before["gpt-1"][1] == "computed" and before["gpt-1"][2].startswith("genai-prices-")

    dry = reprice(store, "shop", since=SINCE, dry_run=True)
    assert _costs(store) == before  # a dry run writes nothing
    assert dry.scanned == 5 and dry.provided == 1 and dry.changed == 3
    assert dry.models["house-model"].new_total == 5  # 1+2, then 2 (placeholder stays 0)
    assert dry.models["gpt-4o"].old_total == Decimal("0.35")  # 0.25 + 0.10
    assert dry.models["gpt-4o"].new_total == Decimal("0.7")  # 0.5 + 0.2

    done = reprice(store, "shop", since=SINCE)
    assert done.to_wire() == {**dry.to_wire(), "dryRun": False}
    after = _costs(store)
    assert after["house-1"] == ("3", "computed", "price-file-contract-7")
    assert after["house-2"] == ("2", "computed", "price-file-contract-7")
    assert after["gpt-1"] == ("0.7", "computed", "price-file-contract-7")
    assert after["gpt-paid"] == before["gpt-paid"] == ("7", "provided", None)
    assert after["gpt-old"] == before["gpt-old"]  # outside the window
    assert after["pending"] == ("0", "unpriced", None)  # no tokens yet: nothing to price
    assert after["other"] == before["other"]  # another project
    _assert_analytics_exact(store)

    again = reprice(store, "shop", since=SINCE)
    assert again.changed == 0  # idempotent


def test_reprice_one_model_and_a_window_end(
    open_backend: Callable[..., Store], price_file: Path
) -> None:
    store = open_backend()
    seed(store)
    store.pricer = make_pricer(price_file)
    report = reprice(store, "shop", since=SINCE, model="gpt-4o")
    assert set(report.models) == {"gpt-4o"} and report.changed == 1
    assert _costs(store)["house-1"][1] == "unpriced"
    nothing = reprice(store, "shop", since=SINCE, until=NOW - timedelta(hours=2))
    assert nothing.scanned == 0
    _assert_analytics_exact(store)


def test_reprice_of_an_unknown_project_is_not_found(open_backend: Callable[..., Store]) -> None:
    with pytest.raises(NotFoundError):
        reprice(open_backend(), "no-such-project", since=SINCE)
