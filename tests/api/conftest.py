"""API tests run the real app (FastAPI TestClient) on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from llmtrail.config import Settings
from llmtrail.model import TrailFilter, trail_to_wire
from llmtrail.model.wire import dumps
from llmtrail.server import create_app
from llmtrail.store import Store, open_store

ADMIN_KEY = "test-admin-key-0123456789"


@dataclass
class Api:
    """A running app over a fresh database, with helpers for keys and snapshots."""

    client: TestClient
    store: Store
    app: FastAPI

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_KEY}"}

    def project(self, pid: str) -> dict[str, str]:
        """Create project ``pid`` and return the headers of a new key of it."""
        r = self.client.post("/api/projects", json={"id": pid}, headers=self.admin)
        assert r.status_code == 201, r.text
        return self.key(pid)

    def key(self, pid: str) -> dict[str, str]:
        r = self.client.post(f"/api/projects/{pid}/keys", headers=self.admin)
        assert r.status_code == 201, r.text
        return {"Authorization": f"Bearer {r.json()['key']}"}

    def post(self, pid: str, body: Any, headers: dict[str, str]) -> Any:
        content = body if isinstance(body, bytes) else dumps(body).encode()
        return self.client.post(
            f"/api/projects/{pid}/audit-trails",
            content=content,
            headers={**headers, "Content-Type": "application/json"},
        )

    def snapshot(self) -> Any:
        """Everything a request could change: projects, keys, every trail."""
        projects = sorted(self.store.list_projects(), key=lambda p: p.id)
        return [
            (
                p,
                self.store.list_api_keys(p.id),
                [trail_to_wire(t) for t in self.store.iter_trails(TrailFilter(p.id))],
            )
            for p in projects
        ]


def make_api(url: str, **settings: Any) -> Iterator[Api]:
    s = Settings(admin_key=ADMIN_KEY, cleanup_cron="off", **settings)  # type: ignore[call-arg]
    store = open_store(url, settings=s)
    app = create_app(store, s)
    try:
        with TestClient(app) as client:
            yield Api(client, store, app)
    finally:
        store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh database of each SQL backend."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    yield from make_api(db_url)


@pytest.fixture
def sqlite_api(sqlite_url: str) -> Iterator[Api]:
    yield from make_api(sqlite_url)


def trail(mid: str = "m-1", **extra: Any) -> dict[str, Any]:
    """A valid trail body."""
    return {
        "messageId": mid,
        "model": "claude-3-7-sonnet-20250219",
        "timestamp": "2026-11-30T12:00:00Z",
        "contextLayers": 3,
        "reasoning": ["step one", "step two"],
        "tokens": {"prompt": 1200, "completion": 350},
        "cost": {"prompt": "0.0036", "completion": "0.00525"},
        "metadata": {"feature": "chat", "userId": "u-1"},
        **extra,
    }


def assert_problem(r: Any, status: int) -> dict[str, Any]:
    """``r`` is an RFC 9457 problem with this status."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body
