"""Fixtures of the retention tests: a fresh database of each SQL backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from llmtrail import Store


@pytest.fixture(params=["postgresql", "sqlite"])
def db_url(request: pytest.FixtureRequest) -> str:
    fixture = "pg_url" if request.param == "postgresql" else "sqlite_url"
    return str(request.getfixturevalue(fixture))


def seed_old(store: Store, n: int, project: str = "proj-1") -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "messageId": f"old-{project}-{i}",
            "projectId": project,
            "timestamp": now - timedelta(days=30, seconds=i),
            "model": "m",
            "contextLayers": 0,
        }
        for i in range(n)
    ]
    for k in range(0, n, 2_000):
        assert not any(isinstance(r, Exception) for r in store.store_many(rows[k : k + 2_000]))


def count(store: Store) -> int:
    return int(store.count_trails())  # type: ignore[attr-defined]
