"""Field-level rules of SPEC §1: each checker returns the clean value or records a FieldError."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from llmtrail.errors import FieldError
from llmtrail.model.types import Budget

MAX_MESSAGE_ID = 255
MAX_MODEL = 200
MAX_REASONING_ITEMS = 1_000
MAX_REASONING_BYTES = 1_000_000
MAX_CONTEXT_LAYERS = 10_000
MAX_TOKENS = 1_000_000_000
MAX_COST = Decimal(1_000_000_000)
MAX_COST_PLACES = 18
MAX_METADATA_KEYS = 64
MAX_METADATA_KEY = 128
MAX_METADATA_STRING = 4_096
MAX_METADATA_INT = 2**63 - 1
MAX_RETENTION_DAYS = 36_500
MAX_BATCH = 1_000  # trails per batch, and items per page of a listing
MIN_YEAR, MAX_YEAR = 1970, 9999
PROJECT_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
PROVIDER_RE = re.compile(r"[a-z0-9._-]{1,64}")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
# Plain decimal text only: Decimal() itself also takes "1_000", "٣", " 1 ", "Infinity".
_DECIMAL_TEXT_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]{1,6})?")
# RFC 3339 date-time (section 5.6; a space may replace the T, as the RFC notes). Python's
# fromisoformat alone also takes week dates, "+0000", "+00", "hh:mm" and "," fractions.
_RFC3339_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


class Errors:
    """Collects every field error of one input so the caller sees them all at once."""

    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, field: str, message: str) -> None:
        self.items.append(FieldError(field, message))

    def __bool__(self) -> bool:
        return bool(self.items)


def is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def text(
    errs: Errors,
    field: str,
    v: object,
    *,
    max_len: int,
    min_len: int = 1,
    controls: bool = False,
) -> str | None:
    """A string of bounded length with no NUL or lone surrogate (and no controls unless allowed)."""
    if not isinstance(v, str):
        errs.add(field, "must be a string")
        return None
    # One scan for the usual clean string (ASCII has no surrogates; printable has no controls).
    clean = (v.isprintable() or (controls and "\x00" not in v)) if v.isascii() else None
    if not clean:
        problem = _text_problem(v, controls)
        if problem:
            errs.add(field, problem)
            return None
    if not min_len <= len(v) <= max_len:
        errs.add(field, f"must be {min_len} to {max_len} characters long")
        return None
    return v


def _text_problem(v: str, controls: bool) -> str | None:
    if _SURROGATE_RE.search(v):
        return "must not contain lone surrogates"
    if "\x00" in v:
        return "must not contain NUL characters"
    if not controls and _CONTROL_RE.search(v):
        return "must not contain control characters"
    return None


#: messageIds the REST API could not address: ``GET …/audit-trails/export`` is the export.
RESERVED_MESSAGE_IDS = frozenset({"export"})


def message_id(errs: Errors, field: str, v: object) -> str | None:
    """A new trail's messageId: 1–255 characters, no control characters, not reserved."""
    s = text(errs, field, v, max_len=MAX_MESSAGE_ID)
    if s is not None and s in RESERVED_MESSAGE_IDS:
        errs.add(field, f"{s!r} is reserved (…/audit-trails/{s} is another route)")
        return None
    return s


def could_be_message_id(v: object) -> bool:
    """Whether a stored trail could have this messageId (reserved ids included: trails stored
    before the reservation stay readable). Others need no look-up at all."""
    return text(Errors(), "messageId", v, max_len=MAX_MESSAGE_ID) is not None


def project_id(errs: Errors, field: str, v: object) -> str | None:
    if not isinstance(v, str) or not PROJECT_ID_RE.fullmatch(v):
        errs.add(field, "must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'")
        return None
    return v


def provider(errs: Errors, field: str, v: object) -> str | None:
    """A provider name as OpenTelemetry's ``gen_ai.provider.name`` writes it (``aws-bedrock``)."""
    if not isinstance(v, str) or not PROVIDER_RE.fullmatch(v):
        errs.add(field, "must be 1 to 64 characters of a-z, 0-9, '.', '_' or '-'")
        return None
    return v


def integer(errs: Errors, field: str, v: object, *, lo: int, hi: int) -> int | None:
    if isinstance(v, Decimal):
        v = _decimal_integer(errs, field, v, lo=lo, hi=hi)
        if v is None:
            return None
    if not is_int(v):
        errs.add(field, "must be an integer")
        return None
    assert isinstance(v, int)
    if not lo <= v <= hi:
        errs.add(field, f"must be between {lo} and {hi}")
        return None
    return v


