"""Request bodies and responses: exact-decimal JSON in and out.

Request JSON is parsed with ``llmtrail.model.wire.loads`` (exact Decimals, NaN/Infinity
rejected), never with pydantic models, which would turn money into floats; validation is
done once, by ``llmtrail.model``, inside the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import simplejson
from fastapi import Request
from starlette.responses import JSONResponse

from llmtrail.errors import FieldError, MalformedJSONError, ValidationError
from llmtrail.model.wire import DuplicateKeyError, dumps, loads
from llmtrail.store import Store


class WireJSONResponse(JSONResponse):
    """JSON written by ``llmtrail.model.wire.dumps``: Decimals stay exact numbers."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content, separators=(",", ":")).encode("utf-8", "backslashreplace")


async def read_json(request: Request, *, empty: Any = ...) -> Any:
    """The parsed JSON body; ``empty`` is returned for an empty body if given, else 400."""
    raw = await request.body()
    if not raw.strip():
        if empty is not ...:
            return empty
        raise MalformedJSONError("the body is empty")
    try:
        return loads(raw)
    except DuplicateKeyError as e:
        raise ValidationError("is given twice (duplicate JSON key)", field=e.key) from None
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        first_error = e
    # Well-formed JSON text can still hold numbers no field accepts: NaN/Infinity, or an
    # integer too long to convert. Those are invalid values (422 naming the field), not
    # malformed JSON (400).
    try:
        data = simplejson.loads(
            raw, use_decimal=True, parse_constant=_Bad, parse_int=_int_or_bad, allow_nan=True
        )
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise MalformedJSONError(str(first_error).splitlines()[0][:200]) from None
    errors = list(_bad_values(data, ""))
    if errors:
        raise ValidationError(errors)
    raise MalformedJSONError(str(first_error).splitlines()[0][:200])


class _Bad:
    """A number that is valid JSON syntax but no valid value (NaN, Infinity, 10**5000)."""

    def __init__(self, text: str) -> None:
        self.text = text


def _int_or_bad(text: str) -> int | _Bad:
    try:
        return int(text)
    except ValueError:
        return _Bad("an integer too large")


def _bad_values(node: Any, path: str) -> Iterator[FieldError]:
    if isinstance(node, _Bad):
        yield FieldError(path or "body", f"{node.text} is not an allowed number")
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _bad_values(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _bad_values(v, f"{path}[{i}]")


async def read_object(request: Request, *, empty: Any = ...) -> dict[str, Any]:
    """The JSON body, which must be an object (→ 422 naming ``body`` otherwise)."""
    data = await read_json(request, empty=empty)
    if not isinstance(data, dict):
        raise ValidationError("must be a JSON object", field="body")
    return data


def store_of(request: Request) -> Store:
    """The store this app serves."""
    store: Store = request.app.state.store
    return store
