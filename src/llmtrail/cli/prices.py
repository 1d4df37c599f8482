"""``llmtrail prices`` (the price a model is charged at) and ``llmtrail reprice``."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import typer
from rich.table import Table

from llmtrail.cli.app import app, console, fail, settings
from llmtrail.model import rules
from llmtrail.model.wire import iso
from llmtrail.pricing import Rates, make_pricer

_RATE_COLUMNS = (  # Rates attribute, JSON key, table heading
    ("input", "input", "input"),
    ("output", "output", "output"),
    ("cache_read", "cacheRead", "cache read"),
    ("cache_write", "cacheWrite", "cache write 5 min"),
    ("cache_write_1h", "cacheWrite1h", "cache write 1 h"),
    ("reasoning", "reasoning", "reasoning"),
)


def parse_instant(value: str | None, option: str) -> datetime | None:
    """An RFC 3339 date-time with an offset given on the command line (exit 2 otherwise)."""
    if value is None:
        return None
    errs = rules.Errors()
    at = rules.timestamp(errs, option, value)
    if at is None:
        fail(f"{option} must be an RFC 3339 date-time with an offset, not {value!r}", code=2)
    return at


def rates_to_wire(rates: Rates) -> dict[str, str]:
    """USD per million tokens of each kind, as exact decimal strings."""
    one_hour = rates.cache_write if rates.cache_write_1h is None else rates.cache_write_1h
    values = {key: getattr(rates, name) for name, key, _ in _RATE_COLUMNS}
    return {key: _plain(value) for key, value in {**values, "cacheWrite1h": one_hour}.items()}


def _plain(d: Decimal) -> str:
    return format(rules.plain(d), "f")


@app.command()
def prices(
    model: str = typer.Argument(..., help="Model name as the trail records it."),
    provider: str | None = typer.Option(
        None, "--provider", help="Who served the call (openai, anthropic, aws-bedrock, …)."
    ),
    at: str | None = typer.Option(
        None, "--at", help="Price in force at this RFC 3339 instant (default: now)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show the price llmtrail charges MODEL at (USD per million tokens, each kind of token,
    each long-context tier) and where it comes from (AUDIT_TRAIL_PRICE_FILE or genai-prices).
    Exit code 1 when no price is known: such trails are recorded as unpriced."""
    s = settings()
    instant = parse_instant(at, "--at")
    if provider is not None:
        errs = rules.Errors()
        if rules.provider(errs, "--provider", provider) is None:
            fail(f"--provider {errs.items[0].message}", code=2)
    book = make_pricer(s.price_file)
    quote = book.quote(model, provider, instant)
    if quote is None:
        where = f" from provider {provider!r}" if provider else ""
        fail(f"no price known for model {model!r}{where}: its trails are recorded as unpriced")
    tiers = [
        {"abovePromptTokens": max(start, 0), **rates_to_wire(rates)} for start, rates in quote.tiers
    ]
    if as_json:
        out: dict[str, Any] = {
            "model": model,
            "pricedAs": quote.model,
            "provider": quote.provider or None,
            "priceVersion": quote.version,
            "source": quote.source,
            "at": iso(instant),
            "unit": "USD per 1,000,000 tokens",
            "tiers": tiers,
        }
        typer.echo(json.dumps(out))
        return
    provider_text = f" ({quote.provider})" if quote.provider else ""
    console.print(f"[bold]{model}[/] priced as [bold]{quote.model}[/]{provider_text}")
    console.print(f"price version {quote.version}; source: {quote.source}", highlight=False)
    table = Table("prompt tokens", *(title for *_, title in _RATE_COLUMNS), title="USD / 1M tokens")
    for tier in tiers:
        above = tier["abovePromptTokens"]
        cells = (str(tier[key]) for _, key, _ in _RATE_COLUMNS)
        table.add_row("any" if above == 0 else f"> {above:,}", *cells)
    console.print(table)
