"""``llmtrail prices`` (the price a model is charged at) and ``llmtrail reprice``."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal, localcontext
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
    service_tier: str | None = typer.Option(
        None,
        "--service-tier",
        help="Price variant (flex, priority, …), as the trail's metadata llm.service_tier.",
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
    context = {"service_tier": service_tier} if service_tier else None
    quote = book.quote(model, provider, instant, context=context)
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
            "serviceTier": service_tier,
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


@app.command()
def reprice(
    project: str = typer.Option(..., "--project", help="Project whose trails to reprice."),
    since: str = typer.Option(..., "--since", help="From this RFC 3339 instant (inclusive)."),
    until: str | None = typer.Option(None, "--until", help="Up to this instant (exclusive)."),
    model: str | None = typer.Option(None, "--model", help="Only trails of this model."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report only; change nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    url: str | None = typer.Option(None, "--url", help="Database URL (default: DATABASE_URL)."),
) -> None:
    """Recompute the computed (and unpriced) costs of a project's trails with the current
    price data, at the price in force at each trail's timestamp; provided costs are never
    touched. Prints old and new totals per model. One short transaction per trail, so ingest
    goes on meanwhile, and analytics stay exact throughout."""
    from llmtrail.errors import AuditTrailError
    from llmtrail.reprice import reprice as run
    from llmtrail.store import open_store

    s = settings()
    start = parse_instant(since, "--since")
    end = parse_instant(until, "--until")
    assert start is not None
    if end is not None and end <= start:
        fail("--until must be after --since", code=2)
    try:
        store = open_store(url, settings=s)
    except AuditTrailError as e:
        fail(str(e))
    try:
        report = run(store, project, since=start, until=end, model=model, dry_run=dry_run)
    except AuditTrailError as e:
        fail(str(e))
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(report.to_wire()))
        return
    verb = "would change" if dry_run else "changed"
    table = Table("model", "trails", verb, "old total (USD)", "new total (USD)", "difference")
    for name, m in sorted(report.models.items()):
        with localcontext() as ctx:
            ctx.prec = 60  # exact for sums of NUMERIC(38,18) costs
            diff = _plain(m.new_total - m.old_total)
        table.add_row(
            name, str(m.trails), str(m.changed), _plain(m.old_total), _plain(m.new_total), diff
        )
    console.print(table)
    console.print(
        f"{report.scanned} trails scanned, {report.changed} {verb}, "
        f"{report.provided} with a provided cost left as they are"
        + (" (dry run: nothing written)" if dry_run else ""),
        highlight=False,
    )
