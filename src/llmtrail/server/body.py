"""Request bodies and responses: exact-decimal JSON in and out, store calls off the loop.

Request JSON is parsed with ``llmtrail.model.wire.loads`` (exact Decimals, NaN/Infinity
rejected), never with pydantic models, which would turn money into floats; validation is
done once, by ``llmtrail.model``, inside the store.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import simplejson
from fastapi import Request
from starlette.responses import JSONResponse

from llmtrail.errors import AuditTrailError, FieldError, UnavailableError, ValidationError
from llmtrail.metrics import STORE_ERRORS
from llmtrail.model.wire import DuplicateKeyError, dumps, loads
from llmtrail.server.problems import MalformedJSONError
from llmtrail.store import Store

log = logging.getLogger("llmtrail.server")
T = TypeVar("T")


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


_threads = 4
_executor: concurrent.futures.ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def set_store_threads(n: int) -> None:
    """How many store calls may run at once (threads); more only queue for connections."""
    global _threads, _executor
    with _executor_lock:
        _threads = n
        old, _executor = _executor, None
    if old is not None:
        old.shutdown(wait=False)


def _store_executor() -> concurrent.futures.ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = concurrent.futures.ThreadPoolExecutor(_threads, "llmtrail-store")
        return _executor


async def in_store_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking store call in one of ``store_threads`` worker threads (a plain executor:
    a third of the cost of ``anyio.to_thread`` per call), without error accounting."""
    return await asyncio.get_running_loop().run_in_executor(_store_executor(), fn, *args)


async def call(store: Store, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking store call in a worker thread (at most ``store_threads`` at once, so
    threads do not fight over the GIL and the connection pool); count the failures that are
    not the caller's fault (the database being down)."""
    try:
        return await in_store_thread(functools.partial(fn, *args, **kwargs))
    except UnavailableError as e:
        STORE_ERRORS.labels(store.backend, type(e).__name__).inc()
        log.warning("store unavailable: %s", e)
        raise
    except AuditTrailError:
        raise
    except Exception as e:
        STORE_ERRORS.labels(store.backend, type(e).__name__).inc()
        raise
