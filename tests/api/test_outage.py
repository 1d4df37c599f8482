"""A database outage is a 503 with Retry-After (never a hang, never a 500), and the service
recovers by itself when the database comes back."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager

import psycopg
from psycopg import sql

from tests.api.conftest import assert_problem, make_api, trail


def _allow(admin: psycopg.Connection, name: str, allow: bool) -> None:
    admin.execute(
        sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
            sql.Identifier(name), sql.SQL("true" if allow else "false")
        )
    )
    if not allow:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )


def test_postgres_outage_is_503_then_recovers(
    pg_database: Callable[..., str], pg_admin: psycopg.Connection
) -> None:
    url = pg_database()
    name = url.rsplit("/", 1)[1]
    with contextmanager(make_api)(url) as api:
        key = api.project("p1")
        assert api.post("p1", trail("before"), key).status_code == 201
        _allow(pg_admin, name, False)
        try:
            calls = {
                "readyz": lambda: api.client.get("/readyz"),
                "post": lambda: api.post("p1", trail("during"), key),
                "get": lambda: api.client.get("/api/projects/p1/audit-trails/before", headers=key),
                "list": lambda: api.client.get("/api/projects/p1/audit-trails", headers=key),
                "export": lambda: api.client.get(
                    "/api/projects/p1/audit-trails/export", headers=key
                ),
                "projects": lambda: api.client.get("/api/projects", headers=api.admin),
                "patch": lambda: api.client.patch(
                    "/api/projects/p1/audit-trails/before", json={"status": "failed"}, headers=key
                ),
            }
            for what, call in calls.items():
                started = time.monotonic()
                r = call()
                assert time.monotonic() - started < 10, what
                body = assert_problem(r, 503)
                assert int(r.headers["retry-after"]) > 0, what
                assert "unavailable" in body["detail"], what
            health = api.client.get("/healthz")
            assert health.status_code == 200  # liveness does not depend on the database
            metrics = api.client.get("/metrics").text
            assert (
                'llmtrail_store_errors_total{backend="postgresql",error="UnavailableError"}'
                in metrics
            )
        finally:
            _allow(pg_admin, name, True)
        deadline = time.monotonic() + 15
        while api.client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "did not recover"
            time.sleep(0.1)
        assert api.post("p1", trail("after"), key).status_code == 201
        assert api.store.get("during") is None and api.store.get("after") is not None


def test_store_on_closed_port_fails_fast() -> None:
    """A server that cannot reach its database at start-up fails fast with a clear error."""
    import socket

    import pytest

    from llmtrail.config import Settings
    from llmtrail.errors import UnavailableError
    from llmtrail.store import open_store

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(UnavailableError):
        open_store(f"postgresql://postgres@127.0.0.1:{port}/nothing", settings=Settings())
    assert time.monotonic() - started < 10
