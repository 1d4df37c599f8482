"""Helpers for the migration tests: deterministic trails and bulk-filled databases."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

import llmtrail
from llmtrail.config import load_settings
from llmtrail.store.base import Store
from llmtrail.store.dual import DualStore

BASE = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
CLI = [sys.executable, "-m", "llmtrail.cli"]


def trail(i: int, project: str | None = None, **extra: Any) -> dict[str, Any]:
    """The i-th test trail: three projects, varied models, exact-decimal costs."""
    data: dict[str, Any] = {
        "messageId": f"msg-{i:07d}",
        "projectId": project or f"proj-{i % 3}",
        "timestamp": BASE - timedelta(seconds=i * 7),
        "model": ("gpt-4o", "claude-sonnet-4-5", "o3-mini")[i % 3],
        "contextLayers": i % 5,
        "tokens": {"prompt": 100 + i % 50, "completion": 20 + i % 30},
        "cost": {"prompt": "0.0001", "completion": str(Decimal(i % 997) / 10**7)},
        "reasoning": [f"step {i}", "x" * (i % 40)] if i % 4 else None,
        "metadata": {"user": f"u{i % 11}", "weight": 1.5, "flag": i % 2 == 0},
        "status": "completed" if i % 10 else "pending",
    }
    data.update(extra)
    return data


def fill(store: Store, n: int, start: int = 0, batch: int = 5_000) -> None:
    """Store trails ``start .. start+n-1`` in batches."""
    for lo in range(start, start + n, batch):
        hi = min(start + n, lo + batch)
        results = store.store_many([trail(i) for i in range(lo, hi)])
        bad = [r for r in results if isinstance(r, Exception)]
        assert not bad, bad[:3]


def db_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


def pg_count(url: str, table: str = "audit_trails") -> int:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        return int(row.fetchone()[0])  # type: ignore[index]


def cli_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AUDIT_TRAIL_") and k != "DATABASE_URL"
    }
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


@pytest.fixture
def block_database(pg_admin: psycopg.Connection) -> Iterator[Callable[[str, bool], None]]:
    """Make one test database refuse connections (and drop the ones it has), or allow them
    again — the shared PostgreSQL server itself keeps running for everyone else."""
    blocked: set[str] = set()

    def set_blocked(url: str, blocked_now: bool) -> None:
        name = db_name(url)
        allow = sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}").format(
            sql.Identifier(name), sql.SQL("false" if blocked_now else "true")
        )
        pg_admin.execute(allow)
        if blocked_now:
            blocked.add(name)
            pg_admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
        else:
            blocked.discard(name)

    yield set_blocked
    for name in blocked:
        pg_admin.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(sql.Identifier(name))
        )


def open_dual(target_url: str, source_url: str, outbox: Path, **kw: Any) -> DualStore:
    settings = load_settings(
        backend="dual",
        DATABASE_URL=target_url,
        dual_source_url=source_url,
        dual_outbox=outbox,
        dual_replay_interval=0.1,
        **kw,
    )
    store = llmtrail.open_store(settings=settings)
    assert isinstance(store, DualStore)
    return store
