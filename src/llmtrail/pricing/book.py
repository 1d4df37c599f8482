"""The price book stores use: the user's price file first, then the ``genai-prices`` dataset.

Each source finds a model (for a provider, when one is known) and says which rates were in
force at an instant; the first source that knows the model prices it, and ``priceVersion``
records which one did (``price-file-<version>`` or ``genai-prices-<version>``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from llmtrail.model.parse import PricedCost
from llmtrail.model.types import TokenUsage
from llmtrail.pricing.table import Rates


class PricedModel(Protocol):
    """A model as one price source knows it."""

    @property
    def name(self) -> str: ...

    @property
    def provider(self) -> str: ...

    def rates_for(
        self,
        prompt_tokens: int,
        at: datetime | None = None,
        context: Mapping[str, str] | None = None,
    ) -> Rates | None: ...

    def tiers_at(
        self, at: datetime | None = None, context: Mapping[str, str] | None = None
    ) -> list[tuple[int, Rates]]: ...


class PriceSource(Protocol):
    """Where prices come from: a price file (``PriceTable``) or the dataset."""

    @property
    def version(self) -> str: ...

    @property
    def source(self) -> str: ...

    def find(self, model: str, provider: str | None = None) -> PricedModel | None: ...


@dataclass(frozen=True, slots=True)
class Quote:
    """The price a model is charged at: which source, which entry, which rates."""

    model: str
    provider: str
    rates: Rates
    version: str
    source: str
    #: the rates from each long-context tier's start on (exclusive), base first as -1
    tiers: tuple[tuple[int, Rates], ...] = ()


class PriceBook:
    """Prices a trail from the first source that knows its model (it is a ``Pricer``)."""

    def __init__(self, sources: Sequence[PriceSource]) -> None:
        self.sources = tuple(sources)
        #: every source's version, most specific first (for logs and ``llmtrail prices``)
        self.version = "+".join(s.version for s in self.sources)

    def quote(
        self,
        model: str,
        provider: str | None = None,
        at: datetime | None = None,
        prompt_tokens: int = 0,
        context: Mapping[str, str] | None = None,
    ) -> Quote | None:
        """The price of ``model`` (served by ``provider``) at ``at`` for a request of
        ``prompt_tokens`` prompt tokens (in the price variant ``context`` names); None when
        no source knows it."""
        hit = self._lookup(model, provider, at, prompt_tokens, context)
        if hit is None:
            return None
        source, found, rates = hit
        tiers = tuple(found.tiers_at(at, context))
        return Quote(found.name, found.provider, rates, source.version, source.source, tiers)

    def __call__(
        self,
        model: str,
        tokens: TokenUsage,
        at: datetime,
        provider: str | None = None,
        context: Mapping[str, str] | None = None,
    ) -> PricedCost | None:
        if tokens.prompt == 0 and tokens.completion == 0:
            return None  # a placeholder: unpriced until its tokens arrive (SPEC §1)
        hit = self._lookup(model, provider, at, tokens.prompt, context)
        if hit is None:
            return None
        source, _, rates = hit
        return PricedCost(rates.cost(tokens), source.version)

    def _lookup(
        self,
        model: str,
        provider: str | None,
        at: datetime | None,
        prompt_tokens: int,
        context: Mapping[str, str] | None,
    ) -> tuple[PriceSource, PricedModel, Rates] | None:
        for source in self.sources:
            found = source.find(model, provider)
            if found is None:
                continue
            rates = found.rates_for(prompt_tokens, at, context)
            if rates is not None:
                return source, found, rates
        return None
