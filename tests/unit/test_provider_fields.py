"""``provider`` and ``tokens.cacheWrite1h`` (SPEC §1): validation, wire shape, pricing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from llmtrail.errors import ValidationError
from llmtrail.model import parse_trail, same_content, trail_to_wire
from llmtrail.pricing import make_pricer

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PRICER = make_pricer()


def trail(**fields: Any) -> Any:
    data = {"messageId": "m", "model": "claude-sonnet-4-5", **fields}
    return parse_trail(data, "p1", now=NOW, pricer=PRICER).trail


@pytest.mark.parametrize("name", ["openai", "anthropic", "aws-bedrock", "gcp.vertex_ai", "x" * 64])
def test_provider_names_as_opentelemetry_writes_them(name: str) -> None:
    assert trail(provider=name).provider == name
    assert trail_to_wire(trail(provider=name))["provider"] == name


def test_provider_defaults_to_null() -> None:
    t = trail()
    assert t.provider is None and trail_to_wire(t)["provider"] is None
    assert trail(provider=None).provider is None


@pytest.mark.parametrize("bad", ["", "OpenAI", "open ai", "a/b", "x" * 65, 42, ["openai"], "é"])
def test_bad_provider_is_a_422_naming_the_field(bad: object) -> None:
    with pytest.raises(ValidationError) as e:
        trail(provider=bad)
    assert e.value.fields == ["provider"]


def test_cache_write_1h_is_part_of_cache_write() -> None:
    tokens = {"prompt": 100, "completion": 1, "cacheWrite": 50, "cacheWrite1h": 50}
    t = trail(tokens=tokens)
    assert t.tokens.cache_write_1h == 50
    assert trail_to_wire(t)["tokens"]["cacheWrite1h"] == 50
    assert "cacheWrite1h" not in trail_to_wire(trail(tokens={"prompt": 1}))["tokens"]


@pytest.mark.parametrize(
    "tokens",
    [
        {"prompt": 100, "cacheWrite": 10, "cacheWrite1h": 11},
        {"prompt": 100, "cacheWrite1h": 1},
        {"prompt": 100, "cacheWrite": 10, "cacheWrite1h": -1},
        {"prompt": 100, "cacheWrite": 10, "cacheWrite1h": "5"},
        {"prompt": 100, "cacheWrite": 10, "cacheWrite1h": 1.5},
    ],
)
def test_bad_cache_write_1h_is_a_422_naming_the_field(tokens: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as e:
        trail(tokens=tokens)
    assert e.value.fields == ["tokens.cacheWrite1h"]


def test_every_bad_field_is_named_at_once() -> None:
    with pytest.raises(ValidationError) as e:
        trail(provider="Bad!", contextLayers=-1, tokens={"prompt": 1, "cacheWrite1h": 1})
    assert set(e.value.fields) == {"provider", "contextLayers", "tokens.cacheWrite1h"}


def test_one_hour_writes_are_priced_at_their_own_rate() -> None:
    # claude-sonnet-4-5, $3/M input: 1M 5-minute writes $3.75, 1M 1-hour writes $6.00
    five = trail(tokens={"prompt": 10**5, "cacheWrite": 10**5})
    hour = trail(tokens={"prompt": 10**5, "cacheWrite": 10**5, "cacheWrite1h": 10**5})
    assert five.cost.total * 10 == Decimal("3.75") and hour.cost.total * 10 == 6
    assert hour.cost_source == "computed" and hour.price_version.startswith("genai-prices-")


def test_the_provider_picks_the_price() -> None:
    model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    bedrock = trail(model=model, provider="aws.bedrock", tokens={"prompt": 10**5})
    assert bedrock.cost.total == Decimal("0.33")  # Bedrock's regional endpoint: 1.1 × $3/M


def test_same_content_compares_the_provider_when_sent() -> None:
    first = parse_trail({"messageId": "m", "model": "x", "provider": "openai"}, "p", now=NOW)
    again = parse_trail({"messageId": "m", "model": "x", "provider": "openai"}, "p", now=NOW)
    other = parse_trail({"messageId": "m", "model": "x", "provider": "azure"}, "p", now=NOW)
    assert same_content(first.trail, again) and not same_content(first.trail, other)


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        (None, "0.01125"),  # gpt-5: $1.25 in, $10 out
        ({"llm.service_tier": "flex"}, "0.005625"),  # half price
        ({"llm.service_tier": "priority"}, "0.0225"),  # twice
        ({"llm.processing": "batch"}, "0.005625"),
        ({"llm.service_tier": "no-such-tier"}, "0.01125"),
        ({"llm.service_tier": 3}, "0.01125"),  # not a tier name: the standard price
    ],
)
def test_the_service_tier_in_metadata_picks_the_price_variant(
    metadata: dict[str, object] | None, expected: str
) -> None:
    t = trail(model="gpt-5", tokens={"prompt": 1_000, "completion": 1_000}, metadata=metadata)
    assert format(t.cost.total, "f") == expected


def test_an_update_with_tokens_and_a_tier_prices_at_that_tier() -> None:
    from llmtrail.model import apply_update, parse_update

    placeholder = trail(model="gpt-5", status="pending")
    done = apply_update(
        placeholder,
        parse_update(
            {
                "tokens": {"prompt": 1_000, "completion": 1_000},
                "metadata": {"llm.service_tier": "flex"},
                "status": "completed",
            }
        ),
        now=NOW,
        pricer=PRICER,
    )
    assert format(done.cost.total, "f") == "0.005625" and done.cost_source == "computed"


def test_the_model_that_answered_prices_the_call_when_it_has_a_price() -> None:
    tokens = {"prompt": 1_000, "completion": 1_000}
    asked = trail(model="gpt-4o", tokens=tokens)
    assert format(asked.cost.total, "f") == "0.0125"  # $2.50 + $10
    answered = trail(
        model="gpt-4o", tokens=tokens, metadata={"llm.response_model": "gpt-4o-2024-05-13"}
    )
    assert format(answered.cost.total, "f") == "0.02"  # that snapshot's $5 + $15
    unknown = trail(model="gpt-4o", tokens=tokens, metadata={"llm.response_model": "my-proxy"})
    assert format(unknown.cost.total, "f") == "0.0125"  # no price for it: the model asked for
