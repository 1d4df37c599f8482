"""Prices by provider: 1-hour cache writes, Bedrock, Google tiers, provider-qualified names,
the price in force at a trail's timestamp, overrides scoped to a provider, and agreement with
the dataset's own calculator."""

from __future__ import annotations

import random
import warnings
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from genai_prices import Usage
from genai_prices import types as gp
from genai_prices.data import providers

from llmtrail import TokenUsage
from llmtrail.pricing import dataset, make_pricer

T = make_pricer()
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
M = 1_000_000


def total(model: str, tokens: TokenUsage, provider: str | None = None, at: datetime = NOW) -> str:
    priced = T(model, tokens, at, provider=provider)
    assert priced is not None, (model, provider)
    return format(priced.cost.total, "f")


def test_anthropic_one_hour_cache_writes_cost_twice_input_five_minute_ones_1_25x() -> None:
    # claude-sonnet-4-5 at $3/M input: 5-minute writes $3.75/M, 1-hour writes $6/M
    assert total("claude-sonnet-4-5", TokenUsage(M // 10, 0, cache_write=M // 10)) == "0.375"
    one_hour = TokenUsage(M // 10, 0, cache_write=M // 10, cache_write_1h=M // 10)
    assert total("claude-sonnet-4-5", one_hour) == "0.6"
    # a mix: 40k plain input, 10k cache reads, 30k 5-minute and 20k 1-hour writes, 1k output
    # 40000*3 + 10000*0.30 + 30000*3.75 + 20000*6 = 120000 + 3000 + 112500 + 120000 = 355500
    # + 1000 * 15 = 15000  -> $0.3705
    mix = TokenUsage(100_000, 1_000, cache_read=10_000, cache_write=50_000, cache_write_1h=20_000)
    assert total("claude-sonnet-4-5-20250929", mix) == "0.3705"


def test_one_hour_writes_above_200k_use_the_long_context_rates() -> None:
    # > 200k prompt: input $6, 1-hour writes $12, output $22.50
    tokens = TokenUsage(300_000, 1_000, cache_write=100_000, cache_write_1h=100_000)
    # 200000*6 + 100000*12 = 2.4M -> $2.4; 1000*22.5 -> $0.0225
    assert total("claude-sonnet-4-5", tokens) == "2.4225"


def test_bedrock_regional_endpoints_cost_ten_percent_more_global_ones_do_not() -> None:
    tokens = TokenUsage(M, 0)
    regional = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert total(regional, tokens, provider="aws.bedrock") == "3.3"
    assert total(regional, tokens) == "3.3"  # the id alone says Bedrock
    assert total("global.anthropic.claude-sonnet-4-5-20250929-v1:0", tokens) == "3"
    quote = T.quote(regional, "aws-bedrock", NOW)
    assert quote is not None and quote.provider == "aws"


@pytest.mark.parametrize("provider", ["google", "gcp.gemini", "gcp.vertex_ai"])
def test_google_gemini_long_context_tier(provider: str) -> None:
    # gemini-2.5-pro: $1.25 in / $10 out up to 200k prompt tokens, $2.50 / $15 above
    assert total("gemini-2.5-pro", TokenUsage(100_000, 10_000), provider) == "0.225"
    assert total("gemini-2.5-pro", TokenUsage(300_000, 10_000), provider) == "0.9"


@pytest.mark.parametrize(
    ("model", "provider", "expected"),
    [
        ("gpt-5", None, "1.125"),  # $1.25 + $10
        ("gpt-5.2", "openai", "1.575"),  # $1.75 + $14
        ("claude-opus-4-6", "anthropic", "3"),  # $5 + $25
        ("claude-sonnet-4-6", None, "1.8"),  # $3 + $15
        ("o4-mini", None, "0.55"),  # $1.10 + $4.40
        ("grok-4", "x_ai", "1.8"),  # $3 + $15
        ("mistral-large-latest", "mistral_ai", "0.8"),  # $2 + $6
    ],
)
def test_models_the_old_hand_kept_table_did_not_know(
    model: str, provider: str | None, expected: str
) -> None:
    # 100k in + 100k out: below every long-context tier
    assert total(model, TokenUsage(M // 10, M // 10), provider) == expected


def test_provider_qualified_names_and_unknown_providers() -> None:
    tokens = TokenUsage(M // 10, M // 10)
    assert total("openai/gpt-4o", tokens) == total("gpt-4o", tokens) == "1.25"
    assert total("anthropic/claude-sonnet-4-5", tokens) == "1.8"
    # a gateway we do not know is priced at the model's list price, not left unpriced
    assert total("gpt-4o", tokens, provider="acme-gateway") == "1.25"
    # a known provider that does not list the model: the model's own price
    assert total("claude-sonnet-4-5", tokens, provider="aws-bedrock") == "1.8"


def test_the_price_in_force_at_the_trail_timestamp() -> None:
    # o3 cost $10/$40 until its price cut on 2025-06-10, $2/$8 since
    tokens = TokenUsage(M, M)
    assert total("o3", tokens, at=datetime(2025, 6, 1, tzinfo=UTC)) == "50"
    assert total("o3", tokens, at=datetime(2025, 6, 11, tzinfo=UTC)) == "10"


def test_a_price_file_entry_can_be_scoped_to_one_provider(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(
        '{"version": "azure-1", "models": {"gpt-4o": {"provider": "azure", '
        '"input": "2", "output": "9", "cache_write_1h": "4"}}}'
    )
    book = make_pricer(path)
    on_azure = book("gpt-4o", TokenUsage(M, M), NOW, provider="azure")
    assert on_azure is not None and on_azure.cost.total == 11
    assert on_azure.version == "price-file-azure-1"
    elsewhere = book("gpt-4o", TokenUsage(M, M), NOW, provider="openai")
    assert elsewhere is not None and elsewhere.cost.total == Decimal("12.5")
    assert elsewhere.version.startswith("genai-prices-")


def test_a_price_file_may_set_the_one_hour_write_price(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[models.house]\ninput = "1"\noutput = "2"\ncache_write = "1.25"\n')
    tokens = TokenUsage(M, 0, cache_write=M, cache_write_1h=M)
    priced = make_pricer(path)("house", tokens, NOW)
    assert priced is not None and priced.cost.total == Decimal("1.25")  # 1h defaults to it
    path.write_text(path.read_text() + 'cache_write_1h = "2"\n')
    priced = make_pricer(path)("house", tokens, NOW)
    assert priced is not None and priced.cost.total == 2


def test_made_up_model_names_do_not_grow_any_cache_without_bound() -> None:
    source = dataset()
    before = source.find.cache_info().currsize
    for i in range(5_000):
        assert source.find(f"made-up-{i}", None) is None
    assert source.find.cache_info().currsize <= source.find.cache_info().maxsize
    assert before <= source.find.cache_info().maxsize


_TOKEN_KEYS = (
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "cache_write_1h_mtok",
    "output_reasoning_mtok",
)


def _text_only(prices: gp.ModelPrice) -> gp.ModelPrice:
    return gp.ModelPrice(**{k: v for k, v in vars(prices).items() if k in _TOKEN_KEYS})


def test_costs_equal_the_dataset_calculator_for_every_findable_model() -> None:
    """Our exact arithmetic (``Rates.cost``) agrees with genai-prices' own calculator, to the
    last digit, on thousands of usage shapes across every provider's models."""
    rnd = random.Random(14)
    compared = noisy = 0
    for provider in providers:
        for info in provider.models:
            found = dataset().find(info.id, provider.id)
            if found is None or found.info is not info:
                continue  # an id the match rules do not accept as a name
            for _ in range(2):
                prompt = rnd.choice([10, 1_000, 150_000, 250_000, 1_200_000])
                read = rnd.randint(0, prompt // 3)
                write = rnd.randint(0, prompt // 3)
                write_1h = rnd.randint(0, write)
                completion = rnd.randint(0, 5_000)
                reasoning = rnd.randint(0, completion)
                rates = found.rates_for(prompt, NOW)
                if rates is None:
                    continue
                if _has_float_noise(info.get_prices(NOW)):
                    noisy += 1  # llmtrail keeps 12 places of such prices: a cent's billionth
                    continue
                tokens = TokenUsage(prompt, completion, None, read, write, reasoning, write_1h)
                usage = Usage(
                    input_tokens=prompt,
                    output_tokens=completion,
                    cache_read_tokens=read,
                    cache_write_tokens=write,
                    cache_write_1h_tokens=write_1h,
                    output_reasoning_tokens=reasoning,
                )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    theirs = _text_only(info.get_prices(NOW)).calc_price(usage)["total_price"]
                assert rates.cost(tokens).total == theirs, (provider.id, info.id, tokens)
                compared += 1
    assert compared > 2_000 and noisy < compared // 20


def _has_float_noise(prices: gp.ModelPrice) -> bool:
    for key, value in vars(prices).items():
        if key not in _TOKEN_KEYS:
            continue
        for price in (
            [value.base, *(t.price for t in value.tiers)]
            if isinstance(value, gp.TieredPrices)
            else [value]
        ):
            exponent = price.as_tuple().exponent
            if isinstance(exponent, int) and exponent < -12:
                return True
    return False


def test_dataset_prices_with_float_noise_still_give_costs_every_backend_stores_exactly() -> None:
    # this dataset entry is 0.18000000000000002 per million: kept to 12 places, 0.18
    quote = T.quote("Qwen/Qwen3-VL-8B-Instruct", "huggingface_together", NOW)
    assert quote is not None and quote.rates.input == Decimal("0.18")
    priced = T("Qwen/Qwen3-VL-8B-Instruct", TokenUsage(1001, 3), NOW, "huggingface_together")
    assert priced is not None
    for value in (priced.cost.prompt, priced.cost.completion, priced.cost.total):
        exponent = value.as_tuple().exponent
        assert isinstance(exponent, int) and exponent >= -18


def test_service_tiers_apply_only_to_a_providers_own_models() -> None:
    tokens, at = TokenUsage(1_000, 1_000), datetime(2026, 12, 1, tzinfo=UTC)  # tiers since Oct
    tier = {"service_tier": "priority"}
    openai_priority = T("gpt-5", tokens, at, provider="openai", context=tier)
    azure_priority = T("gpt-5", tokens, at, provider="azure", context=tier)  # via openai's list
    standard = T("gpt-5", tokens, at, provider="azure")
    assert openai_priority is not None and azure_priority is not None and standard is not None
    assert openai_priority.cost.total == 2 * standard.cost.total
    assert azure_priority.cost.total == standard.cost.total  # as genai-prices' calculator says


@pytest.mark.parametrize("spelling", ["aws-bedrock", "aws.bedrock", "aws", "bedrock"])
def test_a_price_file_provider_matches_every_spelling_of_it(tmp_path: Path, spelling: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(
        '{"models": {"house": {"provider": "aws-bedrock", "input": "1", "output": "1"}}}'
    )
    priced = make_pricer(path)("house", TokenUsage(M, 0), NOW, provider=spelling)
    assert priced is not None and priced.cost.total == 1
    assert make_pricer(path)("house", TokenUsage(M, 0), NOW, provider="openai") is None
