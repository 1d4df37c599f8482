"""Price tables in llmtrail's file format (``AUDIT_TRAIL_PRICE_FILE``) and exact cost arithmetic.

Prices are USD per 1,000,000 tokens, written as decimal strings, and every computation is
exact ``Decimal`` arithmetic. Token semantics follow SPEC §1: ``prompt`` includes cache reads
and writes, ``completion`` includes reasoning tokens, ``cache_write`` includes the 1-hour
writes, so each token is priced exactly once::

    prompt cost     = (prompt - cache_read - cache_write) * input
                      + cache_read * cache_read_price
                      + (cache_write - cache_write_1h) * cache_write_price
                      + cache_write_1h * cache_write_1h_price
    completion cost = (completion - reasoning) * output + reasoning * reasoning_price

An unset ``cache_read``/``cache_write`` price is the input price, an unset ``cache_write_1h``
the ``cache_write`` price, an unset ``reasoning`` the output price (as the providers bill them).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

from llmtrail.errors import AuditTrailError
from llmtrail.model import rules
from llmtrail.model.parse import PricedCost
from llmtrail.model.types import Cost, TokenUsage

MILLION = Decimal(1_000_000)
#: at most this many decimal places per million tokens, so a cost has at most 18 places
MAX_PRICE_PLACES = 12
MAX_PRICE = Decimal(1_000_000)
COST_PLACES = Decimal(1).scaleb(-18)
_RATE_KEYS = ("input", "output", "cache_read", "cache_write", "cache_write_1h", "reasoning")
_MODEL_KEYS = {*_RATE_KEYS, "provider", "aliases", "tiers", "history", "note"}
_DATE_SUFFIX = re.compile(r"(?:-\d{4}-\d{2}-\d{2}|-\d{8}|@\d{8})$")
_PREFIX = re.compile(r"^(?:openai/|anthropic/|(?:[a-z]{2,4}\.)?anthropic\.)")
_BEDROCK_VERSION = re.compile(r"-v\d+(?::\d+)?$")


class PriceFileError(AuditTrailError, ValueError):
    """A price file is malformed; the message names the file and the offending entry."""


@dataclass(frozen=True, slots=True)
class Rates:
    """Prices of one model (USD per million tokens) for each kind of token."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal
    reasoning: Decimal
    cache_write_1h: Decimal | None = None  # None: the cache_write price

    def cost(self, tokens: TokenUsage) -> Cost:
        """The exact cost of ``tokens`` at these rates (each token counted once)."""
        cache_read = tokens.cache_read or 0
        cache_write = tokens.cache_write or 0
        write_1h = min(tokens.cache_write_1h or 0, cache_write)
        reasoning = tokens.reasoning or 0
        plain_input = max(tokens.prompt - cache_read - cache_write, 0)
        plain_output = max(tokens.completion - reasoning, 0)
        price_1h = self.cache_write if self.cache_write_1h is None else self.cache_write_1h
        with localcontext() as ctx:
            ctx.prec = 80
            prompt = (
                plain_input * self.input
                + cache_read * self.cache_read
                + (cache_write - write_1h) * self.cache_write
                + write_1h * price_1h
            ) / MILLION
            completion = (plain_output * self.output + reasoning * self.reasoning) / MILLION
            # Prices have at most 12 places, so these have at most 18 and this changes
            # nothing; it guarantees a cost every backend stores exactly (NUMERIC(38,18)).
            prompt, completion = prompt.quantize(COST_PLACES), completion.quantize(COST_PLACES)
            total = prompt + completion
        return Cost(rules.plain(prompt), rules.plain(completion), rules.plain(total))


@dataclass(frozen=True, slots=True)
class Tier:
    """Rates that apply to a whole request once its prompt exceeds ``above_prompt_tokens``."""

    above_prompt_tokens: int
    rates: Rates


