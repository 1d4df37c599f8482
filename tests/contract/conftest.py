"""The contract suite runs every test against each backend: memory, SQLite, PostgreSQL, and
dual mode (a SQLite source replicating to a PostgreSQL target, as during a migration)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import llmtrail
from llmtrail import Store
from llmtrail.config import load_settings

BACKENDS = ["memory", "sqlite", "postgresql", "dual"]


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
def open_backend(
    backend: str, url_for: Callable[[], str], request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., Store]]:
    """A factory of stores on this test's database for the current backend.

    Keyword arguments are settings overrides (``retention_days=…``) or ``open_store`` options
    (``clock=…``); every store it opened is closed at the end.
    """
    opened: list[Store] = []

    def make(*, clock: Any = None, **overrides: Any) -> Store:
        kw: dict[str, Any] = {} if clock is None else {"clock": clock}
        if backend == "dual":
            settings = load_settings(
                backend="dual",
                DATABASE_URL=url_for(),
                dual_source_url=request.getfixturevalue("sqlite_url"),
                dual_outbox=tmp_path / "outbox.db",
                **overrides,
            )
            s = llmtrail.open_store(settings=settings, **kw)
        else:
            s = llmtrail.open_store(url_for(), settings=load_settings(**overrides), **kw)
        opened.append(s)
        return s

    yield make
    for s in opened:
        s.close()


@pytest.fixture
def store(open_backend: Callable[..., Store]) -> Store:
    return open_backend()
