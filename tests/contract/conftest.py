"""The contract suite runs every test against each backend: memory, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import llmtrail
from llmtrail import Store

BACKENDS = ["memory", "sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def url_for(backend: str, request: pytest.FixtureRequest) -> Callable[[], str]:
    """The URL of this test's database for the current backend (same one on every call)."""
    url: list[str] = []

    def get() -> str:
        if not url:
            if backend == "memory":
                url.append("memory://")
            elif backend == "sqlite":
                url.append(request.getfixturevalue("sqlite_url"))
            else:
                url.append(request.getfixturevalue("pg_url"))
        return url[0]

    return get


@pytest.fixture
def store(url_for: Callable[[], str]) -> Iterator[Store]:
    s = llmtrail.open_store(url_for())
    yield s
    s.close()