@dataclass(frozen=True, slots=True)
class Period:
    """Rates and tiers that applied before ``until`` (a past price of a model)."""

    until: datetime
    rates: Rates
    tiers: tuple[Tier, ...] = ()


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One model's prices: current rates, long-context tiers and earlier periods."""

    name: str
    provider: str
    rates: Rates
    tiers: tuple[Tier, ...] = ()
    history: tuple[Period, ...] = ()

    def rates_for(
        self,
        prompt_tokens: int,
        at: datetime | None = None,
        context: Mapping[str, str] | None = None,
    ) -> Rates:
        """The rates of a request with ``prompt_tokens`` prompt tokens made at ``at`` (a price
        file has no variants: ``context`` is ignored)."""
        rates = self.rates
        for start, tier_rates in self.tiers_at(at):
            if prompt_tokens > start:
                rates = tier_rates
        return rates

    def tiers_at(
        self, at: datetime | None = None, context: Mapping[str, str] | None = None
    ) -> list[tuple[int, Rates]]:
        """The rates in force at ``at`` from each tier's start on (exclusive), ascending,
        the base rates first as ``(-1, rates)``."""
        rates, tiers = self.rates, self.tiers
        if at is not None:
            for period in self.history:
                if at < period.until:
                    rates, tiers = period.rates, period.tiers
                    break
        ordered = sorted(tiers, key=lambda t: t.above_prompt_tokens)
        return [(-1, rates), *((t.above_prompt_tokens, t.rates) for t in ordered)]


@dataclass(frozen=True)
class PriceTable:
    """A versioned price table; calling it prices a trail (it is a ``Pricer``).

    A model entry with a ``provider`` applies to calls of that provider (or of no known
    provider); an entry without one applies to every provider.
    """

    version: str
    source: str
    as_of: str
    models: Mapping[str, ModelPrice]
    aliases: Mapping[str, str] = field(default_factory=dict)
    #: how provider names compare (``aws.bedrock`` and ``aws-bedrock`` are one provider)
    canonical: Callable[[str], str] = str.lower

    def find(self, model: str, provider: str | None = None) -> ModelPrice | None:
        """The prices of ``model``: exact name, alias, or the name without a date suffix."""
        if not isinstance(model, str):
            return None
        name = model.strip().lower()
        if name.startswith("ft:"):
            return None  # fine-tuned models have their own, higher prices
        for candidate in _candidates(name):
            key = self.aliases.get(candidate, candidate)
            found = self.models.get(key)
            if found is not None and self._serves(found, provider):
                return found
        return None

    def _serves(self, found: ModelPrice, provider: str | None) -> bool:
        if not found.provider or provider is None:
            return True
        return self.canonical(found.provider) == self.canonical(provider)

    def price(
        self,
        model: str,
        tokens: TokenUsage,
        at: datetime | None = None,
        provider: str | None = None,
    ) -> PricedCost | None:
        """The exact cost of ``tokens`` on ``model`` at ``at``; None for an unknown model, and
        for a trail without tokens (a placeholder: SPEC §1 calls it ``unpriced`` until its
        tokens arrive and it is re-priced)."""
        if tokens.prompt == 0 and tokens.completion == 0:
            return None
        found = self.find(model, provider)
        if found is None:
            return None
        rates = found.rates_for(tokens.prompt, at)
        return PricedCost(rates.cost(tokens), self.version)

    def __call__(
        self,
        model: str,
        tokens: TokenUsage,
        at: datetime,
        provider: str | None = None,
        context: Mapping[str, str] | None = None,
    ) -> PricedCost | None:
        return self.price(model, tokens, at, provider)


def _candidates(name: str) -> list[str]:
    out = [name]
    bare = _PREFIX.sub("", name)
    bare = _BEDROCK_VERSION.sub("", bare)
    if bare != name:
        out.append(bare)
    undated = _DATE_SUFFIX.sub("", bare)
    if undated != bare:
        out.append(undated)
    return out


