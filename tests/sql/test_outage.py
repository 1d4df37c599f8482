"""Database outages surface as UnavailableError quickly, and the store recovers afterwards."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

import llmtrail
from llmtrail import UnavailableError, ValidationError


def test_unreachable_database_is_unavailable_not_a_hang() -> None:
    started = time.monotonic()
    with pytest.raises(UnavailableError):
        llmtrail.open_store("postgresql://postgres@127.0.0.1:1/none")
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("url", ["mysql://u@h/db", "nonsense", "http://example.invalid/"])
def test_unsupported_urls_are_validation_errors(url: str) -> None:
    with pytest.raises(ValidationError):
        llmtrail.open_store(url)


@contextmanager
def unavailable(admin: psycopg.Connection, url: str) -> Iterator[None]:
    name = url.rsplit("/", 1)[1]
    admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
    admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
    )
    try:
        yield
    finally:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')


def test_outage_then_recovery(pg_admin: psycopg.Connection, pg_url: str) -> None:
    store = llmtrail.open_store(pg_url)
    try:
        store.store({"messageId": "before", "model": "x"}, project_id="p1")
        with unavailable(pg_admin, pg_url):
            for op in (
                lambda: store.get("before"),
                lambda: store.store({"messageId": "during", "model": "x"}, project_id="p1"),
                lambda: store.update("before", status="failed"),
                store.ping,
            ):
                started = time.monotonic()
                with pytest.raises(UnavailableError):
                    op()
                assert time.monotonic() - started < 10
        store.ping()
        assert store.get("during") is None
        got = store.get("before")
        assert got is not None and got.status == "completed"
        store.store({"messageId": "after", "model": "x"}, project_id="p1")
        assert store.get("after") is not None
    finally:
        store.close()
