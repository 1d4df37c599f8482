"""The worker threads store calls run in, so no blocking call ever runs on the event loop.

A plain ``ThreadPoolExecutor`` (a third of the cost of ``anyio.to_thread`` per call) of
``AUDIT_TRAIL_STORE_THREADS`` threads: more would only queue for the connection pool and fight
over the GIL.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from llmtrail.errors import AuditTrailError, UnavailableError
from llmtrail.metrics import STORE_ERRORS
from llmtrail.store import Store

log = logging.getLogger("llmtrail.server")
T = TypeVar("T")

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
