"""Prices from pydantic's ``genai-prices`` dataset: many providers, historic prices, tiers.

The dataset finds the model (and its provider) and says which prices were in force at an
instant; the cost itself is computed by ``table.Rates``, exactly as for an override file, so
every source prices tokens by the same rule (and ~50× faster than the dataset's general
calculator, which also handles audio, images and per-request fees that trails do not carry).

Look-ups are cached here, in a bounded LRU: the dataset's own look-up caches keep every model
name they were ever asked about, which a stream of made-up names would grow without end.

The package is imported on the first look-up, not when a store opens (~100 ms: a process that
only reads, or a server starting, does not pay for it).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from importlib.metadata import version as package_version
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from genai_prices import types as gp

from llmtrail.model.rules import plain
from llmtrail.pricing.table import MAX_PRICE_PLACES, Rates

NAME = "genai-prices"
#: OpenTelemetry ``gen_ai.provider.name`` values the dataset does not recognise by itself
_PROVIDER_ALIASES = {
    "x_ai": "x-ai",
    "azure.ai.inference": "azure",
    "azure.ai.openai": "azure",
    "aws_bedrock": "aws",
    "mistralai": "mistral",
}


@dataclass(frozen=True, slots=True)
class DatasetModel:
    """One model of the dataset as one provider sells it."""

    name: str
    provider: str
    info: gp.ModelInfo
    #: the provider lists the model itself (not through another provider's list): only then
    #: do its price variants (service tiers) apply, as genai-prices' own calculator has it
    own: bool = True

    def rates_for(
        self,
        prompt_tokens: int,
        at: datetime | None = None,
        context: Mapping[str, str] | None = None,
    ) -> Rates | None:
        """The rates in force at ``at`` (now if None) for a request of ``prompt_tokens`` in the
        variant ``context`` names (``{"service_tier": "flex"}``: the dataset's own keys);
        None if the model has no token prices (an audio- or image-only model)."""
        rates = None
        for start, tier_rates in self.tiers_at(
            at, context
        ):  # ascending: the last one exceeded applies
            if rates is None or prompt_tokens > start:
                rates = tier_rates
        return rates

    def tiers_at(
        self, at: datetime | None = None, context: Mapping[str, str] | None = None
    ) -> list[tuple[int, Rates]]:
        """The token rates in force at ``at`` from each tier's start on (exclusive), ascending,
        the base rates first as ``(-1, rates)``; empty without token prices."""
        when = at or datetime.now(UTC)
        if context and self.info.price_variants and self.own:
            # a variant's prices are a fresh object each time: worked out, not cached
            return token_tiers(self.info.get_prices(when, dict(context)))
        prices = self.info.get_prices(when)
        cached = _TIERS.get(id(prices))
        if cached is None or cached[0] is not prices:
            cached = _TIERS[id(prices)] = (prices, token_tiers(prices))
        return cached[1]


class DatasetPrices:
    """The ``genai-prices`` data shipped with the installed package (a price source)."""

    def __init__(self) -> None:
        # the package's version from its metadata: no import of the package itself
        self.version = f"{NAME}-{package_version('genai-prices')}"
        self.source = (
            f"{NAME} {package_version('genai-prices')} (https://github.com/pydantic/genai-prices)"
        )
        self.find = functools.lru_cache(maxsize=4096)(self._find)

    @functools.cached_property
    def _providers(self) -> list[gp.Provider]:
        from genai_prices.data_snapshot import get_snapshot

        return get_snapshot().providers

    def _find(self, model: str, provider: str | None = None) -> DatasetModel | None:
        """``model`` as ``provider`` sells it, else as whichever provider the name points to
        (a gateway or an unknown provider is priced at the model's list price)."""
        if not isinstance(model, str):
            return None
        name = model.strip().lower()
        if not name or name.startswith("ft:"):
            return None  # fine-tuned models have their own, higher prices
        found = self._in(self._provider(provider), name) if provider else None
        head, sep, rest = name.partition("/")
        if found is None and sep and rest:  # "openai/gpt-4o", as LiteLLM writes it
            found = self._in(self._provider(head), rest)
        for candidate in self._providers:
            if found is not None:
                break
            match = candidate.model_match
            if match is not None and match.is_match(name):
                found = self._in(candidate, name)
        if found is None and "." in name:  # Bedrock ids ("us.anthropic.claude-…-v1:0")
            found = self._in(self._provider("aws"), name)
        return found

    def _in(self, provider: gp.Provider | None, name: str) -> DatasetModel | None:
        if provider is None:
            return None
        info = provider.find_model(name, all_providers=self._providers)
        if info is None:
            return None
        own = any(info is m for m in provider.models)
        return DatasetModel(info.id, provider.id, info, own)

    def canonical_provider(self, name: str) -> str:
        """The dataset's id of a provider name (``aws.bedrock``, ``aws-bedrock`` → ``aws``), or
        the name itself when the dataset does not know it."""
        found = self._provider(name)
        return found.id if found is not None else name.strip().lower()

    def _provider(self, name: str) -> gp.Provider | None:
        from genai_prices.data_snapshot import find_provider_by_id

        name = name.strip().lower()
        return find_provider_by_id(self._providers, _PROVIDER_ALIASES.get(name, name))


# The dataset's price objects are static, so their token tiers are worked out once each (the
# object is kept beside them: an id is only unique while its object lives).
_TIERS: dict[int, tuple[gp.ModelPrice, list[tuple[int, Rates]]]] = {}


_PLACES = Decimal(1).scaleb(-MAX_PRICE_PLACES)


def _exact(price: Decimal | None) -> Decimal | None:
    """A dataset price as llmtrail keeps prices: at most 12 decimal places per million tokens
    (a few dataset prices carry binary-float noise, ``0.18000000000000002``), so every cost
    has at most 18 places and stores exactly in ``NUMERIC(38,18)`` everywhere."""
    if price is None:
        return None
    exponent = price.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_PRICE_PLACES:
        price = price.quantize(_PLACES)
    return plain(price)


def token_tiers(prices: gp.ModelPrice) -> list[tuple[int, Rates]]:
    """The token rates of ``prices`` from each tier's start on, ascending (``(-1, base)``
    first); empty if it has no token prices. A tier applies to the whole request once the
    prompt exceeds its start, as the dataset and the providers have it."""
    from genai_prices.types import TieredPrices

    starts = {-1}
    for value in vars(prices).values():
        if isinstance(value, TieredPrices):
            starts.update(t.start for t in value.tiers)
    out = []
    for start in sorted(starts):
        rates = token_rates(prices, start + 1)
        if rates is not None:
            out.append((start, rates))
    return out


def token_rates(prices: gp.ModelPrice, prompt_tokens: int) -> Rates | None:
    """The token rates of ``prices`` for a request of ``prompt_tokens``."""
    from genai_prices.types import TieredPrices

    def get(key: str) -> Decimal | None:
        return _exact(_raw(key))

    def _raw(key: str) -> Decimal | None:
        value = vars(prices).get(key)
        if isinstance(value, TieredPrices):
            applicable = value.base
            for tier in value.tiers:  # sorted by start
                if prompt_tokens > tier.start:
                    applicable = tier.price
            return applicable
        return value if isinstance(value, Decimal) else None

    inp, out = get("input_mtok"), get("output_mtok")
    if inp is None and out is None:
        return None
    inp = inp if inp is not None else Decimal(0)
    out = out if out is not None else Decimal(0)
    cache_read, cache_write = get("cache_read_mtok"), get("cache_write_mtok")
    reasoning = get("output_reasoning_mtok")
    return Rates(
        input=inp,
        output=out,
        cache_read=inp if cache_read is None else cache_read,
        cache_write=inp if cache_write is None else cache_write,
        reasoning=out if reasoning is None else reasoning,
        cache_write_1h=get("cache_write_1h_mtok"),
    )