def _decimal_integer(errs: Errors, field: str, v: Decimal, *, lo: int, hi: int) -> object:
    """A JSON number parsed as Decimal, as an int when it is one; the magnitude is checked
    on the exponent first, so ``1e600000`` never becomes a 600,001-digit int (which would
    hold the GIL for seconds)."""
    if not v.is_finite() or v != v.to_integral_value() or "." in str(v):
        return v  # not an integer: the caller says so
    if v and v.adjusted() > max(len(str(lo)), len(str(hi))):
        errs.add(field, f"must be between {lo} and {hi}")
        return None
    return int(v)


def money(errs: Errors, field: str, v: object) -> Decimal | None:
    """A finite, non-negative USD amount with at most 18 decimal places, kept exact."""
    d: Decimal
    if isinstance(v, bool) or v is None:
        errs.add(field, "must be a number")
        return None
    if isinstance(v, Decimal):
        d = v
    elif isinstance(v, int):
        d = Decimal(v)
    elif isinstance(v, float):
        if not math.isfinite(v):
            errs.add(field, "must be a finite number")
            return None
        d = Decimal(repr(v))
    elif isinstance(v, str):
        if not _DECIMAL_TEXT_RE.fullmatch(v):
            errs.add(field, "must be a decimal number such as 0.0125 (digits, '.', exponent)")
            return None
        try:
            d = Decimal(v)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid text
            errs.add(field, "must be a decimal number")
            return None
    else:
        errs.add(field, "must be a number")
        return None
    if not d.is_finite():
        errs.add(field, "must be a finite number")
        return None
    if d < 0:
        errs.add(field, "must not be negative")
        return None
    if d > MAX_COST:
        errs.add(field, f"must be at most {MAX_COST}")
        return None
    exp = d.as_tuple().exponent
    assert isinstance(exp, int)
    if -exp > MAX_COST_PLACES and d != d.quantize(Decimal(1).scaleb(-MAX_COST_PLACES)):
        errs.add(field, f"must have at most {MAX_COST_PLACES} decimal places")
        return None
    return plain(d)


def plain(d: Decimal) -> Decimal:
    """The same value without trailing zeros or exponent noise (0.10 -> 0.1, 1E+2 -> 100)."""
    sign, digits, exp = d.as_tuple()
    if (exp == 0 and not sign) or (isinstance(exp, int) and exp < 0 and digits[-1] != 0):
        return d  # already plain (the usual case)
    if d == 0:
        return Decimal(0)
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return Decimal(s)


def timestamp(errs: Errors, field: str, v: object) -> datetime | None:
    """An RFC 3339 instant with an explicit offset, returned in UTC."""
    if isinstance(v, str):
        if not _RFC3339_RE.fullmatch(v):
            errs.add(field, "must be an RFC 3339 date-time with an offset")
            return None
        try:
            dt = datetime.fromisoformat(v[:-1] + "+00:00" if v[-1] in "zZ" else v)
        except ValueError:
            errs.add(field, "must be an RFC 3339 date-time with an offset")
            return None
    elif isinstance(v, datetime):
        dt = v
    else:
        errs.add(field, "must be an RFC 3339 date-time string")
        return None
    if dt.tzinfo is None or dt.utcoffset() is None:
        errs.add(field, "must carry a time-zone offset (naive date-times are ambiguous)")
        return None
    try:
        utc = dt.astimezone(UTC)
    except OverflowError:
        errs.add(field, "is out of range")
        return None
    if not MIN_YEAR <= utc.year <= MAX_YEAR:
        errs.add(field, f"must be between the years {MIN_YEAR} and {MAX_YEAR}")
        return None
    return utc


def reasoning(errs: Errors, field: str, v: object) -> list[str] | None:
    if v is None:
        return None
    if not isinstance(v, list | tuple):
        errs.add(field, "must be an array of strings or null")
        return None
    if len(v) > MAX_REASONING_ITEMS:
        errs.add(field, f"must have at most {MAX_REASONING_ITEMS} items")
        return None
    out: list[str] = []
    size = 0
    for i, item in enumerate(v):
        if type(item) is str and item.isascii() and "\x00" not in item:
            size += len(item)  # the usual item, checked without building its field name
            out.append(item)
            continue
        s = text(errs, f"{field}[{i}]", item, max_len=MAX_REASONING_BYTES, min_len=0, controls=True)
        if s is None:
            return None
        size += len(s) if s.isascii() else len(s.encode("utf-8"))
        out.append(s)
    if size > MAX_REASONING_BYTES:
        errs.add(field, f"must total at most {MAX_REASONING_BYTES} bytes")
        return None
    return out


