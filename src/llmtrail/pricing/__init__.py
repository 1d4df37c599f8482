"""Cost from tokens: the bundled, versioned price table and per-provider usage normalisers.

``make_pricer(path)`` is what stores use: the table shipped in the package
(``prices.json``), with the models of a user file (``AUDIT_TRAIL_PRICE_FILE``, JSON or TOML
in the same format) added or overriding ours.
"""

from __future__ import annotations

import functools
import json
import tomllib
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

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

BUNDLED = "prices.json"


@functools.cache
def bundled_table() -> PriceTable:
    """The price table shipped with llmtrail (its ``version``, ``source`` and ``as_of``)."""
    text = resources.files(__package__).joinpath(BUNDLED).read_text(encoding="utf-8")
    return parse_table(json.loads(text, parse_float=Decimal), origin=f"llmtrail/pricing/{BUNDLED}")


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


def load_table(path: Path | None = None) -> PriceTable:
    """The bundled table, merged with the user file at ``path`` if given."""
    table = bundled_table()
    if path is None:
        return table
    path = Path(path)
    return table.merged(read_price_file(path), origin=str(path))


def make_pricer(path: Path | None = None) -> PriceTable:
    """The ``Pricer`` stores use: bundled prices plus the optional override file at ``path``.

    A malformed override file raises ``PriceFileError`` (naming the file and entry) at once,
    so a typo in a price never silently becomes a wrong cost.
    """
    return load_table(path)


__all__ = [
    "ModelPrice",
    "PriceFileError",
    "PriceTable",
    "Rates",
    "Tier",
    "UsageError",
    "anthropic_usage",
    "bundled_table",
    "load_table",
    "make_pricer",
    "openai_chat_usage",
    "openai_responses_usage",
    "parse_table",
    "raw_usage_metadata",
]
