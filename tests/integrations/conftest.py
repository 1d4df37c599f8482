"""Fixtures: the fake upstream on loopback, and a store per backend (memory/SQLite/PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import llmtrail
from llmtrail import Store
from tests.integrations.fake_upstream import Running, Upstream


@pytest.fixture(scope="session")
def _upstream_server() -> Iterator[Upstream]:
    state = Upstream()
    running = Running(state)
    running.start()
    yield state
    running.stop()


@pytest.fixture
def upstream(_upstream_server: Upstream) -> Iterator[Upstream]:
    _upstream_server.requests.clear()
    _upstream_server.hook = None
    yield _upstream_server
    _upstream_server.hook = None


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """One store per backend (for the tests that must hold on every backend)."""
    if request.param == "memory":
        url = "memory://"
    elif request.param == "sqlite":
        url = request.getfixturevalue("sqlite_url")
    else:
        url = request.getfixturevalue("pg_url")
    s = llmtrail.open_store(url)
    yield s
    s.close()


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    """A SQLite store (the default backend)."""
    s = llmtrail.open_store(sqlite_url)
    yield s
    s.close()
