"""The public library surface: the seed-named functions, open_store from the environment, async."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

import llmtrail


def test_public_api_is_explicit() -> None:
    for name in (
        "open_store",
        "AuditTrail",
        "TokenUsage",
        "Cost",
        "ValidationError",
        "ConflictError",
        "NotFoundError",
        "AuditTrailError",
        "store_audit_trail",
        "get_audit_trail",
        "update_audit_trail",
        "cleanup_old_audit_trails",
        "create_placeholder_audit_trail",
    ):
        assert name in llmtrail.__all__
        assert hasattr(llmtrail, name)
    for err in (llmtrail.ValidationError, llmtrail.ConflictError, llmtrail.NotFoundError):
        assert issubclass(err, llmtrail.AuditTrailError)


def test_seed_functions_use_the_store_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/env.db")
    llmtrail.set_default_store(None)
    try:
        llmtrail.create_placeholder_audit_trail("m1", "gpt-4o", 2, project_id="proj")
        t = llmtrail.get_audit_trail("m1")
        assert t is not None and t.status == "pending" and t.context_layers == 2
        llmtrail.update_audit_trail("m1", status="completed", tokens={"prompt": 3, "completion": 4})
        t = llmtrail.get_audit_trail("m1")
        assert t is not None and t.tokens.total == 7 and t.status == "completed"
        assert llmtrail.default_store().backend == "sqlite"
        assert (tmp_path / "env.db").exists()
        assert llmtrail.cleanup_old_audit_trails(7) == 0
    finally:
        llmtrail.default_store().close()
        llmtrail.set_default_store(None)


def test_env_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"DATABASE_URL=sqlite:///{tmp_path}/dotenv.db\n")
    store = llmtrail.open_store()
    try:
        assert store.database.endswith("dotenv.db")
    finally:
        store.close()


def test_memory_backend_warns_at_start(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AUDIT_TRAIL_BACKEND", "memory")
    with caplog.at_level(logging.WARNING):
        store = llmtrail.open_store()
    assert store.backend == "memory"
    assert any("lost on restart" in r.getMessage() for r in caplog.records)


def test_memory_backend_is_bounded() -> None:
    from llmtrail.store.memory import MemoryStore

    store = MemoryStore(max_entries=100)
    for i in range(1000):
        store.store({"messageId": f"m{i}", "model": "x"})
    assert len(store.all_trails()) <= 100
    assert store.get("m999") is not None and store.get("m0") is None
    assert store.evicted >= 900


def test_memory_entries_expire_lazily_without_threads() -> None:
    import threading
    from datetime import UTC, datetime, timedelta

    from llmtrail.store.memory import MemoryStore

    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    before = threading.active_count()
    store = MemoryStore(clock=lambda: now[0], retention_days=7)
    store.store({"messageId": "old", "model": "x"})
    assert threading.active_count() == before
    now[0] += timedelta(days=8)
    assert store.get("old") is None


def test_async_store_does_not_block_the_loop(tmp_path: Path) -> None:
    async def main() -> tuple[int, str | None]:
        astore = await llmtrail.open_async_store(f"sqlite:///{tmp_path}/a.db")
        ticks = 0
        stop = False

        async def ticker() -> None:
            nonlocal ticks
            while not stop:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        for i in range(50):
            await astore.store({"messageId": f"a{i}", "model": "x"}, project_id="p")
        await astore.update("a1", status="failed")
        got = await astore.get("a1")
        stop = True
        await task
        await astore.aclose()
        return ticks, got.status if got else None

    started = time.perf_counter()
    ticks, status = asyncio.run(main())
    assert status == "failed"
    assert ticks > 50, "the event loop was blocked while the store worked"
    assert time.perf_counter() - started < 60


def test_async_store_analytics(tmp_path: Path) -> None:
    async def main() -> object:
        astore = await llmtrail.open_async_store(f"sqlite:///{tmp_path}/an.db")
        await astore.store(
            {"messageId": "a", "model": "x", "cost": {"prompt": "0.1", "completion": "0.2"}},
            project_id="p",
        )
        result = await astore.analytics("p", days=7)
        await astore.aclose()
        return result

    result = asyncio.run(main())
    assert result.to_wire()["analytics"]["messageCount"] == 1  # type: ignore[attr-defined]


def test_in_memory_sqlite_url_works() -> None:
    store = llmtrail.open_store("sqlite:///:memory:")
    try:
        store.store({"messageId": "a", "model": "x"}, project_id="p")
        got = store.get("a")
        assert got is not None and got.model == "x"
        assert store.backend == "sqlite"
    finally:
        store.close()


def test_bad_settings_name_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIT_TRAIL_BACKEND", "bogus")
    monkeypatch.setenv("AUDIT_TRAIL_RETENTION_DAYS", "-3")
    with pytest.raises(llmtrail.ValidationError) as e:
        llmtrail.open_store()
    assert set(e.value.fields) == {"AUDIT_TRAIL_BACKEND", "AUDIT_TRAIL_RETENTION_DAYS"}
