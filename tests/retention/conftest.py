"""Fixtures of the retention tests: a fresh database of each SQL backend."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["postgresql", "sqlite"])
def db_url(request: pytest.FixtureRequest) -> str:
    fixture = "pg_url" if request.param == "postgresql" else "sqlite_url"
    return str(request.getfixturevalue(fixture))
