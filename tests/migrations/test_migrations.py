"""The Alembic history produces exactly the models, on SQLite and PostgreSQL, safely."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import llmtrail
from llmtrail.errors import SchemaOutdatedError
from llmtrail.ledger.signing import Signer
from llmtrail.ledger.verify import verify_chain
from llmtrail.migrations import HEAD
from llmtrail.store.sql.dialects import make_engine, normalize_url
from llmtrail.store.sql.migrate import current_revision, head_revision, upgrade
from llmtrail.store.sql.schema import metadata

NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    make: Callable[..., str] = request.getfixturevalue("pg_database")
    return make(empty=True)


def test_migrated_schema_equals_the_models(empty_url: str) -> None:
    engine = make_engine(normalize_url(empty_url))
    try:
        upgrade(engine)
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), metadata
            )
        assert diff == []
    finally:
        engine.dispose()


def test_migrate_twice_is_a_no_op(empty_url: str) -> None:
    engine = make_engine(normalize_url(empty_url))
    try:
        assert upgrade(engine) == (None, head_revision())
        assert upgrade(engine) == (head_revision(), head_revision())
    finally:
        engine.dispose()


def test_concurrent_auto_migrations_are_safe(empty_url: str) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            llmtrail.open_store(empty_url).close()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    engine = make_engine(normalize_url(empty_url))
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_auto_migrate_off_fails_fast_on_an_old_schema(empty_url: str) -> None:
    with pytest.raises(SchemaOutdatedError, match="llmtrail migrate"):
        llmtrail.open_store(empty_url, auto_migrate=False)
    engine = make_engine(normalize_url(empty_url))
    try:
        assert current_revision(engine) is None  # nothing was created
    finally:
        engine.dispose()


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmtrail.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_cli_migrate_backs_up_first_and_is_idempotent(empty_url: str, tmp_path: Path) -> None:
    store = llmtrail.open_store(empty_url)  # migrated, with data worth backing up
    store.store({"messageId": "m1", "model": "x"}, project_id="p1")
    store.close()
    engine = make_engine(normalize_url(empty_url))
    with engine.begin() as conn:  # pretend the database is one revision behind
        conn.exec_driver_sql("DROP TABLE store_state")
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'behind'")
    engine.dispose()
    backups = tmp_path / "bk"
    # a revision unknown to this llmtrail must fail clearly rather than guess
    result = _cli("migrate", "--url", empty_url, "--backup-dir", str(backups))
    assert result.returncode != 0
    assert "behind" in result.stderr + result.stdout


def test_cli_backup_and_migrate(empty_url: str, tmp_path: Path) -> None:
    backups = tmp_path / "bk"
    first = _cli("migrate", "--url", empty_url, "--backup-dir", str(backups))
    assert first.returncode == 0, first.stderr
    assert "migrated: empty ->" in first.stdout
    second = _cli("migrate", "--url", empty_url, "--backup-dir", str(backups))
    assert second.returncode == 0 and "nothing to do" in second.stdout
    store = llmtrail.open_store(empty_url)
    store.store({"messageId": "m1", "model": "x"}, project_id="p1")
    store.close()
    taken = _cli("backup", "--url", empty_url, "--backup-dir", str(backups))
    assert taken.returncode == 0, taken.stderr
    files = sorted(p for p in backups.iterdir() if p.stat().st_size > 0)
    assert files, "no backup file written"
    if empty_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(files[-1]) as conn:
            assert conn.execute("select count(*) from audit_trails").fetchone() == (1,)
    else:
        listing = subprocess.run(
            ["pg_restore", "--list", str(files[-1])], capture_output=True, text=True, check=True
        )
        assert "audit_trails" in listing.stdout


def test_the_head_constant_is_alembics_head() -> None:
    """``open_store`` compares with ``llmtrail.migrations.HEAD`` instead of loading Alembic."""
    from llmtrail.migrations import HEAD
    from llmtrail.store.sql.migrate import alembic_head

    assert alembic_head() == HEAD


def test_opening_a_current_database_loads_no_migration_machinery(pg_url: str) -> None:
    """Serverless cold starts: a current schema costs one SELECT, not Alembic (issue 13)."""
    import subprocess
    import sys

    code = (
        "import sys, llmtrail\n"
        f"s = llmtrail.open_store({pg_url!r})\n"
        "s.store({'messageId': 'cold', 'model': 'm'}, 'p')\n"
        "s.close()\n"
        "print(sorted(m for m in ('alembic', 'fastapi', 'typer', 'uvicorn') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]", out.stderr


def test_0003_adds_provider_and_one_hour_writes_keeping_older_trails(empty_url: str) -> None:
    from sqlalchemy import text

    engine = make_engine(normalize_url(empty_url))
    try:
        upgrade(engine, "0002")
        with engine.begin() as conn:  # a trail written by a 0002 llmtrail
            conn.execute(text("INSERT INTO projects VALUES ('p', 'p', NULL, :t)"), {"t": NOW})
            conn.execute(
                text(
                    "INSERT INTO audit_trails (id, message_id, project_id, timestamp, model,"
                    " context_layers, prompt_tokens, completion_tokens, total_tokens,"
                    " cache_write_tokens, cost_prompt, cost_completion, cost_total,"
                    " cost_source, status, created_at, updated_at) VALUES ('i', 'old', 'p',"
                    " :t, 'gpt-4o', 0, 10, 1, 11, 5, 0, 0, 0, 'unpriced', 'completed', :t, :t)"
                ),
                {"t": NOW},
            )
        assert upgrade(engine) == ("0002", HEAD)
    finally:
        engine.dispose()
    with llmtrail.open_store(empty_url) as store:
        old = store.get("old")
        assert old is not None and old.provider is None
        assert old.tokens.cache_write == 5 and old.tokens.cache_write_1h is None
        new = store.store(
            {
                "messageId": "new",
                "model": "claude-sonnet-4-5",
                "provider": "anthropic",
                "tokens": {"prompt": 10, "completion": 1, "cacheWrite": 4, "cacheWrite1h": 3},
            },
            "p",
        )
        assert store.get("new") == new and new.provider == "anthropic"
        # migration 0005 recorded the trail it found ("adopt"): the ledger covers it
        assert [(e.op, e.message_id) for e in store.ledger_entries()] == [
            ("adopt", "old"),
            ("create", "new"),
        ]
        key = Signer.generate()
        store.seal(key)
        assert verify_chain(store, key).ok


def test_down_and_up_again_keep_every_project_trail_and_key(empty_url: str) -> None:
    """No migration may copy-and-move ``projects`` on SQLite: dropping the old table would
    cascade to every trail and key of it."""
    with llmtrail.open_store(empty_url) as store:
        store.store({"messageId": "kept", "model": "gpt-4o", "tokens": {"prompt": 5}}, "p")
        store.create_api_key("p")
    engine = make_engine(normalize_url(empty_url))
    try:
        from alembic import command

        from llmtrail.store.sql.migrate import alembic_config

        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0002")
        assert current_revision(engine) == "0002"
        upgrade(engine)
    finally:
        engine.dispose()
    with llmtrail.open_store(empty_url) as store:
        assert store.get("kept") is not None and len(store.list_api_keys("p")) == 1
        project = store.require_project("p")
        assert project.legal_hold is False and project.content_retention_days is None
        assert [e.op for e in store.ledger_entries()] == ["adopt"]
        assert verify_chain(store, Signer.generate()).ok