def metadata(errs: Errors, field: str, v: object) -> dict[str, str | int | float | bool] | None:
    if v is None:
        return None
    if not isinstance(v, Mapping):
        errs.add(field, "must be an object of string keys to string/number/boolean values")
        return None
    if len(v) > MAX_METADATA_KEYS:
        errs.add(field, f"must have at most {MAX_METADATA_KEYS} keys")
        return None
    out: dict[str, str | int | float | bool] = {}
    for key, value in v.items():
        if _plain_entry(key, value):
            out[key] = value
            continue
        k = text(errs, f"{field}.<key>", key, max_len=MAX_METADATA_KEY)
        if k is None:
            return None
        path = f"{field}.{k}"
        if isinstance(value, bool):
            out[k] = value
        elif isinstance(value, int):
            if abs(value) > MAX_METADATA_INT:
                errs.add(path, "is too large")
                return None
            out[k] = value
        elif isinstance(value, float | Decimal):
            num = _metadata_number(errs, path, value)
            if num is None:
                return None
            out[k] = num
        elif isinstance(value, str):
            s = text(errs, path, value, max_len=MAX_METADATA_STRING, min_len=0, controls=True)
            if s is None:
                return None
            out[k] = s
        else:
            errs.add(path, "must be a string, number or boolean (metadata is a flat map)")
            return None
    return out


def _plain_entry(key: object, value: object) -> bool:
    """The usual metadata entry (ASCII key, boolean/integer/ASCII string value), valid as is."""
    if not (type(key) is str and key.isascii() and key.isprintable()):
        return False
    if not 0 < len(key) <= MAX_METADATA_KEY:
        return False
    if type(value) is bool:
        return True
    if type(value) is int:
        return -MAX_METADATA_INT <= value <= MAX_METADATA_INT
    return (
        type(value) is str
        and value.isascii()
        and "\x00" not in value
        and len(value) <= MAX_METADATA_STRING
    )


def _metadata_number(errs: Errors, path: str, value: float | Decimal) -> int | float | None:
    if isinstance(value, Decimal):
        if not value.is_finite():
            errs.add(path, "must be a finite number")
            return None
        if value == value.to_integral_value() and abs(value) <= MAX_METADATA_INT:
            return int(value)
        value = float(value)
    if not math.isfinite(value):
        errs.add(path, "must be a finite number")
        return None
    return value


def metadata_filter(errs: Errors, field: str, items: list[str]) -> tuple[tuple[str, str], ...]:
    """``key=value`` filters of metadata (the first ``=`` splits), validated."""
    out = []
    for item in items:
        key, eq, value = item.partition("=") if isinstance(item, str) else ("", "", "")
        if not eq or not key:
            errs.add(field, "must be key=value (e.g. userId=u-1)")
            continue
        k = text(errs, field, key, max_len=MAX_METADATA_KEY)
        v = text(errs, field, value, max_len=MAX_METADATA_STRING, min_len=0)
        if k is not None and v is not None:
            out.append((k, v))
    return tuple(out)


def metadata_text(v: object) -> str:
    """How a metadata value compares with a filter's text (strings as they are, numbers and
    booleans as JSON writes them)."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v) if isinstance(v, float) else str(v)


BUDGET_PERIODS = ("day", "month")


def budget(errs: Errors, field: str, v: object) -> Budget | None:
    """A project budget ``{"amount": "50.00", "period": "day"|"month"}`` (None: no budget);
    the amount is exact and above zero."""
    if v is None:
        return None
    if not isinstance(v, Mapping):
        errs.add(field, 'must be an object such as {"amount": "50.00", "period": "month"}')
        return None
    for key in v:
        if key not in ("amount", "period"):
            errs.add(f"{field}.{key}", "is not a known field")
    amount = money(errs, f"{field}.amount", v.get("amount"))
    if amount is not None and amount <= 0:
        errs.add(f"{field}.amount", "must be above zero")
        amount = None
    period = choice(errs, f"{field}.period", v.get("period"), BUDGET_PERIODS)
    if amount is None or period is None:
        return None
    return Budget(amount, period)


def choice(errs: Errors, field: str, v: object, options: tuple[str, ...]) -> str | None:
    if not isinstance(v, str) or v not in options:
        errs.add(field, "must be one of " + ", ".join(options))
        return None
    return v


def mapping_keys(
    errs: Errors, field: str, v: Mapping[str, Any], allowed: Mapping[str, str]
) -> dict[str, Any]:
    """Rename wire keys to Python names; unknown keys are errors."""
    try:
        renamed = {allowed[key]: value for key, value in v.items()}
    except (KeyError, TypeError):
        pass
    else:
        if len(renamed) == len(v):
            return renamed  # every key known, none given twice (the usual case)
    out: dict[str, Any] = {}
    for key, value in v.items():
        name = allowed.get(key) if isinstance(key, str) else None
        if name is None:
            errs.add(f"{field}.{key}" if field else str(key), "is not a known field")
            continue
        if name in out:
            errs.add(f"{field}.{key}" if field else str(key), "is given twice")
            continue
        out[name] = value
    return out
