"""Dual mode: every write to source and target; target outages never fail the caller and the
outbox brings the target up to date afterwards (a real PostgreSQL database made unavailable)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

import llmtrail
from llmtrail.metrics import DUAL_BACKLOG, REGISTRY
from llmtrail.store.dual import DualStore
from llmtrail.transfer import verify_stores
from tests.transfer.conftest import open_dual, pg_count, trail


def _wait(cond: Callable[[], bool], what: str, deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _backlog_metric() -> float:
    value = REGISTRY.get_sample_value("llmtrail_dual_outbox_backlog")
    return float(value or 0)


def test_writes_reach_both_sides_and_reads_switch(pg_url: str, tmp_path: Path) -> None:
    dual = open_dual(pg_url, "memory://", tmp_path / "outbox.db")
    assert isinstance(dual, DualStore) and dual.backend == "dual"
    try:
        dual.create_project("acme", name="Acme Inc.", retention_days=30)
        dual.store(trail(1, "acme", status="pending"))
        dual.store_many([trail(i, "acme") for i in range(2, 50)])
        dual.update("msg-0000001", status="completed", tokens={"prompt": 5, "completion": 7})
        record, secret = dual.create_api_key("acme")
        assert dual.backlog() == 0
        target = dual.target
        got = target.get("msg-0000001")
        assert got is not None and got.status == "completed" and got.tokens.total == 12
        assert got == dual.source.get("msg-0000001")  # same id, timestamps, everything
        project = target.get_project("acme")
        assert project is not None and project.name == "Acme Inc." and project.retention_days == 30
        auth = target.authenticate(secret)
        assert auth is not None and auth.id == record.id  # one secret works on both sides
        report = verify_stores(dual.source, target)
        assert report.ok, report.differences
        assert report.counts["acme"] == (49, 49)
    finally:
        dual.close()
    # Reads from the target once told to; writes still go to both.
    dual = open_dual(pg_url, "memory://", tmp_path / "outbox.db", dual_read="target")
    try:
        assert dual.get("msg-0000002") is not None  # only the target has it now
        dual.update("msg-0000002", cost={"prompt": "0.5", "completion": "0.25"})
        got = dual.target.get("msg-0000002")
        assert got is not None and got.cost is not None and got.cost.total == Decimal("0.75")
        # Keys of a project the restarted memory source no longer knows still work.
        assert dual.authenticate(secret) is not None
        dual.revoke_api_key("acme", record.id)
        assert dual.authenticate(secret) is None and dual.target.authenticate(secret) is None
        _new_record, new_secret = dual.create_api_key("acme")
        assert dual.target.authenticate(new_secret) is not None
    finally:
        dual.close()


@pytest.mark.slow
def test_target_outage_never_fails_callers_and_heals(
    pg_url: str,
    tmp_path: Path,
    block_database: Callable[[str, bool], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="llmtrail.store.dual")
    dual = open_dual(pg_url, "memory://", tmp_path / "outbox.db")
    assert isinstance(dual, DualStore)
    errors: list[BaseException] = []
    stop = threading.Event()
    written: list[int] = []

    def writer(offset: int) -> None:
        i = offset
        try:
            while not stop.is_set():
                dual.store(trail(i, status="pending"))
                dual.update(trail(i)["messageId"], status="completed", reasoning=[f"done {i}"])
                written.append(i)
                i += 4
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    try:
        threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        _wait(lambda: len(written) >= 100, "writes before the outage")
        block_database(pg_url, True)
        before = len(written)
        _wait(lambda: len(written) >= before + 300, "writes during the outage")
        assert dual.backlog() > 0
        assert _backlog_metric() > 0
        dual.create_project("during-outage", name="Made while the target was down")
        block_database(pg_url, False)
        _wait(lambda: len(written) >= before + 500, "writes after the outage")
        stop.set()
        for t in threads:
            t.join(30)
        assert not errors, errors[:3]
        _wait(lambda: dual.backlog() == 0, "the outbox to drain")
        assert _backlog_metric() == 0
        assert pg_count(pg_url) == len(written)
        report = verify_stores(dual.source, dual.target)
        assert report.ok, report.differences[:10]
        last = dual.target.get(trail(written[-1])["messageId"])
        assert last is not None and last.status == "completed"
        project = dual.target.get_project("during-outage")
        assert project is not None and project.name == "Made while the target was down"
        logged = caplog.text
        assert "recorded in the outbox, backlog=" in logged
        assert "outbox drained, the target is up to date" in logged
    finally:
        stop.set()
        dual.close()


def test_outbox_survives_a_restart_of_a_memory_source(
    pg_url: str, tmp_path: Path, block_database: Callable[[str, bool], None]
) -> None:
    outbox = tmp_path / "outbox.db"
    dual = open_dual(pg_url, "memory://", outbox)
    assert isinstance(dual, DualStore)
    dual.store(trail(0))
    block_database(pg_url, True)
    dual.store(trail(1, status="pending"))
    dual.update("msg-0000001", status="failed")
    dual.store_many([trail(i) for i in range(2, 10)])
    assert dual.backlog() >= 3
    dual.close()  # the process "restarts": the memory source forgets everything
    # The target is still down when the service starts again: it starts anyway.
    dual = open_dual(pg_url, "memory://", outbox)
    assert isinstance(dual, DualStore)
    try:
        dual.store(trail(10))
        assert dual.backlog() >= 4
        block_database(pg_url, False)
        _wait(lambda: dual.backlog() == 0, "the outbox to drain after the restart")
        target = llmtrail.open_store(pg_url)
        try:
            for i in range(11):
                assert target.get(trail(i)["messageId"]) is not None, i
            failed = target.get("msg-0000001")
            assert failed is not None and failed.status == "failed"  # update after insert
        finally:
            target.close()
    finally:
        dual.close()


def test_dual_from_sqlite_source(sqlite_url: str, pg_url: str, tmp_path: Path) -> None:
    dual = open_dual(pg_url, sqlite_url, tmp_path / "outbox.db")
    assert isinstance(dual, DualStore)
    try:
        dual.store_many([trail(i) for i in range(30)])
        assert dual.cleanup(days_old=36_500) == 0
        dual.delete_project("proj-1")
        assert dual.get_project("proj-1") is None and dual.target.get_project("proj-1") is None
        report = verify_stores(dual.source, dual.target)
        assert report.ok and report.source_total == 20
    finally:
        dual.close()


def test_dual_requires_a_source_url(pg_url: str) -> None:
    from llmtrail.config import load_settings

    with pytest.raises(llmtrail.ValidationError) as e:
        llmtrail.open_store(settings=load_settings(backend="dual", DATABASE_URL=pg_url))
    assert e.value.fields == ["AUDIT_TRAIL_DUAL_SOURCE_URL"]
    assert DUAL_BACKLOG is not None


def test_outbox_command_shows_and_drains_the_backlog(
    pg_url: str, tmp_path: Path, block_database: Callable[[str, bool], None]
) -> None:
    import subprocess

    from tests.transfer.conftest import CLI, cli_env

    outbox = tmp_path / "outbox.db"
    dual = open_dual(pg_url, "memory://", outbox)
    block_database(pg_url, True)
    dual.store_many([trail(i) for i in range(25)])
    dual.close()  # the service goes away with writes still waiting
    env = cli_env()
    shown = subprocess.run(
        [*CLI, "outbox", "--path", str(outbox)], env=env, capture_output=True, text=True
    )
    assert shown.returncode == 1 and "waiting, 0 given up" in shown.stdout
    assert " 0 waiting" not in shown.stdout
    block_database(pg_url, False)
    drained = subprocess.run(
        [*CLI, "outbox", "--path", str(outbox), "--replay", "--url", pg_url],
        env=env,
        capture_output=True,
        text=True,
    )
    assert drained.returncode == 0, drained.stderr
    assert "0 waiting, 0 given up" in drained.stdout
    assert pg_count(pg_url) == 25
