"""Cost from tokens: prices from the ``genai-prices`` dataset, a user's price file on top, and
per-provider usage normalisers.

``make_pricer(path)`` is what stores use: the models of a user file (``AUDIT_TRAIL_PRICE_FILE``,
JSON or TOML, see ``table.py``) first, then every model of the dataset.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

from llmtrail.pricing.book import PriceBook, PriceSource, Quote
from llmtrail.pricing.dataset import DatasetPrices
from llmtrail.pricing.table import (
    ModelPrice,
    PriceFileError,
    PriceTable,
    Rates,
    Tier,
    parse_table,
)
from llmtrail.pricing.usage import (
    UsageError,
    anthropic_usage,
    openai_chat_usage,
    openai_responses_usage,
    raw_usage_metadata,
)


@functools.cache
def dataset() -> DatasetPrices:
    """The ``genai-prices`` data of the installed package (loaded once per process)."""
    return DatasetPrices()


def read_price_file(path: Path) -> dict[str, Any]:
    """The content of a user price file (``.toml`` as TOML, anything else as JSON)."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise PriceFileError(f"{path}: cannot read the price file ({e.strerror})") from None
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(raw.decode(), parse_float=Decimal)
        else:
            data = json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as e:
        kind = "TOML" if path.suffix == ".toml" else "JSON"
        raise PriceFileError(f"{path}: not valid {kind}: {e}") from None
    if not isinstance(data, dict):
        raise PriceFileError(f"{path}: the price file must hold an object")
    return data


def load_table(path: Path) -> PriceTable:
    """The price table of the user file at ``path`` (``PriceFileError`` if malformed)."""
    path = Path(path)
    return parse_table(read_price_file(path), origin=str(path))


def make_pricer(path: Path | None = None) -> PriceBook:
    """The ``Pricer`` stores use: the override file at ``path`` (if given) before the dataset.

    A malformed override file raises ``PriceFileError`` (naming the file and entry) at once,
    so a typo in a price never silently becomes a wrong cost.
    """
    data = dataset()
    sources: list[PriceSource] = []
    if path is not None:
        sources.append(dataclasses.replace(load_table(path), canonical=data.canonical_provider))
    sources.append(data)
    return PriceBook(sources)


__all__ = [
    "DatasetPrices",
    "ModelPrice",
    "PriceBook",
    "PriceFileError",
    "PriceTable",
    "Quote",
    "Rates",
    "Tier",
    "UsageError",
    "anthropic_usage",
    "dataset",
    "load_table",
    "make_pricer",
    "openai_chat_usage",
    "openai_responses_usage",
    "parse_table",
    "raw_usage_metadata",
]
