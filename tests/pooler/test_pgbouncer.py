"""The library and the service through PgBouncer in transaction mode (SPEC §11, issue 13).

Before: every thread failed with ``prepared statement "_pg3_2" does not exist`` and
``llmtrail serve`` answered PATCH with 500. Nothing may assume session state across
transactions: prepared statements, session advisory locks, session temp tables.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

import llmtrail
from llmtrail.config import load_settings
from llmtrail.retention import run_tick
from llmtrail.store.sql.dialects import behind_transaction_pooler, normalize_url
from tests.api.served import start, stop

POOLED = load_settings(pooler="transaction")


def test_the_library_through_a_transaction_pooler(pooled_url: Callable[..., str]) -> None:
    url = pooled_url(empty=True)  # the first open migrates, through the pooler
    stores = [llmtrail.open_store(url, settings=POOLED) for _ in range(3)]
    errors: list[BaseException] = []

    def lifecycle(n: int) -> None:
        store = stores[n % len(stores)]
        try:
            for i in range(40):
                mid = f"t{n}-{i}"
                store.create_placeholder(mid, "gpt-4o", 2, "app")
                store.update(
                    mid,
                    tokens={"prompt": 100, "completion": 10},
                    cost={"prompt": "0.001", "completion": "0.0001"},
                    status="completed",
                )
                got = store.get(mid)
                assert got is not None and got.status == "completed"
            batch = [
                {"messageId": f"b{n}-{j}", "model": "gpt-4o", "cost": {"prompt": "0.5"}}
                for j in range(50)  # large enough for the COPY path
            ]
            assert all(not isinstance(r, Exception) for r in store.store_many(batch, "app"))
            # a batch that meets existing ids takes the temp-table path
            again = batch[:10] + [{"messageId": f"c{n}-{j}", "model": "m"} for j in range(40)]
            assert all(not isinstance(r, Exception) for r in store.store_many(again, "app"))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=lifecycle, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        a = stores[0].analytics("app", days=2)
        assert a.message_count == 6 * (40 + 50 + 40)
        assert a.total_cost == 6 * (40 * Decimal("0.0011") + 50 * Decimal("0.5"))
        old = datetime.now(UTC) - timedelta(days=30)
        stores[1].store({"messageId": "old", "model": "m", "timestamp": old}, "app")
        assert stores[1].cleanup(7) == 1
        tick = datetime(2026, 1, 10, 2, tzinfo=UTC)
        claimed = [run_tick(s, tick) for s in stores]  # once per tick, no session lock
        assert sum(r is not None for r in claimed) == 1
        # a second open on a current schema, through the pooler too
        again = llmtrail.open_store(url, settings=POOLED)
        assert again.get("t0-0") is not None
        again.close()
    finally:
        for s in stores:
            s.close()


def test_serve_through_a_transaction_pooler(pooled_url: Callable[..., str], tmp_path: Path) -> None:
    url = pooled_url()
    s = start(url, tmp_path, AUDIT_TRAIL_POOLER="transaction")
    try:
        key = s.project("app")
        with s.client() as c:
            for i in range(30):
                mid = f"m{i}"
                r = c.post(
                    "/api/projects/app/audit-trails",
                    json={"messageId": mid, "model": "gpt-4o", "status": "pending"},
                    headers=key,
                )
                assert r.status_code == 201, r.text
                r = c.patch(
                    f"/api/projects/app/audit-trails/{mid}",
                    json={"status": "completed", "cost": {"prompt": "0.25", "completion": "0"}},
                    headers=key,
                )
                assert r.status_code == 200, r.text
                assert (
                    c.get(f"/api/projects/app/audit-trails/{mid}", headers=key).status_code == 200
                )
            r = c.post(
                "/api/projects/app/audit-trails/batch",
                json={"items": [{"messageId": f"b{i}", "model": "m"} for i in range(100)]},
                headers=key,
            )
            assert r.status_code == 200 and {i["status"] for i in r.json()["items"]} == {201}
            a = c.get("/api/projects/app/assessment/analytics", headers=key).json()["analytics"]
            assert a["messageCount"] == 130 and a["totalCost"] == 7.5
            r = c.post("/api/admin/cleanup", json={"days": 7}, headers=s.admin)
            assert r.status_code == 200
        assert "prepared statement" not in s.log_text()
    finally:
        stop(s)


@pytest.mark.parametrize(
    ("url", "setting", "expected"),
    [
        ("postgresql://u@db.example.com:5432/x", "auto", False),
        ("postgresql://u@db.example.com:6432/x", "auto", True),
        ("postgresql://u@aws-0-eu.pooler.supabase.com:6543/x", "auto", True),
        ("postgresql://u@ep-cool-1-pooler.eu-central-1.aws.neon.tech/x", "auto", True),
        ("postgresql://u@db.example.com:6432/x", "none", False),
        ("postgresql://u@db.example.com/x", "transaction", True),
        ("sqlite:///x.db", "transaction", False),
    ],
)
def test_pooler_detection(url: str, setting: str, expected: bool) -> None:
    assert behind_transaction_pooler(normalize_url(url), setting) is expected
