"""Ledger tests run on both SQL backends, with a signing key of their own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

import llmtrail
from llmtrail.config import load_settings
from llmtrail.ledger.signing import Signer
from llmtrail.store.base import Store

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def signer() -> Signer:
    return Signer.generate()


@pytest.fixture
def store(db_url: str, signer: Signer) -> Iterator[Store]:
    s = llmtrail.open_store(db_url, settings=load_settings(usage_fold_seconds=0))
    s.signer = signer
    yield s
    s.close()


def trail(mid: str, **extra: Any) -> dict[str, Any]:
    return {
        "messageId": mid,
        "model": "claude-sonnet-4-5",
        "timestamp": (NOW - timedelta(hours=1)).isoformat(),
        "contextLayers": 2,
        "reasoning": ["look at the question", "answer it"],
        "tokens": {"prompt": 1000, "completion": 200, "cacheRead": 100},
        "cost": {"prompt": "0.003", "completion": "0.003"},
        "metadata": {"userId": "u-1", "score": 0.25, "n": 3, "ok": True},
        **extra,
    }


def sql(store: Store, statement: str, **params: Any) -> None:
    """Run SQL behind the API (as an operator with database access would)."""
    engine = store.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(text(statement), params)


def populate(store: Store) -> None:
    """A little of every kind of write: single, batch, placeholder then completion."""
    for i in range(5):
        store.store(trail(f"m-{i}"), "p1")
    store.store_many([trail(f"b-{i}") for i in range(40)], "p1")
    store.create_placeholder("ph-1", "gpt-4o", 1, "p2")
    store.update("ph-1", status="completed", tokens={"prompt": 10, "completion": 5})
    store.update("m-1", metadata={"userId": "u-2"})