def _digest(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(repr(sorted(data.items())).encode()).hexdigest()[:12]


def parse_table(data: Mapping[str, Any], *, origin: str) -> PriceTable:
    """Validate a price file's content; its ``version`` (else a digest of the content) becomes
    ``price-file-<version>``, what ``priceVersion`` records for a cost priced from it."""
    if not isinstance(data, Mapping):
        raise PriceFileError(f"{origin}: the price file must hold an object")
    for key in ("version", "source", "as_of"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise PriceFileError(f"{origin}: {key!r} must be a string")
    raw_models = data.get("models")
    if not isinstance(raw_models, Mapping):
        raise PriceFileError(f"{origin}: 'models' must be an object of model name to prices")
    models: dict[str, ModelPrice] = {}
    aliases: dict[str, str] = {}
    for raw_name, entry in raw_models.items():
        name = str(raw_name).strip().lower()
        where = f"{origin}: models.{raw_name}"
        if not name or not isinstance(entry, Mapping):
            raise PriceFileError(f"{where} must be an object of prices")
        unknown = set(entry) - _MODEL_KEYS
        if unknown:
            raise PriceFileError(f"{where}: unknown keys {sorted(unknown)}")
        rates = _rates(entry, where)
        tiers = _tiers(entry.get("tiers"), rates, where)
        history = tuple(
            sorted(_periods(entry.get("history"), where), key=lambda p: p.until),
        )
        provider = str(entry.get("provider") or "").strip().lower()
        models[name] = ModelPrice(name, provider, rates, tiers, history)
        raw_aliases = entry.get("aliases") or []
        if not isinstance(raw_aliases, list) or not all(isinstance(a, str) for a in raw_aliases):
            raise PriceFileError(f"{where}.aliases must be a list of model names")
        for alias in raw_aliases:
            aliases[alias.strip().lower()] = name
    return PriceTable(
        version=f"price-file-{data.get('version') or _digest(data)}"[:64],
        source=str(data.get("source") or origin),
        as_of=str(data.get("as_of") or ""),
        models=models,
        aliases=aliases,
    )


def _price(value: object, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise PriceFileError(f"{where} must be a decimal string (USD per million tokens)")
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        raise PriceFileError(f"{where} must be a decimal string, not {value!r}") from None
    if not d.is_finite() or d < 0 or d > MAX_PRICE:
        raise PriceFileError(f"{where} must be a finite price between 0 and {MAX_PRICE}")
    exp = d.as_tuple().exponent
    assert isinstance(exp, int)
    if -exp > MAX_PRICE_PLACES and d != round(d, MAX_PRICE_PLACES):
        raise PriceFileError(f"{where} must have at most {MAX_PRICE_PLACES} decimal places")
    return d


def _rates(entry: Mapping[str, Any], where: str, base: Rates | None = None) -> Rates:
    if base is None:
        for key in ("input", "output"):
            if key not in entry:
                raise PriceFileError(f"{where}.{key} is required")

    def get(key: str, fallback: Decimal) -> Decimal:
        return _price(entry[key], f"{where}.{key}") if key in entry else fallback

    inp = get("input", base.input if base else Decimal(0))
    out = get("output", base.output if base else Decimal(0))
    # A tier or period that sets ``input`` resets the cache prices to it; one that does not
    # keeps the base's (and likewise ``output`` for reasoning).
    keep_in = base if base is not None and "input" not in entry else None
    keep_out = base if base is not None and "output" not in entry else None
    write_1h = (
        keep_in.cache_write_1h if keep_in is not None and "cache_write" not in entry else None
    )
    return Rates(
        input=inp,
        output=out,
        cache_read=get("cache_read", keep_in.cache_read if keep_in else inp),
        cache_write=get("cache_write", keep_in.cache_write if keep_in else inp),
        reasoning=get("reasoning", keep_out.reasoning if keep_out else out),
        cache_write_1h=(
            _price(entry["cache_write_1h"], f"{where}.cache_write_1h")
            if "cache_write_1h" in entry
            else write_1h
        ),
    )


def _tiers(raw: object, base: Rates, where: str) -> tuple[Tier, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise PriceFileError(f"{where}.tiers must be a list")
    out: list[Tier] = []
    for i, tier in enumerate(raw):
        here = f"{where}.tiers[{i}]"
        if not isinstance(tier, Mapping):
            raise PriceFileError(f"{here} must be an object")
        above = tier.get("above_prompt_tokens")
        if isinstance(above, bool) or not isinstance(above, int) or above < 0:
            raise PriceFileError(f"{here}.above_prompt_tokens must be a non-negative integer")
        unknown = set(tier) - {*_RATE_KEYS, "above_prompt_tokens"}
        if unknown:
            raise PriceFileError(f"{here}: unknown keys {sorted(unknown)}")
        out.append(Tier(above, _rates(tier, here, base)))
    return tuple(out)


def _periods(raw: object, where: str) -> list[Period]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise PriceFileError(f"{where}.history must be a list")
    out: list[Period] = []
    for i, period in enumerate(raw):
        here = f"{where}.history[{i}]"
        if not isinstance(period, Mapping):
            raise PriceFileError(f"{here} must be an object")
        errs = rules.Errors()
        until = rules.timestamp(errs, "until", period.get("until"))
        if until is None:
            raise PriceFileError(f"{here}.until must be an RFC 3339 date-time with an offset")
        rest = {k: v for k, v in period.items() if k not in ("until", "tiers")}
        unknown = set(rest) - set(_RATE_KEYS)
        if unknown:
            raise PriceFileError(f"{here}: unknown keys {sorted(unknown)}")
        rates = _rates(rest, here)
        out.append(Period(until.astimezone(UTC), rates, _tiers(period.get("tiers"), rates, here)))
    return out
